//! Administration over the protocol: only admins; accounts disabled,
//! enabled, promoted, given a new password, ended, deleted; channels of
//! anyone; statistics, broadcast, shutdown; and every change in the audit
//! log with who made it and from where. Registration by invitation or
//! closed, visitors off, tokens that expire.

use std::time::Duration;

use confab_testkit::{TestServer, Transport};
use serde_json::{Value, json};

fn names(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_admin_manages_accounts_and_channels_and_every_change_is_audited() {
    let server = TestServer::start().await;
    let mut root = server.admin(Transport::Ws, "root").await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Tls, "bob").await;

    // Members are refused, naming the request.
    let (code, msg) = alice.err(json!({"type": "admin_users"})).await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("forbidden", "`admin_users` is for admins")
    );

    let users = root.ok(json!({"type": "admin_users"})).await;
    assert_eq!(names(&users, "users", "name"), ["alice", "bob", "root"]);
    assert_eq!(users["users"][0]["online"], true);
    assert_eq!(users["users"][0]["sessions"], 1);
    let found = root.ok(json!({"type": "admin_users", "query": "li"})).await;
    assert_eq!(names(&found, "users", "name"), ["alice"]);

    // Disable: alice is told and disconnected; neither her password nor
    // her token lets her back in; enabled again, her password does.
    let alice_token = alice.token.clone().unwrap();
    root.ok(json!({"type": "admin_user_update", "name": "alice", "disabled": true}))
        .await;
    let last = alice.closed().await;
    assert!(
        last.iter()
            .any(|v| v["type"] == "notice" && v["text"] == "an admin disabled your account"),
        "{last:?}"
    );
    let mut again = server.hello(Transport::Tls).await;
    let (code, msg) = again
        .err(json!({"type": "login", "username": "alice", "password": "password-alice"}))
        .await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("forbidden", "this account is disabled; ask an admin")
    );
    let (code, _) = again
        .err(json!({"type": "resume", "token": alice_token}))
        .await;
    assert_eq!(code, "bad_token");
    root.ok(json!({"type": "admin_user_update", "name": "alice", "disabled": false}))
        .await;
    let (mut alice, _) = server.login(Transport::Tls, "alice").await;

    // An admin cannot lock themselves out.
    let (code, msg) = root
        .err(json!({"type": "admin_user_update", "name": "root", "disabled": true}))
        .await;
    assert_eq!(code, "forbidden", "{msg}");
    let (code, _) = root
        .err(json!({"type": "admin_user_update", "name": "root", "role": "member"}))
        .await;
    assert_eq!(code, "forbidden");

    // A new password for bob ends his session; the new one works.
    root.ok(json!({"type": "admin_user_password", "name": "bob", "password": "a fresh password"}))
        .await;
    bob.closed().await;
    let mut bob = server.hello(Transport::Tls).await;
    bob.ok(json!({"type": "login", "username": "bob", "password": "a fresh password"}))
        .await;

    // Channels of anyone, private ones included.
    let secret = alice.create("secret", true).await;
    bob.ok(json!({"type": "dm_send", "user": "alice", "text": "hi"}))
        .await;
    let chans = root.ok(json!({"type": "admin_channels"})).await;
    assert_eq!(names(&chans, "channels", "name"), ["secret"]);
    assert_eq!(chans["channels"][0]["owner"], "alice");
    assert_eq!(chans["channels"][0]["private"], true);
    root.ok(json!({"type": "admin_channel_owner", "conv": secret, "user": "bob"}))
        .await;
    let chans = root.ok(json!({"type": "admin_channels"})).await;
    assert_eq!(chans["channels"][0]["owner"], "bob");
    root.ok(json!({"type": "admin_channel_delete", "conv": secret}))
        .await;
    let gone = alice.event("channel_deleted").await;
    assert_eq!(gone["conv"], secret);

    // Deleting bob: he is gone from the lists and cannot log in (his
    // messages stay, under `deleted-<id>`: the store's tests show it).
    root.ok(json!({"type": "admin_user_delete", "name": "bob"}))
        .await;
    bob.closed().await;
    let users = root.ok(json!({"type": "admin_users"})).await;
    assert_eq!(names(&users, "users", "name"), ["alice", "root"]);
    let mut c = server.hello(Transport::Tls).await;
    let (code, _) = c
        .err(json!({"type": "login", "username": "bob", "password": "a fresh password"}))
        .await;
    assert_eq!(code, "bad_credentials");

    // Statistics, and a broadcast everyone hears.
    let stats = root.ok(json!({"type": "admin_stats"})).await;
    assert_eq!(stats["stats"]["messages"], 1, "{stats}");
    assert!(stats["stats"]["connections"].as_u64().unwrap() >= 2);
    root.ok(json!({"type": "admin_broadcast", "text": "maintenance at noon"}))
        .await;
    assert_eq!(alice.event("notice").await["text"], "maintenance at noon");

    // The audit log, newest first: who, what, to whom, from where.
    let audit = root.ok(json!({"type": "admin_audit", "limit": 100})).await;
    let entries = audit["entries"].as_array().unwrap();
    let by_root: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["actor"] == "root" && e["action"] != "login")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap_or(""),
            )
        })
        .rev()
        .collect();
    assert_eq!(
        by_root,
        [
            ("user_disable", "alice"),
            ("user_enable", "alice"),
            ("user_password", "bob"),
            ("channel_owner", &*format!("conv {secret}")),
            ("channel_delete", "secret"),
            ("user_delete", "bob"),
            ("broadcast", ""),
        ]
    );
    assert!(
        entries.iter().all(|e| e["client"] == "127.0.0.1"),
        "{audit}"
    );
    let failed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "login_failed")
        .collect();
    assert_eq!(failed.len(), 2, "alice disabled, bob deleted: {audit}");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "register" && e["target"] == "alice")
    );

    // Shutdown: everyone is told.
    root.ok(json!({"type": "admin_shutdown", "reason": "upgrade"}))
        .await;
    assert_eq!(alice.event("shutdown").await["reason"], "upgrade");
    server.wait_stopped().await;
}

