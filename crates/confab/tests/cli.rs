//! The real `confab` binary: make an admin, serve on port 0, log in, stop
//! with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use confab_testkit::Client;
use serde_json::json;

fn confab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_confab"))
}

#[tokio::test]
async fn create_an_admin_then_serve_log_in_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = confab()
        .args(["admin", "create-user", "root", "--admin", "--data-dir"])
        .arg(&data)
        .env("CONFAB_PASSWORD", "root password 1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin `root`"));
    let again = confab()
        .args(["admin", "create-user", "root", "--data-dir"])
        .arg(&data)
        .env("CONFAB_PASSWORD", "root password 1")
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("a user named `root` already exists"));

    // Addresses from the environment, the data dir from a flag.
    let mut server = confab()
        .args(["serve", "--no-console", "--data-dir"])
        .arg(&data)
        .env("CONFAB_TCP", "127.0.0.1:0")
        .env("CONFAB_HTTP", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = |key: &str| -> std::net::SocketAddr {
        let field = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("{line}"));
        field.parse().unwrap()
    };
    assert!(
        line.starts_with("confab listening tcp=127.0.0.1:"),
        "{line}"
    );
    let (tcp, http) = (addr("tcp="), addr("http="));
    assert_ne!(tcp.port(), 0);

    let mut tls = Client::tls(tcp, &data).await.unwrap();
    tls.ok(json!({"type": "hello", "protocol": 1, "client": "cli-test"}))
        .await;
    let s = tls
        .ok(json!({"type": "login", "username": "root", "password": "root password 1"}))
        .await;
    assert_eq!(s["user"]["role"], "admin");
    let mut ws = Client::ws(http).await.unwrap();
    ws.ok(json!({"type": "hello", "protocol": 1, "client": "cli-test"}))
        .await;
    ws.ok(json!({"type": "visitor"})).await;

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let got = tls.closed().await;
    assert_eq!(
        got.last().unwrap(),
        &json!({"type": "shutdown", "reason": "the server received SIGTERM"})
    );
    assert!(server.wait().unwrap().success());
}
