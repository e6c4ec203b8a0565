//! Shared by the bench tests: a small load that checks accounting, not speed.

use std::path::Path;

use confab_bench::{Args, Scenario};

/// 6 clients, 2 senders, 40 msg/s for half a second, points appended to `json`.
pub fn small(target: String, scenario: Scenario, server_pid: u32, json: &Path) -> Args {
    Args {
        target,
        tls_ca: None,
        insecure: false,
        server_pid: Some(server_pid),
        scenario,
        clients: 6,
        senders: 2,
        rooms: 2,
        size: 64,
        rate: vec![40.0],
        sweep: false,
        duration: 0.5,
        history_messages: 300,
        token_cache: None,
        concurrency: vec![2],
        json: Some(json.to_owned()),
        label: "test".into(),
        report: vec![],
        web_url: None,
        file_mib: 1,
        uploads: 0,
        sink_url: None,
        sink_ca: None,
        nodes: 5,
        messages: 50,
    }
}

/// The points written to `json`.
pub fn points(json: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
