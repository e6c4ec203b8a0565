//! The load generator against a real Confab server on port 0 (small loads:
//! these check that it measures correctly, not how fast anything is).

use confab_bench::{Args, Scenario};
use confab_testkit::TestServer;

mod common;

fn args(server: &TestServer, target: String, scenario: Scenario, json: &std::path::Path) -> Args {
    let mut a = common::small(target, scenario, std::process::id(), json);
    a.tls_ca = Some(server.dir.path().join("tls/cert.pem"));
    a
}

use common::points;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_measures_a_real_server_over_both_transports() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("points.jsonl");
    for target in [
        format!("confab-tls://{}", server.tcp),
        format!("confab-ws://{}", server.http),
    ] {
        for scenario in [Scenario::Fanout, Scenario::Rooms, Scenario::Dm] {
            confab_bench::run(args(&server, target.clone(), scenario, &json))
                .await
                .unwrap();
        }
    }
    let pts = points(&json);
    assert_eq!(pts.len(), 6);
    for p in &pts {
        // Everything sent was delivered exactly once: 40 msg/s for 0.5 s is
        // 20 messages (dm: 6 senders x 3), each to every other room member.
        assert_eq!(p["lost"], 0, "{p}");
        assert_eq!(p["duplicates"], 0, "{p}");
        assert_eq!(p["delivery_ratio"], 1.0, "{p}");
        assert!(p["sent"].as_u64().unwrap() >= 18, "{p}");
        assert_eq!(p["deliveries"], p["expected"], "{p}");
        assert!(
            p["p50_ms"].as_f64().unwrap() > 0.0 && p["p50_ms"].as_f64() <= p["max_ms"].as_f64(),
            "{p}"
        );
        assert!(p["server_cpu"].as_f64().is_some(), "{p}");
    }
    let fanout = &pts[0];
    assert_eq!(
        (fanout["sent"].as_u64(), fanout["expected"].as_u64()),
        (Some(20), Some(100))
    );

    let tls = format!("confab-tls://{}", server.tcp);
    let ws = format!("confab-ws://{}", server.http);
    for (target, scenario) in [
        (tls, Scenario::History),
        (ws.clone(), Scenario::Storm),
        (ws, Scenario::Idle),
    ] {
        confab_bench::run(args(&server, target, scenario, &json))
            .await
            .unwrap();
    }
    let pts = points(&json);
    let history = &pts[6];
    assert_eq!(
        (
            history["scenario"].as_str(),
            history["messages_in_channel"].as_u64(),
            history["errors"].as_u64()
        ),
        (Some("history"), Some(300), Some(0))
    );
    assert!(history["requests_per_s"].as_f64().unwrap() > 0.0);
    let storm = &pts[7];
    assert_eq!(
        (storm["scenario"].as_str(), storm["errors"].as_u64()),
        (Some("storm"), Some(0))
    );
    assert!(storm["all_back_s"].as_f64().unwrap() > 0.0);
    assert_eq!(pts[8]["scenario"], "idle");

    // The report renders one table per scenario.
    let md = confab_bench::report::markdown(&[json]).unwrap();
    for s in [
        "### fanout",
        "### rooms",
        "### dm",
        "### history",
        "### storm",
        "### idle",
    ] {
        assert!(md.contains(s), "{md}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_cache_is_written_reused_and_survives_stale_tokens() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("points.jsonl");
    let cache = dir.path().join("tokens.json");
    let target = format!("confab-tls://{}", server.tcp);
    let run = || {
        let mut a = args(&server, target.clone(), Scenario::Fanout, &json);
        a.token_cache = Some(cache.clone());
        confab_bench::run(a)
    };
    let read = || -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap()
    };

    run().await.unwrap();
    let first = read();
    assert_eq!(first.len(), 6, "a token per client: {first:?}");

    // Cached tokens resume: the second run keeps them.
    run().await.unwrap();
    assert_eq!(read(), first);

    // A token the server no longer knows is replaced by a fresh login.
    let mut stale = first.clone();
    let name = stale.keys().next().unwrap().clone();
    stale.insert(name.clone(), "not-a-token".into());
    std::fs::write(&cache, serde_json::to_vec(&stale).unwrap()).unwrap();
    run().await.unwrap();
    let after = read();
    assert_ne!(after[&name], "not-a-token");
    assert_eq!(after.len(), 6);

    let pts = points(&json);
    assert_eq!(pts.len(), 3);
    assert!(
        pts.iter()
            .all(|p| p["lost"] == 0 && p["delivery_ratio"] == 1.0)
    );
}

/// The upload scenario against a server's HTTPS web listener: both
/// throughputs measured, the server's memory read, and a fan-out point
/// with uploads running beside it delivers everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_measured_against_the_sink_and_beside_a_fanout() {
    use confab_testkit::http;
    let server = http::https_server(|c| c.files.quota_bytes = None).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("points.jsonl");
    let target = format!("confab-tls://{}", server.tcp);
    let mut a = common::small(target.clone(), Scenario::Upload, std::process::id(), &json);
    a.tls_ca = Some(http::cert_path(&server));
    a.web_url = Some(http::base_url(&server));
    a.file_mib = 2;
    a.uploads = 2;
    confab_bench::run(a.clone()).await.unwrap();
    a.scenario = Scenario::Fanout;
    a.uploads = 1;
    confab_bench::run(a).await.unwrap();
    let pts = points(&json);
    assert_eq!(pts.len(), 3, "{pts:?}");
    for p in &pts[..2] {
        assert_eq!(p["scenario"], "upload", "{p}");
        assert_eq!(p["file_mib"], 2.0, "{p}");
        assert!(p["confab_mib_s"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["sink_mib_s"].as_f64().unwrap() > 0.0, "{p}");
        assert!(
            p["rss_max_mib"].as_f64().unwrap() >= p["rss_start_mib"].as_f64().unwrap(),
            "{p}"
        );
    }
    let f = &pts[2];
    assert_eq!(
        (f["scenario"].as_str(), f["uploads"].as_u64()),
        (Some("fanout"), Some(1))
    );
    assert_eq!(f["lost"], 0, "{f}");
}
