//! `confab chat` in a real terminal: tmux runs it, the test types with
//! `send-keys` and reads the screen with `capture-pane`, while a second
//! user talks to it through a real server.

use std::process::{Command, Output};
use std::time::Duration;

use confab_testkit::{DEADLINE, TestServer, Transport};

/// A tmux server of our own (its own socket, no user config) with one
/// 110×30 window.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let socket = format!("confab-test-{}-{}", std::process::id(), rand_suffix());
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
    fn type_text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "chat", "-l", text])
                .status
                .success()
        );
    }

    /// Presses named keys (`Enter`, `Tab`, ...).
    fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "chat"]).stdout)
            .into_owned()
    }

    /// Waits until the screen shows `needle`; returns the screen.
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the terminal never showed {needle:?}; it shows:\n{s}");
            }
            // Polling the screen: tmux has no way to announce a change.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() as u32
}

#[tokio::test]
async fn log_in_join_send_and_receive_in_a_real_terminal() {
    let server = TestServer::start().await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let general = bob.create("general", false).await;
    let home = tempfile::tempdir().unwrap();
    let chat = format!(
        "env CONFAB_HOME={} {} chat {}; echo confab exited with $?; sleep 600",
        home.path().display(),
        env!("CARGO_BIN_EXE_confab"),
        server.tcp
    );

    let tmux = Tmux::start(&chat);
    tmux.wait_for("Username:").await;
    tmux.type_text("ann");
    tmux.press(&["Tab"]);
    tmux.type_text("ann's password");
    // Tab to [ Log in ], once more to [ Register ].
    tmux.press(&["Tab", "Tab", "Enter"]);

    // First contact: the self-signed certificate is shown and must be accepted.
    let s = tmux.wait_for("Trust it and remember it").await;
    assert!(
        s.contains(&server.fingerprint),
        "the prompt shows the fingerprint the server announced:\n{s}"
    );
    tmux.type_text("y");
    tmux.wait_for("● connected as ann").await;

    tmux.type_text("/join #general");
    tmux.press(&["Enter"]);
    tmux.wait_for("you are in #general").await;

    tmux.type_text("hello from a terminal :tad");
    tmux.press(&["Tab", "Enter"]);
    let ev = bob.event("message").await;
    assert_eq!(ev["message"]["sender"], "ann");
    assert_eq!(ev["message"]["text"], "hello from a terminal 🎉");

    bob.say(general, "hi ann, welcome").await;
    let s = tmux.wait_for("bob hi ann, welcome").await;
    assert!(s.contains("ann hello from a terminal 🎉"), "{s}");
    assert!(s.contains("● bob"), "bob is listed online:\n{s}");

    tmux.type_text("/exit");
    tmux.press(&["Enter"]);
    tmux.wait_for("confab exited with 0").await;
    drop(tmux);

    // Started again: no login, no question about the certificate, and
    // the conversation is there.
    let tmux = Tmux::start(&chat);
    let s = tmux.wait_for("● connected as ann").await;
    assert!(s.contains("bob hi ann, welcome"), "{s}");
    assert!(!s.contains("Username:"), "{s}");
    tmux.press(&["C-c"]);
    tmux.wait_for("confab exited with 0").await;
}
