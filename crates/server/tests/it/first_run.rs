//! A fresh server: a first channel everyone joins, and a one-time setup
//! code that makes whoever uses it the first admin (never the first to come).

use confab_testkit::{TestServer, Transport};
use serde_json::json;

fn register(name: &str, setup: Option<&str>) -> serde_json::Value {
    let mut r =
        json!({"type": "register", "username": name, "password": format!("password-{name}")});
    if let Some(code) = setup {
        r["setup"] = json!(code);
    }
    r
}

#[tokio::test]
async fn the_setup_code_makes_the_first_admin_once_and_everyone_joins_general() {
    let server = TestServer::start_with(|c| c.first_channel = Some("general".into())).await;
    let code = server
        .setup_code
        .clone()
        .expect("a fresh server prints a setup code");

    // The first to come is a member, not an admin; they are in #general.
    let mut early = server.hello(Transport::Tls).await;
    let s = early.ok(register("early", None)).await;
    assert_eq!(s["user"]["role"], "member");
    assert_eq!(s["convs"][0]["name"], "general");
    assert_eq!(s["convs"][0]["topic"], "Say hello: everyone joins here");

    // A wrong code is refused; a name refused keeps the code usable.
    let mut c = server.hello(Transport::Ws).await;
    let (code_, msg) = c.err(register("mallory", Some("0000"))).await;
    assert_eq!(code_, "forbidden");
    assert!(msg.contains("setup code is wrong"), "{msg}");
    let (e, _) = c.err(register("early", Some(&code))).await;
    assert_eq!(e, "name_taken");

    let s = c.ok(register("root", Some(&code))).await;
    assert_eq!(s["user"]["role"], "admin");
    // early hears root join #general.
    let joined = early.event("member_joined").await;
    assert_eq!(
        (joined["user"].as_str(), joined["channel"].as_str()),
        (Some("root"), Some("general"))
    );
    c.ok(json!({"type": "admin_stats"})).await;

    // Used: it works no more.
    let mut late = server.hello(Transport::Tls).await;
    let (e, _) = late.err(register("late", Some(&code))).await;
    assert_eq!(e, "forbidden");

    // With an admin, a restart prints no code and makes no second #general.
    let dir = server.stop().await;
    let again = TestServer::start_in(dir, |c| c.first_channel = Some("general".into())).await;
    assert_eq!(again.setup_code, None);
    let mut admin = again.login(Transport::Tls, "root").await.0;
    let list = admin.ok(json!({"type": "channel_list"})).await;
    assert_eq!(list["channels"].as_array().unwrap().len(), 1);
}
