//! Rate limits, on a clock the test moves: a refusal says when to retry,
//! is lifted then, touches nobody else, and a flood of logins from one
//! address leaves everyone else able to log in.

use std::time::Duration;

use confab_server::{Limit, RateClock, RateConfig};
use confab_testkit::{Client, TestServer, Transport};
use serde_json::json;

fn limits(clock: &RateClock) -> RateConfig {
    RateConfig {
        enabled: true,
        clock: clock.clone(),
        ..RateConfig::default()
    }
}

#[tokio::test]
async fn sends_beyond_the_limit_are_refused_with_when_to_retry_and_allowed_then() {
    let clock = RateClock::manual();
    let server = TestServer::start_with(|c| {
        c.rates = RateConfig {
            post: Limit {
                burst: 3,
                every: Duration::from_secs(2),
            },
            ..limits(&clock)
        };
    })
    .await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    for i in 0..3 {
        alice.say(conv, &format!("burst {i}")).await;
    }
    let r = alice
        .request(json!({"type": "send", "conv": conv, "text": "one too many"}))
        .await;
    assert_eq!(r["code"], "rate_limited", "{r}");
    assert_eq!(r["retry_after_ms"], 2000, "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("try again in 2.0 s"),
        "{r}"
    );
    // Bob's bucket is his own.
    bob.say(conv, "bob is not limited").await;
    // Nothing was stored for the refused send.
    let h = bob.ok(json!({"type": "history", "conv": conv})).await;
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["burst 0", "burst 1", "burst 2", "bob is not limited"]
    );
    // Half the wait is not enough; all of it is.
    clock.advance(Duration::from_secs(1));
    let r = alice
        .request(json!({"type": "send", "conv": conv, "text": "too early"}))
        .await;
    assert_eq!(r["retry_after_ms"], 1000, "{r}");
    clock.advance(Duration::from_secs(1));
    alice.say(conv, "after the wait").await;
    let stats = server.handle.stats();
    assert_eq!(
        stats
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn a_login_flood_from_one_address_leaves_others_able_to_log_in() {
    let clock = RateClock::manual();
    let server = TestServer::start_with(|c| {
        // The clients come through a proxy on loopback that says who they are.
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.rates = RateConfig {
            login: Limit {
                burst: 5,
                every: Duration::from_secs(60),
            },
            register: Limit {
                burst: 100,
                every: Duration::from_secs(1),
            },
            ..limits(&clock)
        };
    })
    .await;
    drop(server.user(Transport::Tls, "carol").await);

    // 40 connections from one address guess carol's password at once.
    let attacker = [("x-forwarded-for", "203.0.113.66")];
    let mut floods = Vec::new();
    for i in 0..40 {
        let mut c = Client::ws_with_headers(server.http, &attacker)
            .await
            .unwrap();
        c.ok(json!({"type": "hello", "protocol": 1, "client": "flood"}))
            .await;
        floods.push(tokio::spawn(async move {
            c.request(
                json!({"type": "login", "username": "carol", "password": format!("guess-{i:04}")}),
            )
            .await
        }));
    }
    // Carol logs in from her own address meanwhile, and gets in.
    let mut carol = Client::ws_with_headers(server.http, &[("x-forwarded-for", "198.51.100.7")])
        .await
        .unwrap();
    carol
        .ok(json!({"type": "hello", "protocol": 1, "client": "carol"}))
        .await;
    let s = carol
        .ok(json!({"type": "login", "username": "carol", "password": "password-carol"}))
        .await;
    assert_eq!(s["user"]["name"], "carol");

    let mut codes = std::collections::BTreeMap::new();
    for f in floods {
        let r = f.await.unwrap();
        *codes
            .entry(r["code"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
        if r["code"] == "rate_limited" {
            assert!(r["retry_after_ms"].as_u64().unwrap() > 0, "{r}");
        }
    }
    assert_eq!(
        codes,
        [
            ("bad_credentials".to_owned(), 5),
            ("rate_limited".to_owned(), 35)
        ]
        .into(),
        "only the burst's worth of passwords was checked"
    );
    // A minute later the address has one more try, no more.
    clock.advance(Duration::from_secs(60));
    let mut again = Client::ws_with_headers(server.http, &attacker)
        .await
        .unwrap();
    again
        .ok(json!({"type": "hello", "protocol": 1, "client": "flood"}))
        .await;
    let login = json!({"type": "login", "username": "carol", "password": "guess-again"});
    assert_eq!(
        again.request(login.clone()).await["code"],
        "bad_credentials"
    );
    assert_eq!(again.request(login).await["code"], "rate_limited");
}
