//! Registration, login, tokens, passwords, visitors.

use confab_testkit::{TestServer, Transport};
use serde_json::json;

#[tokio::test]
async fn registration_rules_say_which_rule_failed() {
    let server = TestServer::start().await;
    let mut c = server.hello(Transport::Tls).await;
    let reg = |name: &str, pw: &str| json!({"type": "register", "username": name, "password": pw});
    let (code, msg) = c.err(reg("Al", "long enough pw")).await;
    assert_eq!(code, "invalid_name");
    assert!(msg.contains("3 to 32 characters"), "{msg}");
    let (_, msg) = c.err(reg("al ice", "long enough pw")).await;
    assert!(msg.contains("` ` is not allowed"), "{msg}");
    let (_, msg) = c.err(reg("9lives", "long enough pw")).await;
    assert!(msg.contains("start with a lowercase letter"), "{msg}");
    let (code, msg) = c.err(reg("alice", "short")).await;
    assert_eq!(code, "invalid_password");
    assert!(msg.contains("at least 8"), "{msg}");
    c.ok(reg("alice", "long enough pw")).await;
    let mut d = server.hello(Transport::Ws).await;
    let (code, _) = d.err(reg("alice", "another password")).await;
    assert_eq!(code, "name_taken");
    let (code, msg) = c.err(reg("bob", "long enough pw")).await;
    assert_eq!(code, "already_done");
    assert!(msg.contains("already logged in as `alice`"), "{msg}");
}

#[tokio::test]
async fn login_whoami_resume_logout_and_password_change() {
    let server = TestServer::start().await;
    let alice = server.user(Transport::Tls, "alice").await;
    let first_token = alice.token.clone().unwrap();
    drop(alice);

    let mut c = server.hello(Transport::Ws).await;
    let (code, msg) = c
        .err(json!({"type": "login", "username": "alice", "password": "wrong password"}))
        .await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("bad_credentials", "wrong user name or password")
    );
    let (code, _) = c
        .err(json!({"type": "login", "username": "nobody", "password": "whatever1"}))
        .await;
    assert_eq!(
        code, "bad_credentials",
        "unknown users look like wrong passwords"
    );

    // Resume with the token, no password.
    let s = c.ok(json!({"type": "resume", "token": first_token})).await;
    assert_eq!(
        s["user"],
        json!({"name": "alice", "role": "member", "invisible": false})
    );
    assert_eq!(
        c.ok(json!({"type": "whoami"})).await["user"]["name"],
        "alice"
    );
    // Logout revokes that token.
    c.ok(json!({"type": "logout"})).await;
    assert_eq!(c.err(json!({"type": "whoami"})).await.0, "auth_required");
    assert_eq!(
        c.err(json!({"type": "resume", "token": first_token}))
            .await
            .0,
        "bad_token"
    );

    // A password change revokes every token and hands out a new one.
    let (mut a1, _) = server.login(Transport::Tls, "alice").await;
    let (a2, _) = server.login(Transport::Tls, "alice").await;
    let other_token = a2.token.clone().unwrap();
    let (code, _) = a1.err(json!({"type": "change_password", "old_password": "nope", "new_password": "new password 1"})).await;
    assert_eq!(code, "bad_credentials");
    let fresh = a1.ok(json!({"type": "change_password", "old_password": "password-alice", "new_password": "new password 1"})).await;
    let fresh = fresh["token"].as_str().unwrap().to_owned();
    let mut c = server.hello(Transport::Tls).await;
    assert_eq!(
        c.err(json!({"type": "resume", "token": other_token}))
            .await
            .0,
        "bad_token"
    );
    c.ok(json!({"type": "resume", "token": fresh})).await;
    let mut d = server.hello(Transport::Ws).await;
    d.ok(json!({"type": "login", "username": "alice", "password": "new password 1"}))
        .await;
}

#[tokio::test]
async fn a_visitor_can_read_public_channels_but_not_write() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let general = alice.create("general", false).await;
    let secret = alice.create("secret", true).await;
    alice.say(general, "welcome").await;

    for t in [Transport::Tls, Transport::Ws] {
        let mut v = server.hello(t).await;
        let s = v.ok(json!({"type": "visitor"})).await;
        let name = s["user"]["name"].as_str().unwrap().to_owned();
        assert!(name.starts_with("visitor-"), "{name}");
        assert_eq!(
            (s["user"]["role"].as_str(), s.get("token")),
            (Some("visitor"), None)
        );

        let list = v.ok(json!({"type": "channel_list"})).await;
        assert_eq!(
            list["channels"].as_array().unwrap().len(),
            1,
            "public channels only"
        );
        let hist = v.ok(json!({"type": "history", "conv": general})).await;
        assert_eq!(hist["messages"][0]["text"], "welcome");
        // Watching a public channel brings its messages live.
        assert_eq!(v.join("general").await, general);
        alice.say(general, "live").await;
        assert_eq!(v.event("message").await["message"]["text"], "live");

        for req in [
            json!({"type": "send", "conv": general, "text": "hi"}),
            json!({"type": "channel_create", "name": "mine"}),
            json!({"type": "dm_send", "user": "alice", "text": "hi"}),
            json!({"type": "typing", "conv": general}),
            json!({"type": "set_status", "invisible": true}),
        ] {
            let (code, msg) = v.err(req).await;
            assert_eq!(code, "forbidden");
            assert!(msg.starts_with("visitors are read-only"), "{msg}");
        }
        // A private channel is refused exactly like a missing one.
        let (code, msg) = v
            .err(json!({"type": "channel_join", "name": "secret"}))
            .await;
        let (_, msg2) = v
            .err(json!({"type": "channel_join", "name": "nothing"}))
            .await;
        assert_eq!(code, "forbidden");
        assert!(msg.starts_with("visitors are read-only"), "{msg}");
        assert_eq!(msg.replace("secret", "X"), msg2.replace("nothing", "X"));
        assert_eq!(
            v.err(json!({"type": "history", "conv": secret})).await.0,
            "not_found"
        );
        // Visitors are not users: they appear in no member list.
        let members = alice
            .ok(json!({"type": "channel_members", "name": "general"}))
            .await;
        assert_eq!(members["members"].as_array().unwrap().len(), 1);
    }
    let hist = alice.ok(json!({"type": "history", "conv": general})).await;
    assert_eq!(
        hist["messages"].as_array().unwrap().len(),
        3,
        "nothing a visitor did was stored"
    );
}
