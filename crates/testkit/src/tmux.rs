//! A real terminal for tests: tmux runs a command in a window of a fixed
//! size; the test types with `send-keys` and reads the screen with
//! `capture-pane`.

use std::process::{Command, Output};
use std::time::Duration;

use crate::poll;

/// A tmux server of our own (its own socket, no user config) with one
/// 110×30 window named `chat`.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// `confab chat` (the binary `confab`) in a real terminal, trusting
    /// `server`'s certificate, registered as `name` (password "NAME's
    /// password"). The pane stays open after the client ends (`sleep`), so
    /// a failing test can still show its screen; the profile's home lives
    /// as long as the result.
    pub async fn chat_registered(
        confab: &str,
        server: &crate::TestServer,
        name: &str,
    ) -> (Tmux, tempfile::TempDir) {
        let home = tempfile::tempdir().expect("a home for the profile");
        let tui = Tmux::start(&format!(
            "env CONFAB_HOME={} {confab} chat {} --trust {}; sleep 600",
            home.path().display(),
            server.tcp,
            server.fingerprint,
        ));
        tui.wait_for("Username:").await;
        tui.type_text(name);
        tui.press(&["Tab"]);
        tui.type_text(&format!("{name}'s password"));
        tui.press(&["Tab", "Tab", "Enter"]);
        tui.wait_for(&format!("● connected as {name}")).await;
        (tui, home)
    }

    /// Runs `command` (a shell command line) in a new detached window.
    pub fn start(command: &str) -> Tmux {
        let socket = format!(
            "confab-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let t = Tmux { socket };
        let out = t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            "110",
            "-y",
            "30",
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is needed for this test (Debian: apt-get install tmux)")
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "chat", "-l", text])
                .status
                .success()
        );
    }

    /// Presses named keys (`Enter`, `Tab`, `C-c`, ...).
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "chat"]).stdout)
            .into_owned()
    }

    /// Waits until the screen shows `needle`; returns the screen.
    pub async fn wait_for(&self, needle: &str) -> String {
        let seen = poll(
            &format!("the terminal to show {needle:?}"),
            Duration::from_millis(50),
            async || Some(self.screen()).filter(|s| s.contains(needle)),
        )
        .await;
        seen.unwrap_or_else(|why| panic!("{why}; it shows:\n{}", self.screen()))
    }

    /// Waits until the screen satisfies `what` (described by `desc`);
    /// returns the screen.
    pub async fn wait_until(&self, desc: &str, what: impl Fn(&str) -> bool) -> String {
        let seen = poll(
            &format!("the terminal to show {desc}"),
            Duration::from_millis(50),
            async || Some(self.screen()).filter(|s| what(s)),
        )
        .await;
        seen.unwrap_or_else(|why| panic!("{why}; it shows:\n{}", self.screen()))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
