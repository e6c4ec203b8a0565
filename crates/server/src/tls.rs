//! TLS for the native transport: a real certificate when configured,
//! otherwise a self-signed one made on first run and kept in the data dir.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Config, StartError};

/// Where the self-signed pair lives inside the data dir.
pub const SELF_SIGNED_CERT: &str = "tls/cert.pem";
pub const SELF_SIGNED_KEY: &str = "tls/key.pem";

/// The TLS configuration, and the SHA-256 fingerprint of the certificate
/// it presents (see [`confab_proto::cert_fingerprint`]).
pub(crate) fn server_config(config: &Config) -> Result<(Arc<ServerConfig>, String), StartError> {
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
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            StartError::Tls(format!(
                "reading certificates from {}: {e}",
                cert_path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "no certificate found in {}",
            cert_path.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        StartError::Tls(format!(
            "reading private key from {}: {e}",
            key_path.display()
        ))
    })?;
    let fingerprint = confab_proto::cert_fingerprint(&certs[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| StartError::Tls(format!("building TLS config: {e}")))?;
    Ok((Arc::new(tls), fingerprint))
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
