//! The browser client in a real headless Chromium (Debian's chromium and
//! chromium-driver), served by a real server, against real users.

use std::path::PathBuf;

use confab_testkit::browser::{Browser, Chromedriver, Key};
use confab_testkit::tmux::Tmux;
use confab_testkit::{TestServer, Transport};
use serde_json::json;

fn enter() -> String {
    char::from(Key::Enter).to_string()
}

fn tab() -> String {
    char::from(Key::Tab).to_string()
}

/// Where screenshots go: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-artifacts")
}

/// `confab chat` in a real terminal, registered as `name`.
async fn terminal_registered(server: &TestServer, name: &str) -> (Tmux, tempfile::TempDir) {
    Tmux::chat_registered(env!("CARGO_BIN_EXE_confab"), server, name).await
}

async fn say(b: &Browser, text: &str) {
    b.type_into("#composer", &format!("{text}{}", enter()))
        .await;
}

#[tokio::test]
async fn two_browsers_chat_with_emoji_and_dms_and_a_visitor_only_reads() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1200, 800).await;
    let bob = Browser::open(&driver, 1200, 800).await;

    ann.register(&server, "ann").await;
    ann.create_channel("general").await;
    bob.register(&server, "bob").await;
    bob.join_channel("general").await;

    // Shortcodes become emoji when sent.
    say(&ann, "hello bob :tada:").await;
    bob.wait_text("#messages", "hello bob 🎉").await;
    assert!(bob.text("#messages .group .sender").await.contains("ann"));
    say(&bob, "hi ann").await;
    ann.wait_text("#messages", "hi ann").await;
    // The member list shows both, online.
    ann.wait_text("#member-list", "bob").await;
    let online = ann.texts("#member-list .dot.online").await.len();
    assert_eq!(online, 2, "{}", ann.page_text().await);

    // `:smil` offers completions; Tab takes the first.
    ann.type_into("#composer", ":smil").await;
    ann.wait_text("#suggestions", ":smile:").await;
    ann.type_into("#composer", &tab()).await;
    let value = ann
        .js("return document.querySelector('#composer').value")
        .await;
    assert_eq!(value, json!("😄 "));
    ann.type_into("#composer", &enter()).await;
    bob.wait_text("#messages", "😄").await;

    // A DM by clicking a name; it arrives with an unread badge.
    bob.wait_text("#member-list", "ann").await;
    bob.click_text("#member-list button", "ann").await;
    bob.wait_text("#conv-title", "@ann").await;
    say(&bob, "psst, just you").await;
    let dms = ann.wait_text("#dms", "@bob").await;
    ann.wait_text("#dms .badge", "1").await;
    assert!(dms.contains("@bob"), "{dms}");
    ann.click_text("#dms button", "@bob").await;
    ann.wait_text("#messages", "psst, just you").await;
    ann.wait_gone("#dms .badge").await;

    // The emoji picker: search, pick, and it is remembered as recently used.
    ann.click("#emoji-button").await;
    ann.wait_for("#emoji-picker").await;
    ann.type_into("#emoji-search", "thumbs up").await;
    ann.wait_text("#emoji-picker .grid", "👍").await;
    ann.click("#emoji-picker .grid button.emoji").await;
    let value = ann
        .js("return document.querySelector('#composer').value")
        .await;
    assert_eq!(value, json!("👍"));
    ann.type_into("#composer", &enter()).await;
    bob.wait_text("#messages", "👍").await;
    ann.js("document.querySelector('#emoji-search').value = ''; document.querySelector('#emoji-search').dispatchEvent(new Event('input'))").await;
    ann.click("#emoji-picker [aria-label='Recently used']")
        .await;
    ann.wait_text("#emoji-picker .grid", "👍").await;
    ann.click("#emoji-button").await;
    ann.wait_gone("#emoji-picker").await;

    // A visitor reads a public channel and cannot write.
    let carol = Browser::open(&driver, 1200, 800).await;
    carol.goto(&format!("http://{}/", server.http)).await;
    carol.click("#visitor").await;
    carol.wait_text(".topbar .status", "Connected").await;
    carol.join_channel("general").await;
    carol.wait_text("#messages", "hello bob 🎉").await;
    carol.wait_for("#visitor-note").await;
    assert!(
        carol.texts("#composer").await.is_empty(),
        "no message box for a visitor"
    );
    // The server refuses a visitor's message too, whatever the page does.
    let mut visitor = server.connect(Transport::Ws).await;
    visitor
        .ok(json!({"type": "hello", "protocol": 1, "client": "test"}))
        .await;
    visitor.ok(json!({"type": "visitor"})).await;
    let conv = visitor.join("general").await;
    let (code, _) = visitor
        .err(json!({"type": "send", "conv": conv, "text": "sneaky"}))
        .await;
    assert_eq!(code, "forbidden");

    // Themes: the main view, light and dark, saved for people to look at.
    // The keyboard: Alt+↑ goes to the conversation above (from @bob to #general).
    let alt_up: String = [Key::Alt, Key::Up, Key::Null]
        .into_iter()
        .map(char::from)
        .collect();
    ann.type_into("#composer", &alt_up).await;
    ann.wait_text("#conv-title", "#general").await;
    let bg = "return getComputedStyle(document.body).backgroundColor";
    ann.click("#theme").await; // as the system → light
    assert_eq!(
        ann.js("return document.documentElement.dataset.theme")
            .await,
        json!("light")
    );
    let light = ann.js(bg).await;
    ann.screenshot(&artifacts().join("web-light.png")).await;
    ann.click("#theme").await; // → dark
    assert_eq!(
        ann.js("return document.documentElement.dataset.theme")
            .await,
        json!("dark")
    );
    let dark = ann.js(bg).await;
    assert_ne!(light, dark, "the dark theme changes the colours");
    ann.screenshot(&artifacts().join("web-dark.png")).await;
    // The choice survives a reload.
    ann.reload().await;
    ann.wait_text(".topbar .status", "Connected").await;
    assert_eq!(
        ann.js("return document.documentElement.dataset.theme")
            .await,
        json!("dark")
    );

    // At phone width the conversation list folds behind a button.
    ann.client.set_window_size(390, 800).await.unwrap();
    let sidebar_shown =
        "return getComputedStyle(document.querySelector('.sidebar')).display !== 'none'";
    ann.wait_for("#messages").await;
    assert_eq!(ann.js(sidebar_shown).await, json!(false));
    ann.click(".topbar button[aria-label='Conversations']")
        .await;
    assert_eq!(ann.js(sidebar_shown).await, json!(true));
    ann.screenshot(&artifacts().join("web-phone.png")).await;
}

#[tokio::test]
async fn a_browser_and_the_terminal_client_chat() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let (tui, _home) = terminal_registered(&server, "ann").await;
    tui.type_text("/create #lobby");
    tui.press(&["Enter"]);
    tui.wait_for("You are in #lobby").await;

    let bob = Browser::open(&driver, 1200, 800).await;
    bob.register(&server, "bob").await;
    bob.join_channel("lobby").await;
    say(&bob, "hello from a browser :wave:").await;
    tui.wait_for("bob hello from a browser 👋").await;
    tui.type_text("and hello from a terminal");
    tui.press(&["Enter"]);
    bob.wait_text("#messages", "and hello from a terminal")
        .await;
}

