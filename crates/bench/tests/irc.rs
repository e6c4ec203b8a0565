//! The IRC adapter against a real ngircd (Debian's package; `.ci/run`
//! installs it). The same load as the Confab tests, the same accounting.

use std::process::{Child, Command, Stdio};

use confab_bench::Scenario;

mod common;

struct Ngircd(Child);

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_and_dm_through_a_real_ngircd() {
    if Command::new("ngircd")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install ngircd (see .ci/run)"
        );
        eprintln!("ngircd is not installed here; skipping (apt-get install ngircd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("ngircd.conf");
    std::fs::write(
        &conf,
        format!(
            "[Global]\nName = irc.test.local\nInfo = test\nListen = 127.0.0.1\nPorts = {port}\n\
             [Limits]\nMaxConnectionsIP = 0\nMaxJoins = 0\nMaxPenaltyTime = 0\n\
             [Options]\nDNS = no\nIdent = no\nPAM = no\n"
        ),
    )
    .unwrap();
    let child = Command::new("ngircd")
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Ngircd(child);
    // Wait for the port with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "ngircd did not listen on {port}"
        );
        tokio::task::yield_now().await;
    }
    let json = dir.path().join("points.jsonl");
    for scenario in [Scenario::Fanout, Scenario::Dm] {
        let mut args = common::small(
            format!("irc://127.0.0.1:{port}"),
            scenario,
            server.0.id(),
            &json,
        );
        args.label = "ngircd".into();
        confab_bench::run(args).await.unwrap();
    }
    let pts = common::points(&json);
    assert_eq!(pts.len(), 2);
    for p in &pts {
        assert_eq!(
            (p["lost"].as_u64(), p["duplicates"].as_u64()),
            (Some(0), Some(0)),
            "{p}"
        );
        assert_eq!(p["deliveries"], p["expected"], "{p}");
        assert!(
            p["server_rss_mib"].as_f64().unwrap() > 0.0,
            "read ngircd's memory from /proc: {p}"
        );
    }
    assert_eq!(
        (pts[0]["sent"].as_u64(), pts[0]["expected"].as_u64()),
        (Some(20), Some(100))
    );
}
