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

/// The terminal client through the social flows, against a second user on
/// the protocol: a friend request, a group made by a friend, typing both
/// ways (the terminal's over UDP), a rename, and a block.
#[tokio::test]
async fn friends_groups_typing_and_blocks_in_a_real_terminal() {
    use serde_json::json;
    use std::sync::atomic::Ordering;
    let server = TestServer::start().await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let home = tempfile::tempdir().unwrap();
    let tui = Tmux::start(&format!(
        "env CONFAB_HOME={} {} chat {} --trust {}; sleep 600",
        home.path().display(),
        env!("CARGO_BIN_EXE_confab"),
        server.tcp,
        server.fingerprint,
    ));
    tui.wait_for("Username:").await;
    tui.type_text("ann");
    tui.press(&["Tab"]);
    tui.type_text("ann's password");
    tui.press(&["Tab", "Tab", "Enter"]);
    tui.wait_for("● connected as ann").await;

    // A request arrives; the friends box shows it; ann accepts.
    bob.ok(json!({"type": "friend_request", "user": "ann"}))
        .await;
    tui.wait_for("bob asks to be your friend").await;
    tui.type_text("/friends");
    tui.press(&["Enter"]);
    let s = tui.wait_for("Asking you: bob").await;
    assert!(s.contains("/friend accept NAME"), "{s}");
    tui.press(&["Escape"]);
    tui.type_text("/friend accept bob");
    tui.press(&["Enter"]);
    tui.wait_for("You and bob are friends").await;
    let update = bob.event("friend_update").await;
    assert_eq!(
        (update["user"].as_str(), update["state"].as_str()),
        (Some("ann"), Some("friends"))
    );
    tui.type_text("/friends");
    tui.press(&["Enter"]);
    tui.wait_for("● bob").await;
    tui.press(&["Escape"]);

    // Bob makes a group with ann: it is listed, with its first event.
    let g = bob
        .ok(json!({"type": "group_create", "name": "Trip", "members": ["ann"]}))
        .await;
    let conv = g["group"]["conv"].as_u64().unwrap();
    tui.wait_for("bob added you to “Trip”").await;
    tui.wait_for("&Trip").await;
    tui.wait_for("bob created “Trip” with ann").await;
    // The member list shows bob online.
    tui.wait_for("● bob").await;

    // Typing, both ways. Ann's goes by datagram once her path is up.
    bob.ok(json!({"type": "typing", "conv": conv})).await;
    tui.wait_for("bob is typing…").await;
    server
        .eventually("ann's UDP path is up", |h| {
            h.stats().udp_in.load(Ordering::Relaxed) >= 2
        })
        .await;
    tui.type_text("see you");
    let typing = bob.event("typing").await;
    assert_eq!(
        (typing["user"].as_str(), typing["conv"].as_u64()),
        (Some("ann"), Some(conv))
    );
    assert!(server.handle.stats().udp_typing_in.load(Ordering::Relaxed) >= 1);
    tui.type_text(" there");
    tui.press(&["Enter"]);
    let m = bob
        .take(|v| v["type"] == "message" && v["message"]["kind"] == "text")
        .await
        .unwrap();
    assert_eq!(
        (m["message"]["text"].as_str(), m["message"]["conv"].as_u64()),
        (Some("see you there"), Some(conv))
    );

    // A rename from the terminal reaches bob as a log entry.
    tui.type_text("/group rename Lyon 2027");
    tui.press(&["Enter"]);
    let renamed = bob
        .take(|v| v["type"] == "message" && v["message"]["event"] == "renamed")
        .await
        .unwrap();
    assert_eq!(renamed["message"]["name"], "Lyon 2027");
    tui.wait_for("&Lyon 2027").await;

    // Ann blocks bob: his direct message never shows.
    tui.type_text("/block bob");
    tui.press(&["Enter"]);
    tui.wait_for("You blocked bob").await;
    bob.ok(json!({"type": "dm_send", "user": "ann", "text": "why so quiet"}))
        .await;
    tui.type_text("/friends");
    tui.press(&["Enter"]);
    let s = tui.wait_for("Blocked: bob").await;
    assert!(!s.contains("why so quiet"), "{s}");
    tui.press(&["Escape"]);
}