#[tokio::test]
async fn written_offline_sent_once_after_a_restart_and_readable_after_an_offline_reload() {
    let server = TestServer::start().await;
    let (tcp, http) = (server.tcp, server.http);
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    ann.create_channel("general").await;
    say(&ann, "before the outage").await;
    ann.wait_text("#messages", "before the outage").await;
    let conv = {
        let mut bob = server.user(Transport::Tls, "bob").await;
        bob.join("general").await
    };
    // The page itself is kept by the service worker once it controls the page.
    ann.wait_js(
        "the service worker to control the page",
        "return navigator.serviceWorker.controller !== null",
    )
    .await;

    let dir = server.stop().await;
    ann.wait_for("#offline-banner").await;
    for text in ["one", "two", "three"] {
        say(&ann, text).await;
    }
    ann.wait_text("#offline-banner", "3 messages will be sent")
        .await;
    assert_eq!(ann.texts("#messages .msg.pending").await.len(), 3);

    // Reloaded with the server down: the page, the history and the outbox
    // come from the browser.
    ann.reload().await;
    ann.wait_text("#messages", "before the outage").await;
    ann.wait_for("#offline-banner").await;
    let pending: Vec<String> = ann
        .texts("#messages .msg.pending")
        .await
        .into_iter()
        .map(|t| t.trim().to_owned())
        .collect();
    assert_eq!(pending, ["one", "two", "three"]);
    // Each with its mark, drawn (not a glyph a font may lack).
    assert_eq!(
        ann.js(
            "return document.querySelectorAll('#messages .msg.pending .pending-mark svg').length"
        )
        .await,
        json!(3)
    );

    let server = TestServer::start_in(dir, |c| {
        c.tcp = tcp;
        c.http = http;
    })
    .await;
    ann.wait_gone("#offline-banner").await;
    ann.wait_gone("#messages .msg.pending").await;
    let (mut bob, _) = server.login(Transport::Tls, "bob").await;
    let page = bob
        .ok(json!({"type": "history", "conv": conv, "limit": 50}))
        .await;
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["before the outage", "one", "two", "three"],
        "each stored once, in order"
    );
    ann.wait_text("#messages", "three").await;
    let shown = ann.text("#messages").await;
    assert_eq!(shown.matches("two").count(), 1, "{shown}");
}

#[tokio::test]
async fn scrolling_back_loads_older_messages_and_keeps_the_place() {
    let server = TestServer::start().await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = bob.create("history", false).await;
    for i in 1..=200 {
        bob.say(conv, &format!("message number {i}")).await;
    }
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1000, 700).await;
    ann.register(&server, "ann").await;
    ann.join_channel("history").await;
    ann.wait_text("#messages", "message number 200").await;

    // Where a message sits in the visible part of the list (px from its top).
    let place = |n: u32| {
        format!(
            "const s = document.querySelector('#messages');
             const p = [...s.querySelectorAll('.msg')].find(e => e.innerText === 'message number {n}');
             return p ? p.getBoundingClientRect().top - s.getBoundingClientRect().top : null;"
        )
    };
    let first_shown = ann
        .js("const t = document.querySelector('#messages .msg').innerText; return parseInt(t.split(' ').pop())")
        .await
        .as_u64()
        .expect("a first message");
    assert!(first_shown > 1, "only the newest page at first");

    // Scrolled to the top, the page before arrives, and what was at the
    // top stays where it was.
    ann.js("document.querySelector('#messages').scrollTop = 0")
        .await;
    ann.wait_text("#messages", &format!("message number {}", first_shown - 1))
        .await;
    let kept = ann
        .js(&place(first_shown as u32))
        .await
        .as_f64()
        .expect("still there");
    assert!(
        (-5.0..200.0).contains(&kept),
        "message {first_shown} stayed near the top of the view: {kept}px"
    );

    // All the way back.
    ann.wait_js(
        "the beginning of the conversation",
        "const s = document.querySelector('#messages'); s.scrollTop = 0;
         return s.innerText.includes('This is the beginning of the conversation.')",
    )
    .await;
    let all = ann.texts("#messages .msg").await;
    assert_eq!(all.len(), 200, "every message once");
    assert_eq!(all[0], "message number 1");
}

#[tokio::test]
async fn private_channels_invitations_presence_and_account_settings() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1200, 800).await;
    let bob = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    bob.register(&server, "bob").await;
    ann.create_channel("general").await;
    bob.join_channel("general").await;
    bob.wait_text("#member-list", "ann").await;

    // The server's refusals are shown as it words them.
    bob.click("#join-channel").await;
    bob.type_into("#join-name", "nowhere").await;
    bob.click("#join").await;
    bob.wait_text(".dialog .error", "no channel named `nowhere`")
        .await;
    bob.type_into("#join-name", &char::from(Key::Escape).to_string())
        .await;
    bob.wait_gone(".dialog").await;

    // A private channel, and an invitation to it.
    ann.click("#create-channel").await;
    ann.type_into("#new-channel-name", "secret").await;
    ann.click("#new-channel-private").await;
    ann.click("#create").await;
    ann.wait_text("#conv-title", "#secret").await;
    ann.click("#invite").await;
    ann.type_into("#invite-user", "bob").await;
    ann.click(".dialog button.primary").await;
    ann.wait_text(".notice", "bob can now read and write in #secret")
        .await;
    bob.wait_text("#channels", "#secret").await;
    bob.wait_text(".notice", "ann invited you to #secret").await;

    // Leaving takes it out of the list.
    bob.click_text("#channels button", "#secret").await;
    bob.wait_text("#conv-title", "#secret").await;
    bob.click("#leave").await;
    bob.wait_text(".notice", "You left #secret").await;
    bob.wait_js(
        "#secret to leave the list",
        "return !document.querySelector('#channels').innerText.includes('#secret')",
    )
    .await;

    // Invisible: bob sees ann offline.
    bob.click_text("#channels button", "#general").await;
    bob.wait_text("#conv-title", "#general").await;
    let ann_online = "return [...document.querySelectorAll('#member-list button')].find(b => b.innerText.includes('ann')).querySelector('.dot').classList.contains('online')";
    assert_eq!(bob.js(ann_online).await, json!(true));
    ann.click("#invisible").await;
    ann.wait_text(".notice", "You are invisible").await;
    bob.wait_js(
        "ann to be shown offline",
        &ann_online.replace("return ", "return !"),
    )
    .await;

    // Change the password, log out, log in with the new one.
    ann.click("#passwd").await;
    ann.type_into(
        ".dialog input[autocomplete='current-password']",
        "ann's password",
    )
    .await;
    ann.type_into_all(
        ".dialog input[autocomplete='new-password']",
        "a new password",
    )
    .await;
    ann.click(".dialog button.primary").await;
    ann.wait_text(".notice", "Password changed").await;
    ann.click("#logout").await;
    ann.wait_text(".login .error", "You are logged out.").await;
    ann.type_into("#username", "ann").await;
    ann.type_into("#password", "ann's password").await;
    ann.click("#login").await;
    ann.wait_text(".login .error", "wrong user name or password")
        .await;
    ann.js("document.querySelector('#password').value = ''")
        .await;
    ann.type_into("#password", "a new password").await;
    ann.click("#login").await;
    ann.wait_text(".topbar .status", "Connected").await;
    ann.wait_text("#channels", "#general").await;
}

