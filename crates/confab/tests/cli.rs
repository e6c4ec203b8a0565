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
    assert_eq!(
        addr("udp=").port(),
        tcp.port(),
        "typing datagrams go to the TLS port's number"
    );
    let announced = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tls-sha256="));
    assert_eq!(announced.map(|f| f.len()), Some(32 * 3 - 1), "{line}");

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

/// Runs `confab ARGS` with a profile home and a server, returning status,
/// stdout and stderr.
async fn client_cmd(home: &std::path::Path, server: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .env("CONFAB_HOME", home)
        .env("CONFAB_SERVER", server)
        .env("CONFAB_PASSWORD", "password-for-tests")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("confab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn scripts_log_in_send_read_history_and_queue_while_the_server_is_down() {
    use confab_testkit::{DEADLINE, TestServer};
    use tokio::io::AsyncBufReadExt;
    let server = TestServer::start().await;
    let (tcp, http) = (server.tcp, server.http);
    let addr = tcp.to_string();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    // An unknown self-signed certificate is refused without a terminal,
    // naming the fingerprint to pass.
    let (code, _, err) = client_cmd(home, &addr, &["login", "--register", "ann"]).await;
    assert_ne!(code, 0);
    let fp = err
        .split("--trust ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("the error names the fingerprint: {err}"))
        .to_owned();
    assert_eq!(
        fp, server.fingerprint,
        "the client shows what the server announces"
    );
    let (code, out, err) =
        client_cmd(home, &addr, &["login", "--register", "ann", "--trust", &fp]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("as ann (member)"), "{out}");

    let mut bob = server.user(confab_testkit::Transport::Tls, "bob").await;
    let general = bob.create("general", true).await;
    bob.ok(serde_json::json!({"type": "channel_invite", "name": "general", "user": "ann"}))
        .await;
    let (code, _, err) = client_cmd(
        home,
        &addr,
        &["send", "#general", "hello", "from", "a", "script"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let ev = bob.event("message").await;
    assert_eq!(ev["message"]["text"], "hello from a script");
    assert_eq!(ev["message"]["sender"], "ann");
    bob.say(general, "hi ann").await;

    let (code, out, err) = client_cmd(home, &addr, &["history", "#general", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let said: Vec<(&str, &str)> = lines
        .iter()
        .map(|v| (v["sender"].as_str().unwrap(), v["text"].as_str().unwrap()))
        .collect();
    assert_eq!(said, [("ann", "hello from a script"), ("bob", "hi ann")]);

    // The server is down: the message is queued (exit 75) and the cache still reads.
    let dir = server.stop().await;
    let (code, _, err) = client_cmd(
        home,
        &addr,
        &["send", "--wait", "1", "#general", "written offline"],
    )
    .await;
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("queued"), "{err}");
    let (code, out, _) = client_cmd(home, &addr, &["history", "#general"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("<bob> hi ann"), "{out}");

    // Back up: `tail` sends the queued message on connecting and prints what arrives.
    let server = TestServer::start_in(dir, |c| {
        c.tcp = tcp;
        c.http = http;
    })
    .await;
    let mut bob = server.login(confab_testkit::Transport::Tls, "bob").await.0;
    let mut tail = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["tail", "--json", "#general"])
        .env("CONFAB_HOME", home)
        .env("CONFAB_SERVER", &addr)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        (v["sender"].as_str(), v["text"].as_str()),
        (Some("ann"), Some("written offline"))
    );
    bob.say(general, "welcome back").await;
    let next = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&next).unwrap();
    assert_eq!(
        (v["sender"].as_str(), v["text"].as_str()),
        (Some("bob"), Some("welcome back"))
    );
    tail.kill().await.ok();
}

/// Starts `confab serve` with `CONFAB_CONFIG=config` on port 0; returns the
/// process and its TLS address.
fn serve_with_config(config: &std::path::Path) -> (std::process::Child, std::net::SocketAddr) {
    let mut server = confab()
        .args(["serve", "--no-console"])
        .env("CONFAB_CONFIG", config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let tcp = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tcp="))
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    (server, tcp)
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `confab admin backup` while messages keep arriving: the copy passes
/// SQLite's integrity check, holds every message acknowledged before it
/// began, in order, and a server started on it (the documented restore)
/// serves them. `admin` finds the data dir through the same config file as
/// `serve`, and the data is private to its owner.
#[tokio::test]
async fn a_backup_taken_under_load_restores_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("confab.toml");
    std::fs::write(
        &config,
        format!(
            // One client writing as fast as it can: a load, not a person.
            "data_dir = {:?}\ntcp = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\nudp = \"off\"\nrate_limits = false\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let (mut server, tcp) = serve_with_config(&config);
    #[cfg(unix)]
    {
        assert_eq!(mode(&data), 0o700, "the data dir");
        assert_eq!(mode(&data.join("confab.db")), 0o600, "the database");
        assert_eq!(mode(&data.join("tls/key.pem")), 0o600, "the TLS key");
    }

    let mut alice = Client::tls(tcp, &data).await.unwrap();
    alice
        .ok(json!({"type": "hello", "protocol": 1, "client": "backup-test"}))
        .await;
    alice
        .ok(json!({"type": "register", "username": "alice", "password": "password-alice"}))
        .await;
    let conv = alice.create("backups", false).await;
    // Messages flow all through the backup.
    let (acked_tx, acked) = tokio::sync::watch::channel(0u64);
    let stop = tokio_util::sync::CancellationToken::new();
    let sender = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut n = 0u64;
            while !stop.is_cancelled() {
                n += 1;
                let m = alice.say(conv, &format!("message {n}")).await;
                assert_eq!(m["seq"].as_u64(), Some(n));
                acked_tx.send_replace(n);
            }
            n
        }
    });
    let mut seen = acked.clone();
    seen.wait_for(|n| *n >= 100).await.unwrap();
    let before = *acked.borrow();
    let copy = dir.path().join("copy.db");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["admin", "backup"])
        .arg(&copy)
        .env("CONFAB_CONFIG", &config)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("integrity check ok"), "{stdout}");
    stop.cancel();
    let sent = sender.await.unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&copy), 0o600, "the copy");

    // A second backup to the same file is refused, and the copy is untouched.
    let again = confab()
        .args(["admin", "backup"])
        .arg(&copy)
        .env("CONFAB_CONFIG", &config)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let db = rusqlite::Connection::open(&copy).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (count, max): (u64, u64) = db
        .query_row(
            "SELECT COUNT(*), MAX(seq) FROM messages WHERE conv = ?1",
            [conv as i64],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .unwrap();
    assert!(
        count >= before && count <= sent,
        "{count} messages in the copy; {before} acknowledged before it began, {sent} sent in all"
    );
    assert_eq!(max, count, "no gaps: seq 1..={count}");
    drop(db);

    // Restore as OPERATIONS.md says: stop, put the copy in place, start.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.wait().unwrap().success());
    for f in ["confab.db", "confab.db-wal", "confab.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    std::fs::copy(&copy, data.join("confab.db")).unwrap();
    let (mut server, tcp) = serve_with_config(&config);
    let mut alice = Client::tls(tcp, &data).await.unwrap();
    alice
        .ok(json!({"type": "hello", "protocol": 1, "client": "backup-test"}))
        .await;
    alice
        .ok(json!({"type": "login", "username": "alice", "password": "password-alice"}))
        .await;
    let h = alice
        .ok(json!({"type": "history", "conv": conv, "limit": 1}))
        .await;
    assert_eq!(h["messages"][0]["text"], format!("message {count}"), "{h}");
    let next = alice.say(conv, "after the restore").await;
    assert_eq!(next["seq"].as_u64(), Some(count + 1));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// With a certificate the web address is https://, and SIGHUP makes the
/// server read the certificate files again.
#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_certificate() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let pair = |name: &str| {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (c, k) = (
            dir.path().join(format!("{name}.pem")),
            dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&c, made.cert.pem()).unwrap();
        std::fs::write(&k, made.signing_key.serialize_pem()).unwrap();
        (c, k)
    };
    let (cert, key) = pair("live");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "serve",
            "--no-console",
            "--tcp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--udp",
            "off",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("CONFAB_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let line = out.next_line().await.unwrap().unwrap();
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap();
    assert!(line.contains(&format!("web=https://{http}/")), "{line}");
    let fp = |line: &str| {
        line.split_whitespace()
            .find_map(|w| {
                w.strip_prefix("tls-sha256=")
                    .or_else(|| w.strip_prefix("fingerprint="))
            })
            .map(str::to_owned)
    };
    let first = fp(&line).unwrap();

    let (new_cert, new_key) = pair("next");
    std::fs::rename(&new_cert, &cert).unwrap();
    std::fs::rename(&new_key, &key).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut err = tokio::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let reloaded = tokio::time::timeout(confab_testkit::DEADLINE, async {
        while let Some(l) = err.next_line().await.unwrap() {
            if l.contains("TLS certificate reloaded") {
                return l;
            }
        }
        panic!("the server ended without reloading");
    })
    .await
    .expect("the reload is logged");
    let now = fp(&reloaded).unwrap_or_else(|| panic!("{reloaded}"));
    assert_ne!(now, first, "{reloaded}");
    server.kill().await.unwrap();
}

