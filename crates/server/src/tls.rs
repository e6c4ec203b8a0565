//! TLS for both listeners: a real certificate when configured, otherwise a
//! self-signed one made on first run and kept in the data dir; reloaded
//! without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::{Config, StartError};

/// Where the self-signed pair lives inside the data dir.
pub const SELF_SIGNED_CERT: &str = "tls/cert.pem";
pub const SELF_SIGNED_KEY: &str = "tls/key.pem";

/// The server's certificate, shared by both listeners and replaceable while
/// they run: a reload (SIGHUP, or the files changing) swaps what new
/// handshakes get; open connections keep the session they have.
pub(crate) struct Certs {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Loaded>,
    provider: Arc<CryptoProvider>,
    /// With `--domain`: ACME's resolver, which presents the certificate it
    /// obtained (and the challenge certificate to the CA's validator).
    acme: Option<Arc<rustls_acme::ResolvesServerCertAcme>>,
}

/// Drives ACME: obtains the certificate, renews it before it expires.
pub(crate) type AcmeState = rustls_acme::AcmeState<std::io::Error, std::io::Error>;

#[derive(Clone)]
struct Loaded {
    key: Arc<CertifiedKey>,
    fingerprint: String,
    /// The files' modification times when they were read.
    stamp: Option<(SystemTime, SystemTime)>,
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certs")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match &self.acme {
            Some(acme) => acme.resolve(hello),
            None => Some(self.read().key.clone()),
        }
    }
}

fn stamp(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

impl Certs {
    /// The configured certificate, else the self-signed one in the data
    /// dir (made on first run).
    pub(crate) fn load(config: &Config) -> Result<(Arc<Certs>, Option<AcmeState>), StartError> {
        if config.acme.is_some() && config.tls_cert.is_some() {
            return Err(StartError::Tls(
                "give --domain (ACME) or --tls-cert, not both".into(),
            ));
        }
        let (cert_path, key_path) = match (&config.tls_cert, &config.tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            (None, None) => {
                let cert = config.data_dir.join(SELF_SIGNED_CERT);
                let key = config.data_dir.join(SELF_SIGNED_KEY);
                if !cert.exists() || !key.exists() {
                    make_self_signed(&cert, &key)?;
                }
                (cert, key)
            }
            _ => {
                return Err(StartError::Tls(
                    "give both --tls-cert and --tls-key, or neither".into(),
                ));
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = read_pair(&provider, &cert_path, &key_path).map_err(StartError::Tls)?;
        let state = match &config.acme {
            Some(acme) => Some(acme_state(config, acme, &provider)?),
            None => None,
        };
        let certs = Arc::new(Certs {
            cert_path,
            key_path,
            current: RwLock::new(loaded),
            provider,
            acme: state.as_ref().map(|s| s.resolver()),
        });
        Ok((certs, state))
    }

    /// Whether the certificates come by ACME.
    pub(crate) fn by_acme(&self) -> bool {
        self.acme.is_some()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The SHA-256 fingerprint of the certificate now presented.
    pub(crate) fn fingerprint(&self) -> String {
        self.read().fingerprint.clone()
    }

    /// Reads the files again. On success new handshakes present the new
    /// certificate and its fingerprint is returned; on failure (a
    /// half-written file, a key that does not match) the old one stays.
    pub(crate) fn reload(&self) -> Result<String, String> {
        if self.acme.is_some() {
            return Err(
                "the certificate comes by ACME and renews itself; there are no files to reload"
                    .into(),
            );
        }
        let loaded = read_pair(&self.provider, &self.cert_path, &self.key_path)?;
        let fingerprint = loaded.fingerprint.clone();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(fingerprint)
    }

    /// Reloads if either file changed since it was read.
    pub(crate) fn reload_if_changed(&self) -> Option<Result<String, String>> {
        if self.acme.is_some() {
            return None;
        }
        let now = stamp(&self.cert_path, &self.key_path)?;
        if self.read().stamp == Some(now) {
            return None;
        }
        let r = self.reload();
        if r.is_err() {
            // Not again until the files change again.
            self.current
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .stamp = Some(now);
        }
        Some(r)
    }

    /// A rustls configuration that presents the current certificate;
    /// `alpn` lists the application protocols offered (none for the
    /// native protocol).
    pub(crate) fn server_config(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, StartError> {
        let mut tls = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StartError::Tls(format!("building TLS config: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        if self.acme.is_some() && !alpn.is_empty() {
            // The CA's validator asks for this protocol (TLS-ALPN-01).
            tls.alpn_protocols
                .push(rustls_acme::acme::ACME_TLS_ALPN_NAME.to_vec());
        }
        Ok(Arc::new(tls))
    }

    /// Checks the files every `every` and reloads them when they change,
    /// until `stop`.
    pub(crate) async fn watch(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            match self.reload_if_changed() {
                None => {}
                Some(Ok(fp)) => {
                    tracing::info!(cert = %self.cert_path.display(), fingerprint = %fp, "TLS certificate reloaded (the files changed)")
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "TLS certificate files changed but could not be loaded; keeping the old certificate")
                }
            }
        }
    }
}

/// Runs ACME until shutdown: the first certificate (from the cache, or
/// ordered), then renewals; each step is logged.
pub(crate) async fn drive_acme(mut state: AcmeState, stop: CancellationToken) {
    use futures_util::StreamExt;
    loop {
        let event = tokio::select! {
            e = state.next() => e,
            _ = stop.cancelled() => return,
        };
        match event {
            Some(Ok(ok)) => tracing::info!(event = ?ok, "ACME"),
            Some(Err(e)) => tracing::warn!(error = %e, "ACME: will try again"),
            None => return,
        }
    }
}

/// The ACME client: the account and certificates cached under
/// `DATA_DIR/acme`, the directory's HTTPS checked against `directory_ca`
/// (else the web's roots).
fn acme_state(
    config: &Config,
    acme: &crate::config::Acme,
    provider: &Arc<CryptoProvider>,
) -> Result<AcmeState, StartError> {
    let mut roots = rustls::RootCertStore::empty();
    match &acme.directory_ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| StartError::Tls(format!("reading {}: {e}", path.display())))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| StartError::Tls(format!("in {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let cache = config.data_dir.join("acme");
    Ok(
        rustls_acme::AcmeConfig::new_with_client_config(&acme.domains, Arc::new(client))
            .contact(&acme.contact)
            .directory(&acme.directory)
            .cache(rustls_acme::caches::DirCache::new(cache))
            .state(),
    )
}

fn read_pair(
    provider: &CryptoProvider,
    cert_path: &Path,
    key_path: &Path,
) -> Result<Loaded, String> {
    let stamp = stamp(cert_path, key_path);
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading certificates from {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("reading private key from {}: {e}", key_path.display()))?;
    let fingerprint = confab_proto::cert_fingerprint(&certs[0]);
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("loading private key from {}: {e}", key_path.display()))?;
    let key = CertifiedKey::new(certs, signer);
    key.keys_match().map_err(|e| {
        format!(
            "the key in {} does not belong to the certificate in {}: {e}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        fingerprint,
        stamp,
    })
}

fn make_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), StartError> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| StartError::Tls(format!("generating a self-signed certificate: {e}")))?;
    let io = |e: std::io::Error| StartError::Io(format!("writing {}: {e}", cert_path.display()));
    if let Some(dir) = cert_path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(cert_path, made.cert.pem()).map_err(io)?;
    write_private(key_path, made.signing_key.serialize_pem().as_bytes()).map_err(io)?;
    tracing::info!(cert = %cert_path.display(), "made a self-signed TLS certificate");
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(data)
}