/// Whether the member or friend row with `name` under `list` shows online.
fn dot_online(list: &str, name: &str) -> String {
    format!(
        "const b = [...document.querySelectorAll('{list} li')].find(b => b.innerText.includes('{name}'));
         return !!b && b.querySelector('.dot').classList.contains('online')"
    )
}

#[tokio::test]
async fn friends_blocks_groups_and_typing_in_the_browser() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1200, 800).await;
    let bob = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    bob.register(&server, "bob").await;
    // Cat registers and goes away: she is offline throughout the requests.
    drop(server.user(Transport::Tls, "cat").await);

    // Ann asks bob (online) and cat (offline) from the friends dialog.
    ann.click("#friends-button").await;
    ann.type_into("#friend-name", &format!("bob{}", enter()))
        .await;
    ann.wait_text(".notice", "Asked bob to be your friend")
        .await;
    ann.type_into("#friend-name", &format!("cat{}", enter()))
        .await;
    ann.wait_text("#outgoing", "cat").await;
    ann.wait_text("#outgoing", "bob").await;
    ann.type_into("#friend-name", &char::from(Key::Escape).to_string())
        .await;
    ann.wait_gone(".dialog").await;

    // Bob sees the request arrive, and accepts it.
    bob.wait_text("#requests-badge", "1").await;
    bob.wait_text(".notice", "ann asks to be your friend").await;
    bob.click("#friends-button").await;
    bob.wait_text("#incoming", "ann").await;
    bob.click_text("#incoming button", "Accept").await;
    bob.wait_text("#friend-list", "ann").await;
    bob.wait_gone("#requests-badge").await;
    bob.wait_js("ann shown online", &dot_online("#friend-list", "ann"))
        .await;
    bob.click_text(".dialog button", "Close").await;
    // Ann's sidebar lists bob, online, live.
    ann.wait_text("#friends", "bob").await;
    ann.wait_js("bob shown online", &dot_online("#friends", "bob"))
        .await;

    // Cat comes back and accepts: it reaches ann as it happens.
    let (mut cat, _) = server.login(Transport::Tls, "cat").await;
    cat.ok(json!({"type": "friend_accept", "user": "ann"}))
        .await;
    ann.wait_text("#friends", "cat").await;
    ann.wait_text(".notice", "cat accepted").await;
    cat.ok(json!({"type": "friend_request", "user": "bob"}))
        .await;
    bob.click("#friends-button").await;
    bob.click_text("#incoming button", "Accept").await;
    bob.wait_text("#friend-list", "cat").await;
    bob.click_text(".dialog button", "Close").await;

    // A group with a friend; the log says who made it, live for both.
    ann.click("#new-group").await;
    ann.type_into("#group-name", "Trip to Lyon").await;
    ann.click("#pick-friends input[value='bob']").await;
    ann.click("#group-create").await;
    ann.wait_text("#groups", "&Trip to Lyon").await;
    ann.wait_text("#conv-title", "&Trip to Lyon").await;
    ann.wait_text("#messages .event", "ann created “Trip to Lyon” with bob")
        .await;
    ann.wait_text("#member-list", "ann (you) (owner)").await;
    bob.wait_text("#groups", "&Trip to Lyon").await;
    bob.wait_text(".notice", "ann added you to “Trip to Lyon”")
        .await;
    bob.click_text("#groups button", "Trip to Lyon").await;
    bob.wait_text("#messages .event", "ann created").await;

    // Bob types: ann sees it. Then he writes.
    bob.type_into("#composer", "hel").await;
    ann.wait_text(".typing", "bob is typing…").await;
    bob.type_into("#composer", &format!("lo all{}", enter()))
        .await;
    ann.wait_text("#messages", "hello all").await;
    ann.wait_js(
        "the typing line to clear",
        "return document.querySelector('.typing').innerText === ''",
    )
    .await;

    // Bob adds his friend cat (a member may), and renames the group.
    bob.click("#group-add").await;
    bob.click("#pick-friends input[value='cat']").await;
    bob.click("#group-add-submit").await;
    ann.wait_text("#messages .event", "bob added cat").await;
    let added = cat.event("group_added").await;
    assert_eq!(added["group"]["name"], "Trip to Lyon");
    bob.click("#group-rename").await;
    bob.js("document.querySelector('#group-new-name').value = ''")
        .await;
    bob.type_into("#group-new-name", &format!("Lyon{}", enter()))
        .await;
    ann.wait_text("#groups", "&Lyon").await;
    ann.wait_text("#conv-title", "&Lyon").await;
    ann.wait_text("#messages .event", "bob renamed the group to “Lyon”")
        .await;

    // The owner decides only she adds people: bob's button goes.
    ann.click("#group-owner-only").await;
    bob.wait_text("#messages .event", "made adding people the owner's choice")
        .await;
    bob.wait_gone("#group-add").await;

    // Bob leaves; ann sees it, and the member list follows.
    bob.click("#group-leave").await;
    ann.wait_text("#messages .event", "bob left").await;
    bob.wait_js(
        "the group to leave bob's list",
        "return !document.querySelector('#groups').innerText.includes('Lyon')",
    )
    .await;
    ann.wait_js(
        "bob to leave the member list",
        "return !document.querySelector('#member-list').innerText.includes('bob')",
    )
    .await;

    // Ann blocks cat: cat's direct message is answered as sent, and ann
    // sees nothing of it.
    ann.click("#friends-button").await;
    ann.wait_text("#friend-list", "cat").await;
    ann.js("[...document.querySelectorAll('#friend-list li')].find(l => l.innerText.includes('cat')).querySelectorAll('button')[2].click()")
        .await;
    ann.wait_text("#blocked", "cat").await;
    ann.click_text(".dialog button", "Close").await;
    let sent = cat
        .ok(json!({"type": "dm_send", "user": "ann", "text": "can you hear me"}))
        .await;
    assert_eq!(sent["message"]["text"], "can you hear me");
    assert!(!ann.page_text().await.contains("can you hear me"));
    ann.click("#friends-button").await;
    ann.click_text("#blocked button", "Unblock").await;
    ann.wait_gone("#blocked").await;
}

