//! A real browser for tests: Debian's headless Chromium driven over
//! WebDriver (chromedriver), with helpers that wait for what a user would
//! see, under a deadline.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

pub use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::poll;

/// How often the waits look again.
const EVERY: Duration = Duration::from_millis(50);

/// A chromedriver on a free local port. On drop it is killed with every
/// browser it started: they share its process group, and a test that
/// fails midway never gets to close its sessions.
pub struct Chromedriver {
    child: tokio::process::Child,
    pub url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

impl Chromedriver {
    pub async fn start() -> Chromedriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .expect("chromedriver is needed (Debian: apt-get install chromium chromium-driver)");
        poll("chromedriver to listen", EVERY, async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(drop)
        })
        .await
        .unwrap_or_else(|why| panic!("{why}"));
        Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// One browser window with a profile of its own (its own IndexedDB).
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

fn css(s: &str) -> Locator<'_> {
    Locator::Css(s)
}

impl Browser {
    pub async fn open(driver: &Chromedriver, width: u32, height: u32) -> Browser {
        Self::open_with(driver, width, height, &[]).await
    }

    /// A browser with a fake camera and microphone (a test pattern and a
    /// beep), allowed without asking, that makes WebRTC connections on
    /// loopback and tells its real addresses (not mDNS names): for live
    /// streams, in a network namespace with loopback alone.
    pub async fn with_camera(driver: &Chromedriver, width: u32, height: u32) -> Browser {
        Self::open_with(
            driver,
            width,
            height,
            &[
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        .await
    }

    pub async fn open_with(
        driver: &Chromedriver,
        width: u32,
        height: u32,
        extra: &[&str],
    ) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a chromium session");
        Browser {
            client,
            _profile: profile,
        }
    }

    /// The browser's profile directory (its processes name it).
    pub fn profile(&self) -> &Path {
        self._profile.path()
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.client.refresh().await.expect("reload");
    }

    /// Runs a script; its return value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs an asynchronous script: it calls its last argument with the
    /// result.
    pub async fn js_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs axe-core on the page as it is (WCAG 2 A and AA rules) and
    /// returns its serious and critical findings, one line each (rule,
    /// impact, what it says, where).
    pub async fn axe(&self) -> Vec<String> {
        let source = tokio::task::spawn_blocking(crate::axe::source)
            .await
            .expect("axe-core loads");
        self.client
            .execute(source, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("axe-core did not load: {e}"));
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, {
                       runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                       resultTypes: ['violations'],
                   }).then(r => done(r.violations
                       .filter(v => v.impact === 'serious' || v.impact === 'critical')
                       .map(v => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' [' + (n.failureSummary || '').replace(/\s+/g, ' ') + '] ' + n.html.slice(0, 120)).join(' | ')}`)))
                     .catch(e => done(['axe failed: ' + e]));"#,
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("axe-core did not run: {e}"));
        serde_json::from_value(found).expect("a list of findings")
    }

    /// The page's visible text, for failure messages.
    pub async fn page_text(&self) -> String {
        self.js("return document.body ? document.body.innerText : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits for an element matching `selector`.
    pub async fn wait_for(&self, selector: &str) -> fantoccini::elements::Element {
        let found = poll(&format!("an element {selector:?}"), EVERY, async || {
            self.client.find(css(selector)).await.ok()
        })
        .await;
        self.or_fail(found).await
    }

    /// Waits until the text of `selector` (all matches, joined by
    /// newlines) contains `needle`; returns that text.
    pub async fn wait_text(&self, selector: &str, needle: &str) -> String {
        let found = poll(
            &format!("{selector:?} to show {needle:?}"),
            EVERY,
            async || Some(self.text(selector).await).filter(|t| t.contains(needle)),
        )
        .await;
        self.or_fail(found).await
    }

    /// Waits until no element matches `selector`.
    pub async fn wait_gone(&self, selector: &str) {
        let gone = poll(&format!("{selector:?} to go"), EVERY, async || {
            let all = self
                .client
                .find_all(css(selector))
                .await
                .unwrap_or_default();
            all.is_empty().then_some(())
        })
        .await;
        self.or_fail(gone).await
    }

    /// Waits until `script` returns `true` (it may act too, e.g. scroll).
    pub async fn wait_js(&self, what: &str, script: &str) {
        let done = poll(what, EVERY, async || {
            (self.js(script).await == json!(true)).then_some(())
        })
        .await;
        self.or_fail(done).await
    }

    /// The value, or a failure that shows what the page shows.
    async fn or_fail<T>(&self, r: Result<T, String>) -> T {
        match r {
            Ok(v) => v,
            Err(why) => {
                let crashed = self.js("return window.confabPanic || ''").await;
                let crashed = crashed.as_str().unwrap_or_default();
                let crashed = if crashed.is_empty() {
                    String::new()
                } else {
                    format!("\nthe page's code panicked: {crashed}")
                };
                panic!(
                    "{why}; the page shows:\n{}{crashed}",
                    self.page_text().await
                )
            }
        }
    }

    /// The text of every element matching `selector`, joined by newlines.
    pub async fn text(&self, selector: &str) -> String {
        let script = format!(
            "return Array.from(document.querySelectorAll({})).map(e => e.innerText).join('\\n')",
            serde_json::to_string(selector).expect("json")
        );
        self.js(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text of each element matching `selector`.
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let script = format!(
            "return Array.from(document.querySelectorAll({})).map(e => e.innerText)",
            serde_json::to_string(selector).expect("json")
        );
        match self.js(&script).await {
            Value::Array(v) => v
                .into_iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Clicks the element matching `selector` once there is one. If the
    /// page drew it anew between finding and clicking (a stale element),
    /// it is found again.
    pub async fn click(&self, selector: &str) {
        let clicked = poll(&format!("{selector:?} to click"), EVERY, async || {
            let e = self.client.find(css(selector)).await.ok()?;
            match e.click().await {
                Ok(()) => Some(Ok(())),
                Err(err) if err.to_string().contains("stale element") => None,
                Err(err) => Some(Err(err.to_string())),
            }
        })
        .await;
        if let Err(e) = self.or_fail(clicked).await {
            panic!("click {selector}: {e}");
        }
    }

    /// Clicks the first element matching `selector` whose text contains
    /// `text` (a conversation or a member by name).
    pub async fn click_text(&self, selector: &str, text: &str) {
        let script = format!(
            "const e = [...document.querySelectorAll({})].find(e => e.innerText.includes({}));
             if (!e) return false; e.click(); return true;",
            serde_json::to_string(selector).expect("json"),
            serde_json::to_string(text).expect("json"),
        );
        self.wait_js(&format!("{selector:?} with {text:?} to click"), &script)
            .await;
    }

    /// Types into a field (after what it holds).
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.wait_for(selector)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
    }

    /// Types into every field matching `selector`.
    pub async fn type_into_all(&self, selector: &str, text: &str) {
        self.wait_for(selector).await;
        for e in self.client.find_all(css(selector)).await.expect("find") {
            e.send_keys(text)
                .await
                .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
        }
    }

    /// Registers `name` (password "NAME's password") on `server`'s login
    /// page and waits for the chat.
    pub async fn register(&self, server: &crate::TestServer, name: &str) {
        self.goto(&format!("http://{}/", server.http)).await;
        self.type_into("#username", name).await;
        self.type_into("#password", &format!("{name}'s password"))
            .await;
        self.click("#register").await;
        self.wait_text(".topbar .status", "Connected").await;
    }

    /// Creates public channel `name` with the sidebar's "+".
    pub async fn create_channel(&self, name: &str) {
        self.click("#create-channel").await;
        self.type_into("#new-channel-name", name).await;
        self.click("#create").await;
        self.wait_text("#channels", &format!("#{name}")).await;
        self.wait_gone(".dialog").await;
    }

    /// Joins channel `name` with the sidebar's "#".
    pub async fn join_channel(&self, name: &str) {
        self.click("#join-channel").await;
        self.wait_text("#channel-list", &format!("#{name}")).await;
        self.type_into("#join-name", name).await;
        self.click("#join").await;
        self.wait_text("#channels", &format!("#{name}")).await;
        self.wait_gone(".dialog").await;
    }

    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("artifact dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}