#[tokio::test]
async fn registration_by_invitation_or_closed_no_visitors_and_tokens_that_expire() {
    let server = TestServer::start_with(|c| {
        c.registration = confab_server::Registration::Invite;
        c.visitors = false;
    })
    .await;
    let mut root = server.admin(Transport::Tls, "root").await;
    let mut c = server.hello(Transport::Ws).await;
    let reg = |name: &str, invite: Option<&str>| {
        let mut r =
            json!({"type": "register", "username": name, "password": format!("password-{name}")});
        if let Some(i) = invite {
            r["invite"] = json!(i);
        }
        r
    };
    let (code, msg) = c.err(reg("ann", None)).await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("needs an invitation"), "{msg}");
    let (code, _) = c.err(reg("ann", Some("made-up"))).await;
    assert_eq!(code, "forbidden");
    let inv = root
        .ok(json!({"type": "admin_invite", "uses": 1, "hours": 1}))
        .await;
    let token = inv["token"].as_str().unwrap().to_owned();
    // A taken name does not use the invitation up.
    let (code, _) = c.err(reg("root", Some(&token))).await;
    assert_eq!(code, "name_taken");
    c.ok(reg("ann", Some(&token))).await;
    let mut d = server.hello(Transport::Ws).await;
    let (code, msg) = d.err(reg("ben", Some(&token))).await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("used up"), "{msg}");
    let (code, msg) = d.err(json!({"type": "visitor"})).await;
    assert_eq!(code, "forbidden", "{msg}");

    let closed = TestServer::start_with(|c| {
        c.registration = confab_server::Registration::Closed;
        c.token_max_age = Some(Duration::from_millis(1));
    })
    .await;
    let mut e = closed.hello(Transport::Tls).await;
    let (code, msg) = e.err(reg("cat", None)).await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("closed"), "{msg}");
    // An admin made the account; its token is older than 1 ms by the time
    // it comes back.
    let (_, session) = {
        confab_server::services::accounts::create_user(
            &**closed.handle.store(),
            &confab_proto::Limits::default(),
            "cat",
            "password-cat".into(),
            confab_proto::Role::Member,
        )
        .await
        .unwrap();
        closed.login(Transport::Tls, "cat").await
    };
    let token = session["token"].as_str().unwrap();
    let mut f = closed.hello(Transport::Tls).await;
    let (code, msg) = f.err(json!({"type": "resume", "token": token})).await;
    assert_eq!(code, "bad_token");
    assert!(msg.contains("expired"), "{msg}");
}