#[tokio::test]
async fn direct_messages_show_presence_drafts_stay_and_long_messages_are_kept() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1200, 800).await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    ann.register(&server, "ann").await;
    ann.create_channel("general").await;
    bob.join("general").await;

    // Regression: in a DM the other person was always shown offline.
    ann.wait_text("#member-list", "bob").await;
    ann.click_text("#member-list button", "bob").await;
    ann.wait_text("#conv-title", "@bob").await;
    say(&ann, "are you there?").await;
    bob.event("message").await;
    ann.wait_text("#dms", "@bob").await;
    ann.wait_js(
        "bob shown online in the DM",
        &dot_online("#member-list", "bob"),
    )
    .await;
    bob.ok(json!({"type": "set_status", "invisible": true}))
        .await;
    ann.wait_js(
        "bob shown offline once invisible",
        &dot_online("#member-list", "bob").replace("return !!b &&", "return !!b && !"),
    )
    .await;

    // Regression: a half-written message followed you to the next
    // conversation. Each keeps its own draft.
    ann.type_into("#composer", "half a thought").await;
    ann.click_text("#channels button", "#general").await;
    ann.wait_text("#conv-title", "#general").await;
    let value = "return document.querySelector('#composer').value";
    assert_eq!(ann.js(value).await, json!(""));
    ann.type_into("#composer", "for general").await;
    ann.click_text("#dms button", "@bob").await;
    ann.wait_text("#conv-title", "@bob").await;
    assert_eq!(ann.js(value).await, json!("half a thought"));
    ann.click_text("#channels button", "#general").await;
    ann.wait_js(
        "general's draft",
        "return document.querySelector('#composer').value === 'for general'",
    )
    .await;

    // Regression: a message over the limit vanished from the composer.
    ann.js("const c = document.querySelector('#composer'); c.value = 'x'.repeat(4001); c.dispatchEvent(new Event('input'))")
        .await;
    ann.type_into("#composer", &enter()).await;
    ann.wait_text(".notice", "4001 characters long; the limit is 4000")
        .await;
    assert_eq!(
        ann.js("return document.querySelector('#composer').value.length")
            .await,
        json!(4001),
        "the text is kept to shorten"
    );
}

/// Regression: after a burst of live messages, scrolling back stopped
/// until the page was reloaded. (When the cache held exactly a multiple of
/// the page of 100, asking the cache for more changed nothing on screen,
/// and the place kept for the older page was never let go.)
#[tokio::test]
async fn scrolling_back_works_after_a_burst_of_live_messages() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1000, 700).await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = bob.create("burst", false).await;
    for i in 1..=150 {
        bob.say(conv, &format!("message {i}")).await;
    }
    ann.register(&server, "ann").await;
    ann.join_channel("burst").await;
    ann.wait_text("#messages", "message 150").await;
    // Joining fetched the newest 50; 150 more arrive live: the cache holds
    // 101 to 300, two pages exactly.
    for i in 151..=300 {
        bob.say(conv, &format!("message {i}")).await;
    }
    ann.wait_text("#messages", "message 300").await;
    ann.wait_js(
        "the beginning of the conversation",
        "const s = document.querySelector('#messages'); s.scrollTop = 0;
         return s.innerText.includes('This is the beginning of the conversation.')",
    )
    .await;
    let all = ann.texts("#messages .msg").await;
    assert_eq!(all.len(), 300, "every message once");
    assert_eq!(all[0], "message 1");
}

/// The admin panel in a real browser: only an admin sees it; it lists
/// accounts and disables one (who is disconnected); its message chart moves
/// while messages flow; the audit log shows what was done.
#[tokio::test]
async fn the_admin_panel_manages_accounts_and_its_charts_move_when_messages_flow() {
    let server = TestServer::start().await;
    confab_server::services::accounts::create_user(
        &**server.handle.store(),
        &confab_proto::Limits::default(),
        "root",
        "root's password".into(),
        confab_proto::Role::Admin,
    )
    .await
    .unwrap();
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let general = bob.create("general", false).await;

    let driver = Chromedriver::start().await;
    let b = Browser::open(&driver, 1280, 900).await;
    // A member has no Admin button.
    b.register(&server, "carol").await;
    assert!(
        b.js("return document.querySelector('#admin') === null")
            .await
            == true
    );
    b.click("#logout").await;
    b.wait_for("#login").await;
    b.type_into("#username", "root").await;
    b.type_into("#password", "root's password").await;
    b.click("#login").await;
    b.wait_text(".topbar .status", "Connected").await;

    b.click("#admin").await;
    b.wait_text("#admin-users", "alice").await;
    let row = "#admin-users tr[data-user='alice']";
    b.wait_text(row, "online").await;
    b.click(&format!("{row} .disable")).await;
    b.wait_text(row, "disabled").await;
    let last = alice.closed().await;
    assert!(
        last.iter()
            .any(|v| v["text"] == "an admin disabled your account"),
        "{last:?}"
    );

    // Statistics: messages flow, and the messages-per-second chart moves.
    b.click("#admin-tab-stats").await;
    b.wait_for("#chart-messages").await;
    let sender = tokio::spawn(async move {
        // Each send waits for its acknowledgement: a steady flow until
        // the chart has seen it.
        for i in 0.. {
            bob.say(general, &format!("tick {i}")).await;
        }
    });
    b.wait_js(
        "the messages chart shows a rate above zero",
        "const v = document.querySelector('#chart-messages .value');
         const line = document.querySelector('#chart-messages polyline');
         return !!v && parseFloat(v.textContent) > 0
             && line.getAttribute('points').split(' ').length >= 2;",
    )
    .await;
    sender.abort();
    b.screenshot(&artifacts().join("admin-stats.png")).await;

    b.click("#admin-tab-audit").await;
    b.wait_text("#admin-audit", "user_disable").await;
    let audit = b.text("#admin-audit").await;
    assert!(audit.contains("root") && audit.contains("alice"), "{audit}");
}

/// Clicks a message's action button (shown on hover or focus) by script.
async fn message_action(b: &Browser, text: &str, button: &str) {
    b.wait_text("#messages", text).await;
    let script = format!(
        "const m = [...document.querySelectorAll('#messages .msg')].find(m => m.innerText.includes({}));
         if (!m) return false;
         m.querySelector({}).click();
         return true;",
        json!(text),
        json!(button)
    );
    assert_eq!(b.js(&script).await, json!(true), "no message with {text}");
}

async fn log_in(b: &Browser, server: &TestServer, name: &str) {
    b.goto(&format!("http://{}/", server.http)).await;
    b.type_into("#username", name).await;
    b.type_into("#password", &format!("{name}'s password"))
        .await;
    b.click("#login").await;
    b.wait_text(".topbar .status", "Connected").await;
}

