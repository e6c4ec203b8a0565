//! `confab chat` in a real terminal (tmux), while a second user talks to it
//! through a real server.

use confab_testkit::tmux::Tmux;
use confab_testkit::{TestServer, Transport};

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
    tmux.wait_for("You are in #general").await;

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
