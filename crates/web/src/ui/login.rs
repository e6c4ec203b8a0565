//! The login screen: log in, register, or enter as a visitor.

use confab_client::Auth;
use leptos::html;

use super::*;

#[component]
pub(super) fn Login(ui: Ui) -> impl IntoView {
    let user: NodeRef<html::Input> = NodeRef::new();
    let password: NodeRef<html::Input> = NodeRef::new();
    // A fresh server's setup link: `…/#setup=CODE`.
    let setup = document()
        .location()
        .and_then(|l| l.hash().ok())
        .and_then(|h| h.strip_prefix("#setup=").map(str::to_owned))
        .filter(|c| !c.is_empty());
    let setting_up = setup.is_some();
    let setup = StoredValue::new(setup);
    let submit = move |how: &str| {
        let name = user.get().map(|i| i.value()).unwrap_or_default();
        let pass = password.get().map(|i| i.value()).unwrap_or_default();
        let auth = match how {
            "visitor" => Auth::Visitor,
            _ if name.trim().is_empty() => {
                ui.login_error
                    .set(Some("Enter a user name (or enter as a visitor).".into()));
                return;
            }
            _ if pass.is_empty() => {
                ui.login_error.set(Some("Enter a password.".into()));
                return;
            }
            "register" | "setup" => Auth::Register {
                username: name.trim().to_owned(),
                password: pass,
                invite: None,
                setup: (how == "setup").then(|| setup.get_value()).flatten(),
            },
            _ => Auth::Login {
                username: name.trim().to_owned(),
                password: pass,
            },
        };
        ui.login_error.set(None);
        ui.login_busy.set(true);
        act(|c| {
            c.set_auth(auth, now_ms());
            c.retry_now(now_ms());
        });
    };
    view! {
        <main class="login">
            <form
                aria-labelledby="login-title"
                on:submit=move |e: ev::SubmitEvent| {
                    e.prevent_default();
                    submit("login");
                }
            >
                <h1 id="login-title">"Confab"</h1>
                <p class="muted">{move || document().location().and_then(|l| l.host().ok()).unwrap_or_default()}</p>
                <Show when=move || setting_up>
                    <p id="setup-note" class="setup-note">"Set up this server: choose a name and a password for its first admin, then press “Create the admin account”. The code in this link works once."</p>
                </Show>
                <label>"User name" <input node_ref=user id="username" name="username" autocomplete="username" required/></label>
                <label>"Password" <input node_ref=password id="password" name="password" type="password" autocomplete="current-password"/></label>
                <div class="buttons">
                    <Show when=move || setting_up>
                        <button type="button" id="setup" class="primary" on:click=move |_| submit("setup")>"Create the admin account"</button>
                    </Show>
                    <button type="submit" id="login" class:primary=move || !setting_up>"Log in"</button>
                    <button type="button" id="register" on:click=move |_| submit("register")>"Register"</button>
                    <button type="button" id="visitor" on:click=move |_| submit("visitor")>"Enter as a visitor"</button>
                </div>
                <p class="error" role="alert">{move || ui.login_error.get()}</p>
                <p class="muted" aria-live="polite">{move || {
                    ui.tick.track();
                    ui.now.track();
                    ui.login_busy.get().then(|| connection_text(ui))
                }}</p>
            </form>
        </main>
    }
}