#[tokio::test]
async fn reactions_replies_edits_deletes_topics_search_and_read_positions_in_the_browser() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1200, 800).await;
    let bob = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    ann.create_channel("general").await;
    bob.register(&server, "bob").await;
    bob.join_channel("general").await;
    say(&bob, "lunch at noon?").await;

    // A reaction from the message's toolbar, live for the other.
    message_action(&ann, "lunch at noon?", ".react-button").await;
    ann.wait_for(".react-bar").await;
    ann.click(".react-bar button[aria-label='👍']").await;
    bob.wait_text("#messages .reaction", "👍 1").await;
    assert_eq!(
        bob.js("return document.querySelector('#messages .reaction').title")
            .await,
        json!("ann")
    );
    // Bob adds his: two, and his chip is marked as his.
    bob.click("#messages .reaction").await;
    ann.wait_text("#messages .reaction", "👍 2").await;
    bob.wait_for("#messages .reaction.mine").await;

    // A reply quotes what it answers.
    message_action(&ann, "lunch at noon?", ".reply-button").await;
    ann.wait_text("#composing", "Replying to message 1").await;
    say(&ann, "yes, by the fountain").await;
    bob.wait_text("#messages .quote", "↳ bob: lunch at noon?")
        .await;
    ann.wait_gone("#composing").await;

    // Bob edits his message with its button; everyone sees the new text.
    message_action(&bob, "lunch at noon?", ".edit-button").await;
    bob.wait_text("#composing", "Editing message 1").await;
    bob.type_into("#composer", " (or one)").await;
    bob.type_into("#composer", &enter()).await;
    ann.wait_text("#messages", "lunch at noon? (or one)").await;
    ann.wait_text("#messages .edited", "(edited)").await;
    ann.wait_text("#messages .quote", "↳ bob: lunch at noon? (or one)")
        .await;

    // Slash commands work in the browser's composer, not sent as text.
    say(&ann, "/topic Plans for Friday").await;
    bob.wait_text("#conv-topic", "Plans for Friday").await;
    bob.wait_text("#messages", "ann set the topic to “Plans for Friday”")
        .await;
    say(&bob, "/me waves").await;
    ann.wait_text("#messages em", "waves").await;
    // (Without a number: the newest message, here his own.)
    say(&bob, "/react :tada:").await;
    ann.wait_text("#messages", "🎉 1").await;
    say(&bob, "/frobnicate").await;
    bob.wait_text(".notice.error", "unknown command /frobnicate")
        .await;
    assert!(!ann.page_text().await.contains("frobnicate"));
    // The line stays to be fixed; clear it.
    let kept = bob
        .js("return document.querySelector('#composer').value")
        .await;
    assert_eq!(kept, json!("/frobnicate"));
    bob.js("const c = document.querySelector('#composer'); c.value = ''; c.dispatchEvent(new Event('input'))")
        .await;

    // Ann deletes her reply: a "message deleted" line remains.
    ann.js("window.confirm = () => true").await;
    message_action(&ann, "yes, by the fountain", ".delete-button").await;
    bob.wait_text("#messages .msg.deleted", "message deleted")
        .await;
    assert!(!bob.page_text().await.contains("by the fountain"));

    // Search: a private channel bob is not in never shows for him.
    create_channel_private(&ann, "secret").await;
    say(&ann, "the secret lunch plan").await;
    bob.type_into("#search", &format!("lunch{}", enter())).await;
    let results = bob.wait_text("#search-results", "lunch at noon").await;
    assert!(!results.contains("secret"), "{results}");
    bob.click_text(".dialog button", "Close").await;
    bob.wait_gone(".dialog").await;
    ann.type_into("#search", &format!("lunch{}", enter())).await;
    ann.wait_text("#search-results", "#secret").await;
    ann.click_text("#search-results button", "#general").await;
    ann.wait_for("#messages .msg.highlight").await;
    ann.wait_text("#conv-title", "#general").await;

    // Two devices of one user: read on one, the unread count goes on the other.
    let ann2 = Browser::open(&driver, 1200, 800).await;
    log_in(&ann2, &server, "ann").await;
    ann2.click_text("#channels button", "#secret").await;
    ann.click_text("#channels button", "#secret").await;
    say(&bob, "@ann are you coming?").await;
    ann2.wait_text("#channels .badge.mention", "@1").await;
    ann2.wait_text("#channels .badge", "1").await;
    let title = ann2.js("return document.title").await;
    assert_eq!(title, json!("(1, @1) Confab"));
    // Ann reads it in the first browser...
    ann.click_text("#channels button", "#general").await;
    ann.wait_text("#messages .msg.mention", "@ann are you coming?")
        .await;
    // ...and the second one hears of it.
    ann2.wait_gone("#channels .badge").await;
    assert_eq!(ann2.js("return document.title").await, json!("Confab"));
    ann.screenshot(&artifacts().join("features.png")).await;
}

async fn create_channel_private(b: &Browser, name: &str) {
    b.click("#create-channel").await;
    b.type_into("#new-channel-name", name).await;
    b.click("#new-channel-private").await;
    b.click("#create").await;
    b.wait_text("#channels", &format!("#{name}")).await;
    b.wait_gone(".dialog").await;
}

/// The same features from the terminal client's commands, seen in a
/// browser; and the read position shared by a terminal and a browser of
/// one user.
#[tokio::test]
async fn the_terminal_reacts_replies_edits_deletes_and_shares_its_read_position() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let (tui, _home) = terminal_registered(&server, "ann").await;
    let command = |line: &str| {
        tui.type_text(line);
        tui.press(&["Enter"]);
    };
    command("/create #lobby");
    tui.wait_for("You are in #lobby").await;
    command("/topic Lunch plans");
    tui.wait_for("#lobby · Lunch plans").await;

    let bob = Browser::open(&driver, 1200, 800).await;
    bob.register(&server, "bob").await;
    bob.join_channel("lobby").await;
    bob.wait_text("#conv-topic", "Lunch plans").await;
    say(&bob, "pizza?").await;
    // Each message shows its number, for the commands.
    tui.wait_for("bob pizza? #2").await;

    command("/react 2 :pizza:");
    bob.wait_text("#messages .reaction", "🍕 1").await;
    tui.wait_for("🍕 ann").await;
    command("/reply 2 yes please");
    bob.wait_text("#messages .quote", "↳ bob: pizza?").await;
    tui.wait_for("↳ bob: pizza?").await;
    command("/edit yes please, two");
    bob.wait_text("#messages", "yes please, two (edited)").await;
    tui.wait_for("yes please, two (edited)").await;
    command("/delete");
    bob.wait_text("#messages .msg.deleted", "message deleted")
        .await;
    tui.wait_for("message deleted").await;
    // Ann owns #lobby: she may delete bob's message too.
    command("/delete 2");
    tui.wait_for("bob message deleted #2").await;
    bob.wait_js(
        "bob's deleted message to go",
        "return !document.querySelector('#messages').innerText.includes('pizza?')",
    )
    .await;

    // Unread in the terminal while another conversation is open there...
    command("/create #other");
    tui.wait_for("You are in #other").await;
    say(&bob, "anyone for @ann?").await;
    tui.wait_until("#lobby with one unread mention", |s| {
        s.lines()
            .any(|l| l.contains("#lobby") && l.contains("@1 1"))
    })
    .await;
    // ...read in a browser: the terminal's count goes.
    let ann = Browser::open(&driver, 1200, 800).await;
    log_in(&ann, &server, "ann").await;
    ann.click_text("#channels button", "#lobby").await;
    ann.wait_text("#messages", "anyone for @ann?").await;
    tui.wait_until("#lobby read", |s| {
        s.lines().any(|l| l.contains("#lobby") && !l.contains("@1"))
    })
    .await;
}

