//! Connections to the servers under test, one enum over the three wires:
//! Confab over TLS (length-prefixed frames), Confab over WebSocket, and IRC
//! (plain TCP lines). `recv` is cancel-safe, so a client task can `select!`
//! between reading and its send schedule.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec, LinesCodec};

/// Which protocol a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConfabTls,
    ConfabWs,
    Irc,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::ConfabTls => "confab-tls",
            Kind::ConfabWs => "confab-ws",
            Kind::Irc => "irc",
        }
    }

    pub fn is_confab(self) -> bool {
        self != Kind::Irc
    }
}

/// A server to connect to.
#[derive(Clone)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    /// The TLS configuration this target trusts (for HTTPS to the same
    /// server's web listener too).
    pub fn tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    /// Parses `confab-tls://HOST:PORT`, `confab-ws://HOST:PORT` or
    /// `irc://HOST:PORT`. TLS trusts `ca` (PEM), or anything when `insecure`.
    pub fn parse(url: &str, ca: Option<&std::path::Path>, insecure: bool) -> Result<Target> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            anyhow!("target `{url}` needs a scheme, e.g. confab-tls://127.0.0.1:7070")
        })?;
        let kind = match scheme {
            "confab-tls" => Kind::ConfabTls,
            "confab-ws" => Kind::ConfabWs,
            "irc" => Kind::Irc,
            other => bail!("unknown target scheme `{other}`: use confab-tls, confab-ws or irc"),
        };
        let addr = rest
            .parse()
            .with_context(|| format!("target address `{rest}`"))?;
        let tls = if kind == Kind::ConfabTls {
            Some(tls_config(ca, insecure)?)
        } else {
            None
        };
        Ok(Target { kind, addr, tls })
    }
}

fn tls_config(ca: Option<&std::path::Path>, insecure: bool) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match (ca, insecure) {
        (Some(path), _) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading {}", path.display()))?
            {
                roots.add(cert?)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        (None, true) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth(),
        (None, false) => {
            bail!("a confab-tls target needs --tls-ca FILE (the server's cert.pem) or --insecure")
        }
    };
    Ok(Arc::new(config))
}

/// `--insecure`: encrypts but checks no certificate. For benchmarks only.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One open connection.
pub enum Wire {
    Tls(Box<Framed<TlsStream<TcpStream>, LengthDelimitedCodec>>),
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Irc(Framed<TcpStream, LinesCodec>),
}

impl Wire {
    pub async fn connect(target: &Target) -> Result<Wire> {
        let tcp = TcpStream::connect(target.addr)
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        tcp.set_nodelay(true)?;
        Ok(match target.kind {
            Kind::ConfabTls => {
                let connector = tokio_rustls::TlsConnector::from(
                    target.tls.clone().expect("TLS target has a config"),
                );
                let tls = connector
                    .connect(ServerName::try_from("localhost")?, tcp)
                    .await
                    .context("TLS handshake")?;
                let codec = LengthDelimitedCodec::builder()
                    .length_field_length(4)
                    .max_frame_length(1 << 20)
                    .new_codec();
                Wire::Tls(Box::new(Framed::new(tls, codec)))
            }
            Kind::ConfabWs => {
                let url = format!("ws://{}/ws", target.addr);
                let (ws, _) =
                    tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
                Wire::Ws(Box::new(ws))
            }
            Kind::Irc => Wire::Irc(Framed::new(tcp, LinesCodec::new_with_max_length(64 * 1024))),
        })
    }

    /// Sends one frame (Confab) or line (IRC).
    pub async fn send(&mut self, text: String) -> Result<()> {
        match self {
            Wire::Tls(f) => f.send(Bytes::from(text)).await?,
            Wire::Ws(w) => w.send(WsMessage::text(text)).await?,
            Wire::Irc(f) => f.send(text).await?,
        }
        Ok(())
    }

    /// Queues a frame without flushing; `flush` sends what is queued.
    pub async fn feed(&mut self, text: String) -> Result<()> {
        match self {
            Wire::Tls(f) => f.feed(Bytes::from(text)).await?,
            Wire::Ws(w) => w.feed(WsMessage::text(text)).await?,
            Wire::Irc(f) => f.feed(text).await?,
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        match self {
            Wire::Tls(f) => SinkExt::<Bytes>::flush(&mut **f).await?,
            Wire::Ws(w) => w.flush().await?,
            Wire::Irc(f) => SinkExt::<String>::flush(f).await?,
        }
        Ok(())
    }

    /// The next frame or line as text; `None` when the server closed.
    pub async fn recv(&mut self) -> Result<Option<String>> {
        loop {
            return Ok(match self {
                Wire::Tls(f) => match f.next().await {
                    Some(b) => Some(String::from_utf8(b?.to_vec())?),
                    None => None,
                },
                Wire::Ws(w) => match w.next().await {
                    Some(m) => match m? {
                        WsMessage::Text(t) => Some(t.to_string()),
                        WsMessage::Close(_) => None,
                        _ => continue,
                    },
                    None => None,
                },
                Wire::Irc(f) => match f.next().await {
                    Some(line) => Some(line?),
                    None => None,
                },
            });
        }
    }

    pub async fn close(mut self) {
        let _ = match &mut self {
            Wire::Tls(f) => SinkExt::<Bytes>::close(&mut **f)
                .await
                .map_err(anyhow::Error::from),
            Wire::Ws(w) => SinkExt::close(&mut **w).await.map_err(anyhow::Error::from),
            Wire::Irc(f) => SinkExt::<String>::close(f)
                .await
                .map_err(anyhow::Error::from),
        };
    }
}
