//! TLS to a Confab server, with trust on first use.
//!
//! A certificate signed by a public CA (Mozilla's roots, from
//! `webpki-roots`) is trusted as usual. Any other certificate (the
//! self-signed one `confab serve` makes) is trusted only if its SHA-256
//! fingerprint matches the one pinned in the profile. With nothing pinned
//! the connection fails with [`TrustError::Unknown`], carrying the
//! fingerprint for the user to confirm (then pin it and connect again); a
//! pinned fingerprint that no longer matches fails with
//! [`TrustError::Changed`], like SSH's "host key changed" warning.

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Why a server's certificate was not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// Not CA-signed and nothing pinned: ask the user.
    #[error(
        "the server's certificate is not signed by a known authority; its SHA-256 fingerprint is {fingerprint}"
    )]
    Unknown { fingerprint: String },
    /// Not CA-signed and not the certificate pinned earlier.
    #[error(
        "WARNING: the server's certificate has CHANGED since you first trusted it. Someone may be \
         intercepting the connection, or the server was reinstalled. Pinned fingerprint: {pinned}; \
         now: {fingerprint}. Refusing to connect. If the operator confirms the change, connect \
         once with `--trust {fingerprint}`."
    )]
    Changed { pinned: String, fingerprint: String },
}

pub use confab_proto::cert_fingerprint as fingerprint;

/// A connection failed.
#[derive(Debug)]
pub enum ConnectError {
    Trust(TrustError),
    Io(std::io::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Trust(t) => t.fmt(f),
            ConnectError::Io(e) => e.fmt(f),
        }
    }
}

#[derive(Debug)]
struct TofuVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    pinned: Option<String>,
    /// Why the last handshake was refused, for [`Connector::connect`].
    refused: Mutex<Option<TrustError>>,
}

impl ServerCertVerifier for TofuVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .is_ok()
        {
            return Ok(ServerCertVerified::assertion());
        }
        let fingerprint = fingerprint(end_entity);
        let refusal = match &self.pinned {
            Some(pinned) if pinned.eq_ignore_ascii_case(&fingerprint) => {
                return Ok(ServerCertVerified::assertion());
            }
            Some(pinned) => TrustError::Changed {
                pinned: pinned.clone(),
                fingerprint,
            },
            None => TrustError::Unknown { fingerprint },
        };
        let text = refusal.to_string();
        *self.refused.lock().expect("verifier lock") = Some(refusal);
        Err(rustls::Error::General(text))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Where typing datagrams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Udp {
    /// To the port the server announces, on the host the TLS connection
    /// reached.
    #[default]
    Auto,
    /// Not at all: typing notices go over the TLS connection.
    Off,
    /// Always to this address (a relay or a test's stand-in).
    Via(std::net::SocketAddr),
}

/// Opens TLS connections to one server.
#[derive(Debug, Clone)]
pub struct Connector {
    /// `host:port`.
    pub addr: String,
    /// The pinned fingerprint, if any.
    pub pinned: Option<String>,
    pub udp: Udp,
}

impl Connector {
    pub fn new(addr: &str, pinned: Option<String>) -> Connector {
        Connector {
            addr: addr.to_owned(),
            pinned,
            udp: Udp::Auto,
        }
    }

    /// The host part of the address (for SNI and certificate names).
    pub fn host(&self) -> &str {
        let host = match self.addr.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => h,
            _ => &self.addr,
        };
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The TLS configuration that trusts what this connector trusts
    /// (public CAs, or the pinned certificate), for the chat connection
    /// and for HTTPS to the same server's web listener (files).
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, ConnectError> {
        self.config().map(|(config, _)| config)
    }

    fn config(&self) -> Result<(rustls::ClientConfig, Arc<TofuVerifier>), ConnectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ConnectError::Io(std::io::Error::other(e)))?;
        let verifier = Arc::new(TofuVerifier {
            webpki,
            provider: provider.clone(),
            pinned: self.pinned.clone(),
            refused: Mutex::new(None),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectError::Io(std::io::Error::other(e)))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        Ok((config, verifier))
    }

    /// Connects and completes the TLS handshake.
    pub async fn connect(&self) -> Result<TlsStream<TcpStream>, ConnectError> {
        let (config, verifier) = self.config()?;
        let name = ServerName::try_from(self.host().to_owned()).map_err(|e| {
            ConnectError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{}: not a host name: {e}", self.addr),
            ))
        })?;
        let tcp = TcpStream::connect(&self.addr).await.map_err(|e| {
            ConnectError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", self.addr)))
        })?;
        tcp.set_nodelay(true).map_err(ConnectError::Io)?;
        match TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
        {
            Ok(s) => Ok(s),
            Err(e) => match verifier.refused.lock().expect("verifier lock").take() {
                Some(t) => Err(ConnectError::Trust(t)),
                None => Err(ConnectError::Io(e)),
            },
        }
    }
}