/// Markdown renders as elements made by the page; what a message says
/// never becomes markup, a script, a handler or a `javascript:` link.
#[tokio::test]
async fn markdown_renders_and_hostile_input_stays_inert() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let mut eve = server.user(Transport::Tls, "eve").await;
    let conv = eve.create("general", false).await;
    let ann = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    ann.join_channel("general").await;
    let nested = format!("{}deep", ">".repeat(3_990));
    for text in [
        "**bold** *italic* ~~gone~~ `code` https://example.org/x",
        "<script>window.pwned = 1</script>",
        "<img src=x onerror=\"window.pwned = 2\">",
        "[click me](javascript:window.pwned=3)",
        "```\n<b>not bold</b>\n```",
        &nested,
        "the end",
    ] {
        eve.say(conv, text).await;
    }
    ann.wait_text("#messages", "the end").await;
    let checks = ann
        .js(r#"
            const m = document.querySelector('#messages');
            return {
                strong: m.querySelector('strong')?.innerText,
                em: m.querySelector('em')?.innerText,
                s: m.querySelector('s')?.innerText,
                code: m.querySelector('.para code')?.innerText,
                link: m.querySelector('a[href="https://example.org/x"]')?.rel,
                scripts: m.querySelectorAll('script').length,
                imgs: m.querySelectorAll('img').length,
                js_links: [...m.querySelectorAll('a')].filter(a => !/^https?:|^mailto:/.test(a.getAttribute('href'))).length,
                pre: m.querySelector('pre code')?.innerText,
                b: m.querySelectorAll('b').length,
                pwned: window.pwned ?? null,
                text: m.innerText.includes('<script>window.pwned = 1</script>'),
                click: m.innerText.includes('click me'),
            };
        "#)
        .await;
    assert_eq!(
        checks,
        json!({
            "strong": "bold", "em": "italic", "s": "gone", "code": "code",
            "link": "noopener noreferrer nofollow",
            "scripts": 0, "imgs": 0, "js_links": 0,
            "pre": "<b>not bold</b>", "b": 0, "pwned": null, "text": true, "click": true,
        })
    );
    // Clicking the would-be link does nothing either.
    ann.click_text("#messages .msg", "click me").await;
    assert_eq!(ann.js("return window.pwned ?? null").await, json!(null));
}

/// Notifications: never asked for on load, asked on a click; shown for a
/// direct message or a mention in a conversation not in view, and not for
/// a muted one.
#[tokio::test]
async fn notifications_for_direct_messages_and_mentions_elsewhere() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let general = bob.create("general", false).await;
    let random = bob.create("random", false).await;
    let ann = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    ann.join_channel("random").await;
    ann.join_channel("general").await;
    // Loading the page asked nothing: the browser's answer is still open.
    assert_eq!(
        ann.js("return Notification.permission").await,
        json!("default")
    );
    ann.wait_for("#enable-notifications").await;
    // The browser's prompt cannot be answered headless: a stand-in that
    // says yes and records what is shown.
    ann.js(r#"
        window.shown = [];
        window.asked = 0;
        window.Notification = class {
            constructor(title, o) { window.shown.push([title, o.body]); }
            static get permission() { return window.asked ? 'granted' : 'default'; }
            static requestPermission() { window.asked += 1; return Promise.resolve('granted'); }
            set onclick(f) { this.click = f; }
        };
    "#)
        .await;
    ann.click("#enable-notifications").await;
    ann.wait_gone("#enable-notifications").await;
    assert_eq!(ann.js("return window.asked").await, json!(1));

    // #general is open and in view: a mention there does not notify.
    bob.say(general, "@ann in view").await;
    ann.wait_text("#messages", "@ann in view").await;
    // Elsewhere: a mention and a DM do; a plain message does not.
    bob.say(random, "no mention here").await;
    bob.say(random, "@ann **lunch**?").await;
    bob.ok(json!({"type": "dm_send", "user": "ann", "text": "psst"}))
        .await;
    ann.wait_js("two notifications", "return window.shown.length >= 2")
        .await;
    assert_eq!(
        ann.js("return window.shown").await,
        json!([["bob in #random", "@ann lunch?"], ["bob", "psst"]])
    );
    // Muted, #random is quiet.
    ann.click_text("#channels button", "#random").await;
    ann.click("#mute").await;
    ann.wait_for("#mute[aria-pressed='true']").await;
    ann.click_text("#channels button", "#general").await;
    bob.say(random, "@ann again").await;
    bob.ok(json!({"type": "dm_send", "user": "ann", "text": "marker"}))
        .await;
    ann.wait_js("the marker", "return window.shown.length >= 3")
        .await;
    let shown = ann.js("return window.shown").await;
    assert_eq!(shown[2], json!(["bob", "marker"]), "{shown}");
}

