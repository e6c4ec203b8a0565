//! The real terminal: raw mode, the alternate screen, mouse and paste, and
//! the loop that feeds the app keys and client events and redraws.

use std::io::stdout;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use confab_client::Client;
use confab_client::native::{Connector, Profile, Shared, SqliteCache, drive, now_ms};
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent,
};
use ratatui::crossterm::execute;
use tokio::sync::mpsc;

use crate::app::App;
use crate::{notify, ui};

/// Which server and profile `confab chat` uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` of the server's TLS listener.
    pub server: String,
    /// Profile name; by default one per server.
    pub profile: Option<String>,
    /// A certificate fingerprint to trust without asking.
    pub trust: Option<String>,
    /// A fresh server's setup code, used when registering.
    pub setup: Option<String>,
}

/// Terminal events waiting to be handled; a paste of thousands of keys
/// waits in the terminal, not in memory.
const INPUT_QUEUE: usize = 256;
/// Redraw at least this often (the reconnect countdown, typing expiry).
const REDRAW_EVERY: Duration = Duration::from_secs(1);

/// Runs the terminal client until the user quits.
pub async fn run(opts: Options) -> Result<()> {
    let profile = Profile::open(&Profile::root(), opts.profile.as_deref(), &opts.server)
        .context("opening the profile")?;
    let mut cache = profile.cache().context("opening the profile's cache")?;
    if let Some(fp) = &opts.trust {
        Profile::pin(&mut cache, Some(fp))?;
    }
    let pinned = Profile::pinned(&cache)?;
    let mut client = Client::new(cache, "confab-chat", rand::random())?;
    let mut app = App::new(&opts.server, &mut client);
    app.setup = opts.setup.clone();
    let shared = Shared::new(client);
    let connector = Arc::new(Mutex::new(Connector::new(&opts.server, pinned)));
    let driver = tokio::spawn(drive(shared.clone(), connector.clone()));

    // crossterm's `read` blocks, so it gets a thread of its own.
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    std::thread::spawn(move || {
        while let Ok(ev) = event::read() {
            if tx.blocking_send(ev).is_err() {
                break;
            }
        }
    });

    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let _ = execute!(stdout(), EnableMouseCapture, EnableBracketedPaste);
    let result = event_loop(&mut terminal, app, &shared, &connector, rx).await;
    let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
    ratatui::restore();
    driver.abort();
    result
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    shared: &Shared<SqliteCache>,
    connector: &Mutex<Connector>,
    mut input: mpsc::Receiver<TermEvent>,
) -> Result<()> {
    let term_kind = notify::Terminal::from_env();
    loop {
        let changed = shared.changed.notified();
        {
            let mut client = shared.lock();
            let events = client.take_events();
            app.events(events, &mut client, now_ms());
            if let Some(t) = shared.trust.lock().expect("trust lock").take() {
                app.trust(t);
            }
            terminal.draw(|f| ui::draw(f, &mut app, &client))?;
        }
        let effects = app.take_effects();
        if effects.quit {
            // What was being written is there next time.
            shared.lock().save_drafts();
            return Ok(());
        }
        if let Some(fp) = effects.pin {
            let mut client = shared.lock();
            Profile::pin(client.cache_mut(), Some(&fp))?;
            connector.lock().expect("connector lock").pinned = Some(fp);
            client.retry_now(now_ms());
        }
        if effects.wake {
            shared.wake.notify_one();
        }
        if !effects.notify.is_empty() {
            use std::io::Write;
            let mut out = stdout();
            for (title, body) in &effects.notify {
                let _ = out.write_all(notify::sequence(&term_kind, title, body).as_bytes());
            }
            let _ = out.flush();
        }
        tokio::select! {
            ev = input.recv() => {
                let Some(ev) = ev else { return Ok(()) };
                let mut client = shared.lock();
                // Handle everything already typed (a paste) before redrawing.
                let mut next = Some(ev);
                while let Some(ev) = next {
                    match ev {
                        TermEvent::Key(k) => app.key(k, &mut client, now_ms()),
                        TermEvent::Mouse(m) => app.mouse(m, &mut client),
                        TermEvent::Paste(s) => app.paste(&s, &mut client),
                        _ => {}
                    }
                    next = input.try_recv().ok();
                }
            }
            _ = changed => {}
            _ = tokio::time::sleep(REDRAW_EVERY) => {}
        }
    }
}
