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

/// `confab chat` in a real terminal, registered as ann.
async fn registered_ann(server: &TestServer) -> (Tmux, tempfile::TempDir) {
    Tmux::chat_registered(env!("CARGO_BIN_EXE_confab"), server, "ann").await
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
    let (tui, _home) = registered_ann(&server).await;

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

/// Files in the terminal client: `/upload` posts one (the other user gets
/// it), `/save` downloads it (SHA-256 checked) into a folder, and offers
/// made by `confab upload --offer` from another profile are accepted (then
/// saved) or declined, the sender seeing each answer.
#[tokio::test]
async fn files_uploaded_saved_and_offers_answered_in_a_real_terminal() {
    use confab_testkit::http;
    let server = http::https_server(|_| {}).await;
    let mut bob = http::user(&server, "bob").await;
    bob.create("general", false).await;
    let files = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let (tui, _home) = registered_ann(&server).await;
    tui.type_text("/join #general");
    tui.press(&["Enter"]);
    tui.wait_for("You are in #general").await;

    // /upload: bob receives the file; the line says how to save it.
    let notes = files.path().join("notes.txt");
    let text = "minutes of the meeting\n".repeat(2000);
    std::fs::write(&notes, &text).unwrap();
    tui.type_text(&format!("/upload {}", notes.display()));
    tui.press(&["Enter"]);
    let ev = bob.event("message").await;
    assert_eq!(ev["message"]["kind"], "file");
    assert_eq!(ev["message"]["file"]["name"], "notes.txt");
    assert_eq!(
        ev["message"]["file"]["sha256"],
        http::sha256_hex(text.as_bytes())
    );
    let seq = ev["message"]["seq"].as_u64().unwrap();
    let s = tui.wait_for(&format!("/save {seq} [PATH] saves it")).await;
    assert!(s.contains("📎 notes.txt (46 KB, text/plain)"), "{s}");

    // /save into a folder: saved under its own name, the same bytes.
    tui.type_text(&format!("/save {seq} {}/", saved.path().display()));
    tui.press(&["Enter"]);
    tui.wait_for("notes.txt: saved to").await;
    assert_eq!(
        std::fs::read_to_string(saved.path().join("notes.txt")).unwrap(),
        text
    );

    // Offers from bob, through `confab upload --offer` on his own profile.
    let bob_home = tempfile::tempdir().unwrap();
    let bob_cli = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"));
        c.args(args)
            .env("CONFAB_HOME", bob_home.path())
            .env("CONFAB_SERVER", server.tcp.to_string())
            .env("CONFAB_PASSWORD", "password-bob")
            .stdin(std::process::Stdio::null());
        c
    };
    let out = bob_cli(&["login", "bob", "--trust", &server.fingerprint])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = files.path().join("plan.txt");
    std::fs::write(&plan, "the plan, in full").unwrap();
    let offer = |path: std::path::PathBuf| {
        let mut c = bob_cli(&["upload", "--offer"]);
        c.arg(path).arg("@ann");
        c
    };
    let out = offer(plan.clone()).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offered = bob.event("message").await;
    assert_eq!(offered["message"]["kind"], "offer");
    let first = offered["message"]["seq"].as_u64().unwrap();
    let dm = offered["message"]["conv"].as_u64().unwrap();
    tui.type_text("/msg bob");
    tui.press(&["Enter"]);
    let s = tui
        .wait_for(&format!(
            "offered to you: /accept {first} or /decline {first}"
        ))
        .await;
    assert!(s.contains("📎 plan.txt"), "{s}");
    // Not before it is accepted.
    tui.type_text(&format!("/save {first} {}/", saved.path().display()));
    tui.press(&["Enter"]);
    tui.wait_for(&format!("accept the offer first: /accept {first}"))
        .await;
    tui.type_text(&format!("/accept {first}"));
    tui.press(&["Enter"]);
    let answer = bob.event("message").await;
    assert_eq!(
        (
            answer["message"]["kind"].as_str(),
            answer["message"]["target"].as_u64(),
            answer["message"]["accept"].as_bool(),
            answer["message"]["conv"].as_u64()
        ),
        (Some("answer"), Some(first), Some(true), Some(dm))
    );
    tui.wait_for("offered, accepted").await;
    tui.type_text(&format!("/save {first} {}/", saved.path().display()));
    tui.press(&["Enter"]);
    tui.wait_for("plan.txt: saved to").await;
    assert_eq!(
        std::fs::read_to_string(saved.path().join("plan.txt")).unwrap(),
        "the plan, in full"
    );

    // A second offer, declined.
    let other = files.path().join("other.txt");
    std::fs::write(&other, "not wanted").unwrap();
    let out = offer(other).output().await.unwrap();
    assert!(out.status.success());
    let second = bob.event("message").await["message"]["seq"]
        .as_u64()
        .unwrap();
    tui.wait_for(&format!("/decline {second}")).await;
    tui.type_text(&format!("/decline {second}"));
    tui.press(&["Enter"]);
    let answer = bob.event("message").await;
    assert_eq!(
        (
            answer["message"]["target"].as_u64(),
            answer["message"]["accept"].as_bool()
        ),
        (Some(second), Some(false))
    );
    tui.wait_for("offered, declined").await;

    // A profile picture: bob is told; a text file is not one.
    let png = files.path().join("me.png");
    std::fs::write(&png, ONE_PIXEL_PNG).unwrap();
    tui.type_text(&format!("/avatar {}", notes.display()));
    tui.press(&["Enter"]);
    tui.wait_for("a profile picture must be an image").await;
    tui.type_text(&format!("/avatar {}", png.display()));
    tui.press(&["Enter"]);
    tui.wait_for("your profile picture is changed").await;
    let ev = bob.event("avatar").await;
    assert_eq!(ev["user"], "ann");
}

/// The smallest PNG: one transparent pixel.
const ONE_PIXEL_PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0,
    0, 0, 31, 21, 196, 137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 100, 96, 248, 95, 15, 0, 2,
    135, 1, 128, 235, 71, 186, 146, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];