/// The setup link a fresh server prints makes the first admin in the
/// browser; everyone lands in #general; with nothing open, the page says
/// what to do.
#[tokio::test]
async fn the_setup_link_makes_the_first_admin_and_an_empty_screen_says_what_next() {
    let server = TestServer::start_with(|c| c.first_channel = Some("general".into())).await;
    let code = server.setup_code.clone().unwrap();
    let driver = Chromedriver::start().await;
    let root = Browser::open(&driver, 1200, 800).await;
    root.goto(&format!("http://{}/#setup={code}", server.http))
        .await;
    root.wait_text("#setup-note", "first admin").await;
    root.type_into("#username", "root").await;
    root.type_into("#password", "root's password").await;
    root.click("#setup").await;
    root.wait_text(".topbar .status", "Connected").await;
    root.wait_for("#admin").await;
    root.wait_text("#channels", "#general").await;
    root.wait_text("#conv-topic", "Say hello").await;
    assert_eq!(root.js("return location.hash").await, json!(""));

    // Someone else registers: in #general too, and not an admin.
    let ann = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    ann.wait_text("#channels", "#general").await;
    assert!(ann.texts("#admin").await.is_empty());
    // Leaving it, nothing is open: the page says what to do.
    ann.click("#leave").await;
    ann.wait_text("#empty-state", "Join a channel").await;

    // Logging out leaves nothing of root's chat in this browser.
    root.js("window.confirm = () => true").await;
    root.click("#logout").await;
    root.wait_for("#username").await;
    root.wait_js(
        "the browser's copy to be gone",
        "if (window.kept === undefined) {
             window.kept = null;
             const open = indexedDB.open('confab');
             open.onsuccess = () => {
                 const all = open.result.transaction('kv').objectStore('kv').getAllKeys();
                 all.onsuccess = () => { window.kept = all.result.filter(k => /^(m|c|o)\\//.test(k)); };
             };
         }
         const kept = window.kept;
         if (!Array.isArray(kept)) return false;
         window.kept = undefined;
         return kept.length === 0;",
    )
    .await;
}

/// Sets the theme by clicking the theme button until it is `want`.
async fn theme(b: &Browser, want: &str) {
    for _ in 0..3 {
        let now = b
            .js("return document.documentElement.dataset.theme || ''")
            .await;
        if now == json!(want) {
            return;
        }
        b.click("#theme").await;
    }
    panic!("the theme button never gave {want}");
}

/// axe-core finds no serious or critical problem on the login page, the
/// chat and a dialog, in the light and the dark theme; Tab stays inside a
/// dialog and Esc gives focus back; the emoji picker is ready to type into
/// and Enter takes its first result.
#[tokio::test]
async fn accessible_in_both_themes_with_the_keyboard() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = bob.create("general", false).await;
    let ann = Browser::open(&driver, 1200, 800).await;
    ann.goto(&format!("http://{}/", server.http)).await;
    ann.wait_for("#username").await;
    let login = ann.axe().await;
    assert!(login.is_empty(), "login page:\n{}", login.join("\n"));
    ann.register(&server, "ann").await;
    ann.join_channel("general").await;
    bob.say(conv, "**hello** @ann, see https://example.org")
        .await;
    bob.ok(json!({"type": "react", "conv": conv, "target": 1, "emoji": "👍"}))
        .await;
    ann.wait_text("#messages .reaction", "👍 1").await;
    say(&ann, "a reply to read").await;
    ann.wait_text("#messages", "a reply to read").await;
    bob.say(conv, "and a new one").await;

    for t in ["light", "dark"] {
        theme(&ann, t).await;
        let chat = ann.axe().await;
        assert!(chat.is_empty(), "chat, {t}:\n{}", chat.join("\n"));
        ann.click("#create-channel").await;
        ann.wait_for(".dialog").await;
        let dialog = ann.axe().await;
        assert!(dialog.is_empty(), "dialog, {t}:\n{}", dialog.join("\n"));
        ann.type_into("#new-channel-name", &char::from(Key::Escape).to_string())
            .await;
        ann.wait_gone(".dialog").await;
    }

    // The dialog keeps Tab inside it, and Esc gives focus back.
    ann.js("document.querySelector('#create-channel').focus()")
        .await;
    ann.click("#create-channel").await;
    ann.wait_js(
        "the dialog's first field to have focus",
        "return document.activeElement && document.activeElement.id === 'new-channel-name'",
    )
    .await;
    let inside = "return !!document.activeElement.closest('.dialog')";
    for _ in 0..12 {
        ann.type_into(":focus", &tab()).await;
        assert_eq!(ann.js(inside).await, json!(true), "Tab left the dialog");
    }
    ann.type_into(":focus", &char::from(Key::Escape).to_string())
        .await;
    ann.wait_gone(".dialog").await;
    ann.wait_js(
        "focus back on the button that opened the dialog",
        "return document.activeElement && document.activeElement.id === 'create-channel'",
    )
    .await;

    // The emoji picker: its search has focus; Enter takes the first.
    ann.click("#emoji-button").await;
    ann.wait_js(
        "the picker's search to have focus",
        "return document.activeElement && document.activeElement.id === 'emoji-search'",
    )
    .await;
    ann.type_into("#emoji-search", &format!("rocket{}", enter()))
        .await;
    let value = ann
        .js("return document.querySelector('#composer').value")
        .await;
    assert_eq!(value, json!("🚀"));
}

/// At 390 px wide nothing scrolls sideways, and every action is there:
/// the conversations, the members, the account menu, a message's actions.
#[tokio::test]
async fn the_phone_layout_has_no_sideways_scrolling_and_reaches_everything() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = bob.create("general", false).await;
    let ann = Browser::open(&driver, 390, 844).await;
    ann.register(&server, "ann").await;
    ann.click("#conversations-button").await;
    ann.join_channel("general").await;
    bob.say(conv, &format!("a long word: {}", "x".repeat(300)))
        .await;
    bob.say(
        conv,
        "```\nlet a_very_long_line_of_code = that_does_not_fit_on_a_phone_screen_at_all();\n```",
    )
    .await;
    ann.wait_text("#messages", "a_very_long_line").await;
    let overflow = "return document.documentElement.scrollWidth > document.documentElement.clientWidth || document.body.scrollWidth > document.body.clientWidth";
    for t in ["light", "dark"] {
        theme(&ann, t).await;
        let wide = ann
            .js("const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))")
            .await;
        assert_eq!(
            ann.js(overflow).await,
            json!(false),
            "sideways scrolling ({t}): {wide}"
        );
    }
    ann.screenshot(&artifacts().join("web-phone-chat.png"))
        .await;
    // The members.
    ann.click("#members-button").await;
    ann.wait_text("#member-list", "bob").await;
    assert_eq!(ann.js(overflow).await, json!(false));
    ann.click("#members-button").await;
    // The account menu.
    ann.click("#menu-button").await;
    ann.wait_for("#user-menu #logout").await;
    assert_eq!(
        ann.js("return getComputedStyle(document.querySelector('#logout')).display !== 'none'")
            .await,
        json!(true)
    );
    ann.click("#menu-button").await;
    // A message's actions, by tapping it (focus shows them).
    ann.js("[...document.querySelectorAll('#messages .msg')][0].focus()")
        .await;
    ann.click("#messages .msg:focus-within .react-button").await;
    ann.click(".react-bar button[aria-label='👍']").await;
    ann.wait_text("#messages .reaction", "👍 1").await;
    assert_eq!(ann.js(overflow).await, json!(false));
    let found = ann.axe().await;
    assert!(found.is_empty(), "phone:\n{}", found.join("\n"));
}

/// Opening a conversation with unread messages starts at its "new
/// messages" line, with a button to the newest; `@` completes names.
#[tokio::test]
async fn unread_messages_start_at_their_line_and_names_complete() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let general = bob.create("general", false).await;
    bob.create("random", false).await;
    for i in 0..30 {
        bob.say(general, &format!("old {i}")).await;
    }
    let ann = Browser::open(&driver, 1000, 600).await;
    ann.register(&server, "ann").await;
    ann.join_channel("general").await;
    ann.wait_text("#messages", "old 29").await;
    ann.join_channel("random").await;
    for i in 0..40 {
        bob.say(general, &format!("new {i}")).await;
    }
    ann.wait_text("#channels .badge", "40").await;
    ann.click_text("#channels button", "#general").await;
    ann.wait_for("#unread-line").await;
    ann.wait_js(
        "the new messages line in view, the newest not",
        "const s = document.querySelector('#messages').getBoundingClientRect();
         const u = document.querySelector('#unread-line').getBoundingClientRect();
         const m = document.querySelector('#messages');
         return u.top >= s.top && u.bottom <= s.bottom && m.scrollTop + m.clientHeight < m.scrollHeight - 40;",
    )
    .await;
    ann.click("#to-newest").await;
    ann.wait_gone("#to-newest").await;
    ann.wait_js(
        "at the newest",
        "const m = document.querySelector('#messages'); return m.scrollTop + m.clientHeight >= m.scrollHeight - 40;",
    )
    .await;

    // `@b` offers bob; Tab takes him.
    ann.type_into("#composer", "hi @b").await;
    ann.wait_text("#suggestions", "@bob").await;
    ann.type_into("#composer", &tab()).await;
    assert_eq!(
        ann.js("return document.querySelector('#composer').value")
            .await,
        json!("hi @bob ")
    );
}

