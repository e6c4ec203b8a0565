//! `--domain`: a trusted certificate obtained by ACME from Debian's pebble
//! (a test certificate authority) on loopback. Pebble's validator resolves
//! the name through pebble-challtestsrv's DNS to 127.0.0.1 and checks the
//! TLS-ALPN-01 challenge on the web listener; the certificate it issues is
//! then what clients get.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use confab_testkit::{TestServer, poll, trusting};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DOMAIN: &str = "chat.confab.test";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Killed with the test.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> Proc {
    Proc(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e} (Debian's `pebble` package has it)")),
    )
}

/// GET over HTTPS (HTTP/1.0, so the body ends with the connection).
async fn https_get(
    addr: SocketAddr,
    name: &str,
    trust: Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = tokio_rustls::TlsConnector::from(trust)
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await?;
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: {name}\r\n\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn write_pebble_config(
    dir: &Path,
    dir_port: u16,
    mgmt_port: u16,
    tls_port: u16,
) -> std::path::PathBuf {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("pebble.pem"), made.cert.pem()).unwrap();
    std::fs::write(dir.join("pebble.key"), made.signing_key.serialize_pem()).unwrap();
    let config = serde_json::json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{dir_port}"),
        "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
        "certificate": dir.join("pebble.pem"),
        "privateKey": dir.join("pebble.key"),
        "httpPort": free_port(),
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    let path = dir.join("pebble.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

#[tokio::test]
async fn a_certificate_obtained_by_acme_is_presented_to_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (web, dir_port, mgmt_port, dns_port, chall_port) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let config = write_pebble_config(dir.path(), dir_port, mgmt_port, web);
    let _dns = spawn(Command::new("pebble-challtestsrv").args([
        "-management",
        &format!("127.0.0.1:{chall_port}"),
        "-dns01",
        &format!("127.0.0.1:{dns_port}"),
        "-http01",
        "",
        "-https01",
        "",
        "-tlsalpn01",
        "",
        "-defaultIPv4",
        "127.0.0.1",
        "-defaultIPv6",
        "",
    ]));
    let _ca = spawn(
        Command::new("pebble")
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            // No random waits, no random nonce refusals: a quick, plain CA.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0"),
    );
    let pebble_https = trusting(&[&dir.path().join("pebble.pem")]).unwrap();
    let directory: SocketAddr = ([127, 0, 0, 1], dir_port).into();
    poll(
        "pebble's directory",
        Duration::from_millis(50),
        async || {
            https_get(directory, "127.0.0.1", pebble_https.clone(), "/dir")
                .await
                .ok()
        },
    )
    .await
    .unwrap();

    let server = TestServer::start_with(|c| {
        c.http = ([127, 0, 0, 1], web).into();
        c.acme = Some(confab_server::Acme {
            domains: vec![DOMAIN.into()],
            directory: format!("https://127.0.0.1:{dir_port}/dir"),
            contact: vec!["mailto:admin@confab.test".into()],
            directory_ca: Some(dir.path().join("pebble.pem")),
        });
    })
    .await;
    assert_eq!(server.fingerprint, "acme");

    // Pebble issues from a root of its own, made at its start.
    let mgmt: SocketAddr = ([127, 0, 0, 1], mgmt_port).into();
    let root = https_get(mgmt, "127.0.0.1", pebble_https.clone(), "/roots/0")
        .await
        .unwrap();
    let pem = &root[root.find("-----BEGIN").expect("a PEM root")..];
    std::fs::write(dir.path().join("root.pem"), pem).unwrap();
    let trust_pebble_root = trusting(&[&dir.path().join("root.pem")]).unwrap();

    // Once issued, the web listener presents it for the name: a client
    // that trusts only pebble's root gets in and is answered.
    let addr: SocketAddr = ([127, 0, 0, 1], web).into();
    let answer = poll(
        "the certificate from pebble",
        Duration::from_millis(100),
        async || {
            https_get(addr, DOMAIN, trust_pebble_root.clone(), "/healthz")
                .await
                .ok()
        },
    )
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(answer.ends_with("ok"), "{answer}");
    // The account and certificate are cached in the data dir for restarts.
    let cached: Vec<_> = std::fs::read_dir(server.dir.path().join("acme"))
        .unwrap()
        .collect();
    assert!(cached.len() >= 2, "{cached:?}");
}
