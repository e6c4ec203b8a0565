//! HTTP against the web listener, for file tests: a server with HTTPS on
//! it ([`https_server`]), a client that trusts its certificate, tus
//! metadata, and the third-party tus clients the tests run (tuspy from
//! PyPI in a virtualenv, tus-js-client from npm), each fetched once into
//! `target/` at a pinned version.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use confab_server::Config;
use sha2::Digest;

use crate::TestServer;

/// A server whose web listener speaks HTTPS, with a certificate for
/// 127.0.0.1 and localhost (its PEM is [`cert_path`]).
pub async fn https_server(tune: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a certificate");
    let (cert, key) = (dir.path().join("web.pem"), dir.path().join("web.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    TestServer::start_in(dir, |c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
        tune(c);
    })
    .await
}

/// The certificate of an [`https_server`].
pub fn cert_path(server: &TestServer) -> PathBuf {
    server.dir.path().join("web.pem")
}

/// `https://127.0.0.1:PORT` of an [`https_server`].
pub fn base_url(server: &TestServer) -> String {
    format!("https://127.0.0.1:{}", server.http.port())
}

/// An HTTP client that trusts an [`https_server`]'s certificate.
pub fn client(server: &TestServer) -> reqwest::Client {
    let tls = crate::trusting(&[&cert_path(server)]).expect("trust the certificate");
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()
        .expect("an HTTP client")
}

/// `Upload-Metadata` from pairs (values base64, as tus says).
pub fn tus_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `Upload-Checksum` for a body.
pub fn tus_checksum(bytes: &[u8]) -> String {
    format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
    )
}

fn target_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target")
        .join(name)
}

/// Installs into `dir` once (beside, then moved in whole, so two test
/// processes never see half an install).
fn install_once(
    cell: &'static OnceLock<Result<PathBuf, String>>,
    dir: PathBuf,
    ready: &'static str,
    install: impl FnOnce(&Path) -> Result<(), String>,
) -> PathBuf {
    let got = cell.get_or_init(|| {
        if !dir.join(ready).exists() {
            let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            install(&tmp)?;
            let _ = std::fs::rename(&tmp, &dir);
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Ok(dir)
    });
    match got {
        Ok(d) => d.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what} did not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The tuspy release the tests use.
pub const TUSPY: &str = "1.1.0";

/// A Python with tuspy installed (a virtualenv under `target/`).
pub fn tuspy_python() -> PathBuf {
    static CELL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = install_once(
        &CELL,
        target_dir(&format!("tuspy-{TUSPY}")),
        "bin/python",
        |tmp| {
            run(
                Command::new("python3").args(["-m", "venv"]).arg(tmp),
                "python3 -m venv (the tuspy tests need Python 3 with venv)",
            )?;
            run(
                Command::new(tmp.join("bin/pip")).args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &format!("tuspy=={TUSPY}"),
                ]),
                "pip install tuspy",
            )
        },
    );
    dir.join("bin/python")
}

/// The tus-js-client release the tests use.
pub const TUS_JS: &str = "4.3.1";

/// A directory whose `node_modules` holds tus-js-client (run node there).
pub fn tus_js_dir() -> PathBuf {
    static CELL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    install_once(
        &CELL,
        target_dir(&format!("tus-js-client-{TUS_JS}")),
        "node_modules/tus-js-client/package.json",
        |tmp| {
            std::fs::create_dir_all(tmp).map_err(|e| e.to_string())?;
            run(
                Command::new("npm")
                    .args([
                        "install",
                        "--no-save",
                        "--no-audit",
                        "--no-fund",
                        "--prefix",
                    ])
                    .arg(tmp)
                    .arg(format!("tus-js-client@{TUS_JS}")),
                "npm install tus-js-client (the tests need Node.js and npm)",
            )
        },
    )
}

/// A client of an [`https_server`] registered as `name` (password
/// `password-<name>`), over TLS with the server's certificate trusted.
pub async fn user(server: &TestServer, name: &str) -> crate::Client {
    use serde_json::json;
    let tls = crate::trusting(&[&cert_path(server)]).expect("trust the certificate");
    let tcp = tokio::net::TcpStream::connect(server.tcp)
        .await
        .expect("connect");
    let mut c = crate::Client::tls_with(tcp, tls).await.expect("TLS");
    c.ok(json!({"type": "hello", "protocol": 1, "client": "files-test"}))
        .await;
    let s = c
        .ok(json!({"type": "register", "username": name, "password": format!("password-{name}")}))
        .await;
    c.token = s["token"].as_str().map(str::to_owned);
    c
}