/// Runs `then`, a script that uses `dt`: a `DataTransfer` holding the
/// files `make` makes (a script expression for an array of `File`s; it may
/// await).
async fn with_files(b: &Browser, make: &str, then: &str) {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{
           const dt = new DataTransfer();
           for (const f of {make}) dt.items.add(f);
           {then};
           done(true);
         }})().catch(e => done(String(e)));"
    );
    assert_eq!(b.js_async(&script).await, json!(true));
}

/// Chooses files in the page as a person would: sets them on the file
/// input and fires its `change` (the picker itself cannot be driven).
async fn choose_files(b: &Browser, make: &str) {
    with_files(
        b,
        make,
        "const input = document.querySelector('#file-input');
         input.files = dt.files;
         input.dispatchEvent(new Event('change', { bubbles: true }))",
    )
    .await;
}

/// A PNG drawn on a canvas, `w`×`h`, as a `File` (a script expression).
fn canvas_png(name: &str, w: u32, h: u32) -> String {
    format!(
        "[await new Promise(ok => {{
            const c = document.createElement('canvas');
            c.width = {w}; c.height = {h};
            const g = c.getContext('2d');
            g.fillStyle = '#3a7'; g.fillRect(0, 0, {w}, {h});
            g.fillStyle = '#fff'; g.fillRect({w} / 4, {h} / 4, {w} / 2, {h} / 2);
            c.toBlob(b => ok(new File([b], {name}, {{ type: 'image/png' }})), 'image/png');
         }})]",
        name = json!(name)
    )
}

#[tokio::test]
async fn files_and_images_in_the_browser_with_progress_and_offers() {
    let server = TestServer::start().await;
    let driver = Chromedriver::start().await;
    let ann = Browser::open(&driver, 1200, 800).await;
    let bob = Browser::open(&driver, 1200, 800).await;
    ann.register(&server, "ann").await;
    ann.create_channel("general").await;
    bob.register(&server, "bob").await;
    bob.join_channel("general").await;

    // An image: bob sees its thumbnail, its box sized from the message
    // before it loads; a click shows it whole.
    choose_files(&ann, &canvas_png("drawing.png", 640, 480)).await;
    bob.wait_js(
        "the thumbnail loaded",
        "const i = document.querySelector('#messages .file .thumb img');
         return !!i && i.src.startsWith('blob:') && i.complete && i.naturalWidth === 320;",
    )
    .await;
    let style = bob
        .js("return document.querySelector('#messages .file .thumb').getAttribute('style')")
        .await;
    assert!(
        style.as_str().unwrap().contains("aspect-ratio: 640 / 480"),
        "{style}"
    );
    assert!(
        bob.text("#messages .file").await.contains("drawing.png"),
        "{}",
        bob.page_text().await
    );
    bob.click("#messages .file .thumb").await;
    bob.wait_js(
        "the whole image shown",
        "const i = document.querySelector('#image-view img');
         return !!i && i.complete && i.naturalWidth === 640 && i.naturalHeight === 480;",
    )
    .await;
    bob.click("#image-view").await;
    bob.wait_gone("#image-view").await;

    // Dropped on the conversation, and pasted into the composer: each
    // is uploaded like a chosen one.
    with_files(
        &ann,
        &canvas_png("dropped.png", 64, 48),
        "document.querySelector('#messages').dispatchEvent(
             new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))",
    )
    .await;
    bob.wait_text("#messages", "dropped.png").await;
    with_files(
        &ann,
        &canvas_png("pasted.png", 64, 48),
        "document.querySelector('#composer').dispatchEvent(
             new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))",
    )
    .await;
    bob.wait_text("#messages", "pasted.png").await;
    assert_eq!(
        ann.js("return document.querySelector('#composer').value")
            .await,
        json!(""),
        "a pasted file is not typed"
    );

    // A bigger file: ann sees its progress as it goes; bob downloads it
    // (streamed, SHA-256 checked) and is told it was saved.
    choose_files(
        &ann,
        "[new File([new Uint8Array(24 * 1024 * 1024).map((_, i) => i % 251)], 'data.bin')]",
    )
    .await;
    ann.wait_js(
        "upload progress shown",
        "const t = document.querySelector('#messages .file .transfer');
         return !!t && /\\d+%/.test(t.innerText) && !!t.querySelector('progress');",
    )
    .await;
    bob.wait_text("#messages", "data.bin · 25 MB").await;
    ann.wait_gone("#messages .file.pending").await;
    let script = "const f = [...document.querySelectorAll('#messages .file')]
            .find(f => f.innerText.includes('data.bin'));
         f.querySelector('.download').click(); return true;";
    assert_eq!(bob.js(script).await, json!(true));
    bob.wait_text(
        ".notice",
        "data.bin: saved to your downloads as data.bin (SHA-256 checked)",
    )
    .await;

    // An offer in a DM: bob accepts the first and declines the second;
    // both see the answers.
    ann.wait_text("#member-list", "bob").await;
    ann.click_text("#member-list button", "bob").await;
    ann.wait_text("#conv-title", "@bob").await;
    say(&ann, "/offer").await;
    choose_files(&ann, "[new File(['the plan'], 'plan.txt')]").await;
    bob.wait_text("#dms", "@ann").await;
    bob.click_text("#dms button", "@ann").await;
    bob.wait_text("#messages", "Offered to you").await;
    assert!(
        !bob.text("#messages .file").await.contains("Download"),
        "no download before it is accepted"
    );
    bob.click("#messages .file .accept").await;
    ann.wait_text("#messages", "Offer accepted").await;
    bob.wait_text("#messages .file .download", "Download").await;
    say(&ann, "/offer").await;
    choose_files(&ann, "[new File(['not wanted'], 'other.txt')]").await;
    bob.wait_text("#messages", "other.txt").await;
    let script = "const f = [...document.querySelectorAll('#messages .file')]
            .find(f => f.innerText.includes('other.txt'));
         f.querySelector('.decline').click(); return true;";
    bob.wait_js(
        "the second offer's buttons",
        "return !!document.querySelector('#messages .file .decline')",
    )
    .await;
    assert_eq!(bob.js(script).await, json!(true));
    ann.wait_text("#messages", "Offer declined").await;

    // A profile picture: bob sees it beside her messages and in the
    // member list at once (an `avatar` event), where her initial was.
    assert_eq!(
        bob.js("return !!document.querySelector('#member-list .avatar img')")
            .await,
        json!(false)
    );
    say(&ann, "/avatar").await;
    choose_files(&ann, &canvas_png("me.png", 200, 200)).await;
    ann.wait_text(".notice", "your profile picture is changed")
        .await;
    bob.wait_js(
        "ann's picture beside her messages",
        "return [...document.querySelectorAll('#messages .group')].some(g =>
            g.querySelector('.sender')?.innerText === 'ann'
            && g.querySelector('.avatar img')?.naturalWidth === 200);",
    )
    .await;
    bob.wait_js(
        "and in the member list",
        "return [...document.querySelectorAll('#member-list .member')].some(m =>
            m.innerText.includes('ann') && m.querySelector('.avatar img')?.complete);",
    )
    .await;
}