/// Logs as JSON into a file, with every failed login and its client
/// address, as fail2ban needs.
#[tokio::test]
async fn failed_logins_are_logged_with_the_client_address_as_json_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("confab.log");
    let mut server = confab()
        .args([
            "serve",
            "--no-console",
            "--tcp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--udp",
            "off",
            "--log-format",
            "json",
            "--log-file",
        ])
        .arg(&log)
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let tcp: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tcp="))
        .unwrap()
        .parse()
        .unwrap();
    let mut c = Client::tls(tcp, &data).await.unwrap();
    c.ok(json!({"type": "hello", "protocol": 1, "client": "log-test"}))
        .await;
    let (code, _) = c
        .err(json!({"type": "login", "username": "mallory", "password": "guess-guess"}))
        .await;
    assert_eq!(code, "bad_credentials");
    let entry = confab_testkit::poll(
        "the failed login in the log",
        std::time::Duration::from_millis(20),
        async || {
            std::fs::read_to_string(&log)
                .ok()?
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON"))
                .find(|v| v["fields"]["message"] == "login failed")
        },
    )
    .await
    .unwrap();
    assert_eq!(entry["level"], "WARN", "{entry}");
    assert_eq!(entry["fields"]["client"], "127.0.0.1", "{entry}");
    assert_eq!(entry["fields"]["user"], "mallory", "{entry}");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `confab admin` against a running server over the protocol (as the
/// admin logged in on a profile), then the same commands on the stopped
/// server's data directory; both record in one audit log.
#[tokio::test]
async fn confab_admin_over_the_protocol_and_on_a_stopped_servers_data_dir() {
    use confab_testkit::{TestServer, Transport};
    let server = TestServer::start().await;
    let addr = server.tcp.to_string();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    confab_server::services::accounts::create_user(
        &**server.handle.store(),
        &confab_proto::Limits::default(),
        "root",
        "password-for-tests".into(),
        confab_proto::Role::Admin,
    )
    .await
    .unwrap();
    let mut ann = server.user(Transport::Tls, "ann").await;
    ann.create("lobby", false).await;
    let fp = server.fingerprint.clone();
    let (code, _, err) = client_cmd(home, &addr, &["login", "root", "--trust", &fp]).await;
    assert_eq!(code, 0, "{err}");

    let admin = |args: &'static [&'static str]| {
        let mut all = vec!["admin", "--server", &addr];
        all.extend_from_slice(args);
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            client_cmd(home, "unused:1", &refs).await
        }
    };
    let (code, out, err) = admin(&["users", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let users: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["ann", "root"]);
    let (code, out, err) = admin(&["user", "ann", "--disable"]).await;
    assert_eq!((code, out.trim()), (0, "done"), "{err}");
    assert!(!ann.closed().await.is_empty(), "ann is disconnected");
    let (code, out, _) = admin(&["stats"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("\"messages\": 0"), "{out}");
    let (code, out, _) = admin(&["channels"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("lobby") && out.contains("ann"), "{out}");
    let dir = server.stop().await;

    // Stopped: the same on its data directory (no --server).
    let data = dir.path();
    let local = |args: &[&str]| {
        confab()
            .arg("admin")
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .env("CONFAB_PASSWORD", "a new password")
            .output()
            .unwrap()
    };
    let out = local(&["users"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ann") && l.contains("disabled")),
        "{text}"
    );
    let out = local(&["user", "ann", "--enable"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = local(&["reset-password", "ann"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = local(&["stats"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
    let out = local(&["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<(String, String)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "login" && e["action"] != "register")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .rev()
        .collect();
    assert_eq!(
        actions,
        [
            ("user_disable".to_owned(), "root".to_owned()),
            ("user_enable".to_owned(), "(local admin)".to_owned()),
            ("user_password".to_owned(), "(local admin)".to_owned()),
        ]
    );
    // A data dir with no database is named, not silently created.
    let empty = tempfile::tempdir().unwrap();
    let out = confab()
        .args(["admin", "users", "--data-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Confab database"));

    // Back up: ann's new password works.
    let server = TestServer::start_in(dir, |_| {}).await;
    let mut c = server.hello(Transport::Ws).await;
    c.ok(serde_json::json!({"type": "login", "username": "ann", "password": "a new password"}))
        .await;
}

/// `confab config check` says what `serve` would use and where each came
/// from; a bad value is named; completions and the man page are printed.
#[test]
fn config_check_completions_and_the_man_page() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confab.toml");
    std::fs::write(
        &file,
        "data_dir = \"/srv/chat\"\nregistration = \"invite\"\n",
    )
    .unwrap();
    let out = confab()
        .args(["config", "check", "--config"])
        .arg(&file)
        .args(["--http", "0.0.0.0:8443"])
        .env("CONFAB_TCP", "0.0.0.0:7000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_owned()
    };
    assert!(
        row("data_dir").contains("/srv/chat") && row("data_dir").contains("confab.toml (data_dir)")
    );
    assert!(row("tcp").contains("0.0.0.0:7000") && row("tcp").ends_with("$CONFAB_TCP"));
    assert!(row("http").contains("0.0.0.0:8443") && row("http").ends_with("--http"));
    assert!(
        row("web").contains("HTTPS"),
        "beyond loopback: {}",
        row("web")
    );
    assert!(row("registration").contains("invite"));
    assert!(row("heartbeat_secs").ends_with("default"));
    std::fs::write(&file, "registration = \"maybe\"\n").unwrap();
    let out = confab()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("registration is open, invite or closed")
    );
    // A relay on every address needs the IP browsers reach it by.
    let out = confab()
        .args(["config", "check", "--turn", "0.0.0.0:3478"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--turn-public-ip"));
    let out = confab()
        .args(["config", "check", "--turn", "0.0.0.0:3478"])
        .args(["--turn-public-ip", "192.0.2.7"])
        .output()
        .unwrap();
    assert!(out.status.success());

    let bash = confab().args(["completions", "bash"]).output().unwrap();
    assert!(String::from_utf8_lossy(&bash.stdout).contains("complete -F _confab"));
    let man = confab().arg("man").output().unwrap();
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.contains(".TH confab 1") && man.contains("commit"),
        "{man}"
    );
}

/// A fresh `confab serve` prints a one-time setup link; registering with
/// its code makes the first admin, who is in #general; the code works once.
#[tokio::test]
async fn a_fresh_server_prints_a_setup_code_that_makes_the_first_admin() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "serve",
            "--no-console",
            "--tcp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--udp",
            "off",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let line = out.next_line().await.unwrap().unwrap();
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("{line}"))
            .to_owned()
    };
    let (tcp, http, fp) = (field("tcp="), field("http="), field("tls-sha256="));
    let mut err = tokio::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let link = tokio::time::timeout(confab_testkit::DEADLINE, async {
        while let Some(l) = err.next_line().await.unwrap() {
            if l.contains("#setup=") {
                return l.trim().to_owned();
            }
        }
        panic!("no setup link");
    })
    .await
    .unwrap();
    assert!(
        link.starts_with(&format!("http://{http}/#setup=")),
        "{link}"
    );
    let code = link.rsplit('=').next().unwrap().to_owned();

    let home = tempfile::tempdir().unwrap();
    let (status, stdout, stderr) = client_cmd(
        home.path(),
        &tcp,
        &[
            "login",
            "--register",
            "root",
            "--setup",
            &code,
            "--trust",
            &fp,
        ],
    )
    .await;
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("as root (admin)"), "{stdout}");
    let (status, _, stderr) = client_cmd(home.path(), &tcp, &["send", "#general", "hello"]).await;
    assert_eq!(status, 0, "the first admin is in #general: {stderr}");

    let other = tempfile::tempdir().unwrap();
    let (status, _, stderr) = client_cmd(
        other.path(),
        &tcp,
        &[
            "login",
            "--register",
            "eve",
            "--setup",
            &code,
            "--trust",
            &fp,
        ],
    )
    .await;
    assert_ne!(status, 0);
    assert!(
        stderr.contains("setup code is wrong, or was already used"),
        "{stderr}"
    );
    server.kill().await.unwrap();
}

/// `confab upload` and `confab download`: progress as JSON lines, the
/// SHA-256 checked, an interrupted upload and download resumed, a corrupt
/// partial download refused, a file over the limit refused before a byte
/// is sent, an offer.
#[tokio::test]
async fn upload_and_download_from_the_command_line_with_progress_and_resume() {
    use confab_testkit::{DEADLINE, http};
    use tokio::io::AsyncBufReadExt;
    let server = http::https_server(|c| c.files.max_bytes = 100_000_000).await;
    let addr = server.tcp.to_string();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let fp = server.fingerprint.clone();
    let (code, _, err) =
        client_cmd(home, &addr, &["login", "--register", "ann", "--trust", &fp]).await;
    assert_eq!(code, 0, "{err}");
    let mut bob = http::user(&server, "bob").await;
    bob.create("general", true).await;
    bob.ok(serde_json::json!({"type": "channel_invite", "name": "general", "user": "ann"}))
        .await;
    let json_lines = |out: &str| -> Vec<serde_json::Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };

    // A 3 MB file: progress, then the posted file with its hash.
    let files = tempfile::tempdir().unwrap();
    let small = files.path().join("notes.bin");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&small, &bytes).unwrap();
    let small_s = small.display().to_string();
    let (code, out, err) =
        client_cmd(home, &addr, &["upload", &small_s, "#general", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "progress" && l["phase"] == "uploading"),
        "{out}"
    );
    let posted = lines.last().unwrap();
    assert_eq!(posted["event"], "posted", "{out}");
    assert_eq!(posted["conv"], "#general");
    assert_eq!(posted["file"]["name"], "notes.bin");
    assert_eq!(posted["file"]["size"], 3_000_000);
    assert_eq!(posted["file"]["sha256"], http::sha256_hex(&bytes));
    let id = posted["file"]["id"].as_str().unwrap().to_owned();
    let ev = bob.event("message").await;
    assert_eq!(ev["message"]["kind"], "file");
    assert_eq!(ev["message"]["file"]["id"], id.as_str());
    // `history` says how to save it.
    let (_, out, _) = client_cmd(home, &addr, &["history", "#general"]).await;
    assert!(out.contains(&format!("(confab download {id})")), "{out}");

    // Downloaded into a folder under its own name, checked.
    let saved = tempfile::tempdir().unwrap();
    let saved_s = saved.path().display().to_string();
    let (code, out, err) = client_cmd(home, &addr, &["download", &id, &saved_s, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["event"], "saved");
    assert_eq!(
        std::fs::read(saved.path().join("notes.bin")).unwrap(),
        bytes
    );

    // A partial download resumes from its part file (the first progress
    // already counts it) and ends as the same bytes.
    let again = tempfile::tempdir().unwrap();
    let dest = again.path().join("copy.bin");
    let part = again.path().join("copy.bin.part");
    std::fs::write(&part, &bytes[..1_000_000]).unwrap();
    let dest_s = dest.display().to_string();
    let (code, out, err) = client_cmd(home, &addr, &["download", &id, &dest_s, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    let first = lines.iter().find(|l| l["phase"] == "downloading").unwrap();
    assert_eq!(first["done"].as_u64(), Some(1_000_000), "{out}");
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert!(!part.exists());

    // A part file with other bytes: the whole is refused, nothing saved
    // (and the bad part is gone, so the next try starts clean and works).
    let bad = again.path().join("bad.bin");
    std::fs::write(again.path().join("bad.bin.part"), vec![0u8; 1_000_000]).unwrap();
    let bad_s = bad.display().to_string();
    let (code, _, err) = client_cmd(home, &addr, &["download", &id, &bad_s]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("SHA-256") && err.contains("not saved"),
        "{err}"
    );
    assert!(!bad.exists() && !again.path().join("bad.bin.part").exists());
    let (code, _, err) = client_cmd(home, &addr, &["download", &id, &bad_s]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&bad).unwrap(), bytes);

    // A download of what does not exist, or is not a file id.
    let (code, _, err) = client_cmd(home, &addr, &["download", &"0".repeat(32)]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("no such file, or you may not read it"),
        "{err}"
    );
    let (code, _, err) = client_cmd(home, &addr, &["download", "../../etc/passwd"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("is not a file id"), "{err}");

    // An upload cut part way (the process killed) goes on from where the
    // server's bytes end when it is run again.
    let big = files.path().join("big.bin");
    let big_bytes: Vec<u8> = (0..60_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&big, &big_bytes).unwrap();
    let big_s = big.display().to_string();
    let mut first_run = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["upload", &big_s, "#general", "--json"])
        .env("CONFAB_HOME", home)
        .env("CONFAB_SERVER", &addr)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(first_run.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(DEADLINE, out.next_line())
            .await
            .expect("progress in time")
            .unwrap()
            .expect("progress before the end");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_ne!(v["event"], "posted", "the upload was to be cut: {line}");
        if v["phase"] == "uploading" && v["done"].as_u64() > Some(0) {
            break;
        }
    }
    first_run.kill().await.unwrap();
    let (code, out, err) = client_cmd(home, &addr, &["upload", &big_s, "#general", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    let resumed_at = lines
        .iter()
        .find(|l| l["phase"] == "uploading")
        .and_then(|l| l["done"].as_u64())
        .unwrap();
    assert!(resumed_at > 0, "resumed from the server's offset: {out}");
    let posted = lines.last().unwrap();
    assert_eq!(posted["file"]["sha256"], http::sha256_hex(&big_bytes));
    let ev = bob.event("message").await;
    assert_eq!(ev["message"]["file"]["size"], 60_000_000);

    // Over the limit: refused before anything is sent.
    let huge = files.path().join("huge.bin");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(100_000_001)
        .unwrap();
    let huge_s = huge.display().to_string();
    let (code, _, err) = client_cmd(home, &addr, &["upload", &huge_s, "#general"]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "the file is 100000001 bytes; this server takes files of up to 100000000 bytes"
        ),
        "{err}"
    );

    // An offer to bob: he sees an offer, not a file he can fetch.
    let (code, out, err) = client_cmd(
        home,
        &addr,
        &["upload", &small_s, "@bob", "--offer", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_lines(&out).last().unwrap()["offer"], true, "{out}");
    let ev = bob.event("message").await;
    assert_eq!(ev["message"]["kind"], "offer");
}

/// A printing command whose reader goes away (`confab schema | head`)
/// ends quietly and successfully, not with a panic.
#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    let mut child = confab()
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The schema is larger than a pipe holds: the writer meets the close.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}
