//! What the tests need to talk to a real server: [`TestServer`] starts one
//! on port 0 in a temporary data dir, and [`Client`] speaks the protocol
//! over real TLS or a real WebSocket, with helpers that wait for a reply or
//! an event under a deadline (never for a fixed time). [`tmux::Tmux`] runs
//! a command in a real terminal.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use confab_server::{Config, Handle, Running};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub mod axe;
pub mod browser;
pub mod http;
pub mod tmux;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Asks `check` every `every` until it answers, for at most [`DEADLINE`];
/// the error says what was awaited. For what cannot announce a change (a
/// server's internal state, a terminal's screen, a page under WebDriver):
/// this is the one place tests poll.
pub async fn poll<T>(
    what: &str,
    every: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(every).await;
    }
}

/// Which transport a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    Ws,
}

/// A server on port 0 with its own data dir.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub tcp: SocketAddr,
    pub http: SocketAddr,
    /// Where typing datagrams go (the server listens on UDP unless told not to).
    pub udp: Option<SocketAddr>,
    /// The TURN relay (UDP and TCP), when the config asks for one.
    pub turn_addr: Option<SocketAddr>,
    /// The certificate fingerprint the server announces.
    pub fingerprint: String,
    /// The first-run setup code, while the server has no admin.
    pub setup_code: Option<String>,
    pub handle: Handle,
    running: Option<Running>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts with a config adjusted by `tune` (data dir and ports are set).
    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, tune).await
    }

    /// Starts on an existing data dir (to restart a stopped server).
    pub async fn start_in(dir: tempfile::TempDir, tune: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::new(dir.path());
        config.tcp = "127.0.0.1:0".parse().unwrap();
        config.http = "127.0.0.1:0".parse().unwrap();
        // Tests register many users from one address; the rate limits'
        // own tests turn them on.
        config.rates.enabled = false;
        config.rates.password_line = 100_000;
        // Tests make the channels they need (the first-run test asks for one).
        config.first_channel = None;
        tune(&mut config);
        let running = confab_server::start(config).await.expect("server starts");
        TestServer {
            tcp: running.tcp_addr,
            http: running.http_addr,
            udp: running.udp_addr,
            turn_addr: running.turn_addr,
            fingerprint: running.cert_fingerprint.clone(),
            setup_code: running.setup_code.clone(),
            handle: running.handle(),
            running: Some(running),
            dir,
        }
    }

    /// Waits until `cond` holds for the server's state, failing the test
    /// after [`DEADLINE`]. For changes no client is told about (e.g. a
    /// dropped connection during the presence grace period); the state is
    /// checked every few milliseconds.
    pub async fn eventually(&self, what: &str, cond: impl Fn(&Handle) -> bool) {
        poll(what, Duration::from_millis(5), async || {
            cond(&self.handle).then_some(())
        })
        .await
        .unwrap_or_else(|why| panic!("{why}"));
    }

    /// Shuts down gracefully and returns the data dir for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown("test stop").await;
        }
        self.dir
    }

    /// Waits for a shutdown begun elsewhere (the console) to finish.
    pub async fn wait_stopped(mut self) {
        if let Some(r) = self.running.take() {
            tokio::time::timeout(DEADLINE, r.wait())
                .await
                .expect("server stops in time");
        }
    }

    pub async fn connect(&self, t: Transport) -> Client {
        match t {
            Transport::Tls => Client::tls(self.tcp, self.dir.path())
                .await
                .expect("TLS connect"),
            Transport::Ws => Client::ws(self.http).await.expect("WebSocket connect"),
        }
    }

    /// A connected, handshaken client, not logged in.
    pub async fn hello(&self, t: Transport) -> Client {
        let mut c = self.connect(t).await;
        c.ok(json!({"type": "hello", "protocol": 1, "client": "testkit"}))
            .await;
        c
    }

    /// A client registered as `name` (password `password-<name>`).
    pub async fn user(&self, t: Transport, name: &str) -> Client {
        let mut c = self.hello(t).await;
        let s = c.ok(json!({"type": "register", "username": name, "password": format!("password-{name}")})).await;
        c.token = s["token"].as_str().map(str::to_owned);
        c
    }

    /// `n` users named `user0`, `user1`, ... alternating TLS and WebSocket,
    /// each registered concurrently and joined to `channel`.
    pub async fn users_in(&self, n: usize, channel: &str) -> Vec<Client> {
        futures_util::future::join_all((0..n).map(|i| async move {
            let t = if i % 2 == 0 {
                Transport::Tls
            } else {
                Transport::Ws
            };
            let mut c = self.user(t, &format!("user{i}")).await;
            c.join(channel).await;
            c
        }))
        .await
    }

    /// An admin named `name` (password `password-<name>`), made as
    /// `confab admin create-user --admin` makes one, and logged in.
    pub async fn admin(&self, t: Transport, name: &str) -> Client {
        confab_server::services::accounts::create_user(
            &**self.handle.store(),
            &confab_proto::Limits::default(),
            name,
            format!("password-{name}"),
            confab_proto::Role::Admin,
        )
        .await
        .expect("the admin is created");
        self.login(t, name).await.0
    }

    /// A client logged in as an existing user.
    pub async fn login(&self, t: Transport, name: &str) -> (Client, Value) {
        let mut c = self.hello(t).await;
        let s = c
            .ok(json!({"type": "login", "username": name, "password": format!("password-{name}")}))
            .await;
        c.token = s["token"].as_str().map(str::to_owned);
        (c, s)
    }
}

/// A WebSocket's sending half, over plain TCP or TLS.
type WsSink = std::pin::Pin<
    Box<
        dyn futures_util::Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error>
            + Send
            + Unpin,
    >,
>;

enum Writer {
    Tls(WriteHalf<TlsStream<TcpStream>>),
    Ws(WsSink),
}

/// A protocol client that keeps every frame it has not yet been asked about.
pub struct Client {
    writer: Writer,
    incoming: mpsc::Receiver<Value>,
    /// Frames received but not yet consumed, in arrival order.
    pub pending: VecDeque<Value>,
    next_id: u64,
    /// The session token from the last login, if any.
    pub token: Option<String>,
    /// While false, the reader task stops reading the socket (TLS only), so
    /// the server sees a client that does not read.
    reading: tokio::sync::watch::Sender<bool>,
    /// The TLS session's exporter output that keys typing datagrams (TLS only).
    pub udp_secret: Option<[u8; 64]>,
}

/// A rustls client config that trusts the server's self-signed certificate.
pub fn client_tls_config(data_dir: &Path) -> Result<Arc<rustls::ClientConfig>> {
    trusting(&[&data_dir.join(confab_server::tls::SELF_SIGNED_CERT)])
}

/// A rustls client config that trusts the certificates in these PEM files.
pub fn trusting(pems: &[&Path]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in pems {
        for cert in CertificateDer::pem_file_iter(pem)? {
            roots.add(cert?)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

impl Client {
    /// Connects over TLS, verifying the server's certificate against the one in `data_dir`.
    pub async fn tls(addr: SocketAddr, data_dir: &Path) -> Result<Client> {
        Self::tls_with_socket(TcpStream::connect(addr).await?, data_dir).await
    }

    /// Like [`Client::tls`] over an already connected socket (to set socket options).
    pub async fn tls_with_socket(tcp: TcpStream, data_dir: &Path) -> Result<Client> {
        Self::tls_with(tcp, client_tls_config(data_dir)?).await
    }

    /// Over TLS with a client config of the caller's (see [`trusting`]).
    pub async fn tls_with(tcp: TcpStream, config: Arc<rustls::ClientConfig>) -> Result<Client> {
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await
            .context("TLS handshake")?;
        let udp_secret = tls
            .get_ref()
            .1
            .export_keying_material([0u8; 64], confab_proto::datagram::EXPORTER_LABEL, None)
            .ok();
        let (r, w) = tokio::io::split(tls);
        let (tx, rx) = mpsc::channel(100_000);
        let (reading, gate) = tokio::sync::watch::channel(true);
        tokio::spawn(read_tls(r, tx, gate));
        Ok(Client {
            writer: Writer::Tls(w),
            incoming: rx,
            pending: VecDeque::new(),
            next_id: 1,
            token: None,
            reading,
            udp_secret,
        })
    }

    pub async fn ws(addr: SocketAddr) -> Result<Client> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
        Ok(Self::over_ws(ws))
    }

    /// A WebSocket with extra request headers (e.g. `X-Forwarded-For`, as
    /// a reverse proxy would add).
    pub async fn ws_with_headers(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Client> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{addr}/ws").into_client_request()?;
        for (k, v) in headers {
            req.headers_mut().append(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())?,
                v.parse()?,
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Self::over_ws(ws))
    }

    /// A WebSocket over HTTPS (`wss://localhost/ws`), trusting what
    /// `config` trusts.
    pub async fn wss(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Result<Client> {
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = TcpStream::connect(addr).await?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost")?, tcp)
            .await
            .context("TLS handshake")?;
        let url = format!("wss://localhost:{}/ws", addr.port());
        let (ws, _) = tokio_tungstenite::client_async(url, tls).await?;
        Ok(Self::over_ws(ws))
    }

    fn over_ws<S>(ws: tokio_tungstenite::WebSocketStream<S>) -> Client
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (w, mut r) = ws.split();
        let (tx, rx) = mpsc::channel(100_000);
        tokio::spawn(async move {
            loop {
                // As for TLS: a dropped client's connection closes at once.
                let m = tokio::select! {
                    m = r.next() => m,
                    _ = tx.closed() => break,
                };
                let Some(Ok(m)) = m else { break };
                if let WsMessage::Text(t) = m {
                    let v = serde_json::from_str(&t)
                        .unwrap_or_else(|e| json!({"unparseable": e.to_string()}));
                    if tx.send(v).await.is_err() {
                        break;
                    }
                }
            }
        });
        let (reading, _) = tokio::sync::watch::channel(true);
        Client {
            writer: Writer::Ws(Box::pin(w)),
            incoming: rx,
            pending: VecDeque::new(),
            next_id: 1,
            token: None,
            reading,
            udp_secret: None,
        }
    }

    /// Stops (false) or restarts (true) reading from the socket. TLS only.
    pub fn set_reading(&self, on: bool) {
        self.reading.send_replace(on);
    }

    /// Sends one frame's payload as is (TLS: with a correct length prefix).
    pub async fn send_raw(&mut self, payload: &[u8]) -> Result<()> {
        match &mut self.writer {
            Writer::Tls(w) => {
                w.write_all(&(payload.len() as u32).to_be_bytes()).await?;
                w.write_all(payload).await?;
                w.flush().await?;
            }
            Writer::Ws(w) => match std::str::from_utf8(payload) {
                Ok(s) => w.send(WsMessage::text(s)).await?,
                Err(_) => {
                    w.send(WsMessage::binary(Bytes::copy_from_slice(payload)))
                        .await?
                }
            },
        }
        Ok(())
    }

    /// Sends `payload` as a WebSocket *text* message even when it is not
    /// UTF-8 (which a well-behaved client never does). WebSocket only.
    pub async fn send_ws_text_unchecked(&mut self, payload: &[u8]) -> Result<()> {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        match &mut self.writer {
            Writer::Ws(w) => {
                let frame = Frame::message(
                    Bytes::copy_from_slice(payload),
                    OpCode::Data(Data::Text),
                    true,
                );
                w.send(WsMessage::Frame(frame)).await?;
                Ok(())
            }
            Writer::Tls(_) => bail!("send_ws_text_unchecked is for WebSocket clients"),
        }
    }

    /// Writes bytes straight onto the TLS stream, no framing (for garbage tests).
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.writer {
            Writer::Tls(w) => {
                w.write_all(bytes).await?;
                w.flush().await?;
                Ok(())
            }
            Writer::Ws(_) => bail!("send_bytes is for TLS clients"),
        }
    }

    pub async fn send_json(&mut self, v: &Value) -> Result<()> {
        self.send_raw(v.to_string().as_bytes()).await
    }

    /// Sends `req` with a fresh id and returns the reply with that id; other
    /// frames stay in `pending`.
    pub async fn request(&mut self, mut req: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        req["id"] = json!(id);
        self.send_json(&req).await.expect("send");
        self.reply_to(id).await
    }

    /// Waits for the reply to request `id`.
    pub async fn reply_to(&mut self, id: u64) -> Value {
        let want = Some(id);
        self.take(|v| v["id"].as_u64() == want)
            .await
            .unwrap_or_else(|e| panic!("no reply to request {id}: {e}"))
    }

    /// A request that must succeed.
    pub async fn ok(&mut self, req: Value) -> Value {
        let what = req["type"].clone();
        let r = self.request(req).await;
        assert_ne!(r["type"], "error", "{what} failed: {r}");
        r
    }

    /// A request that must fail; returns (code, message).
    pub async fn err(&mut self, req: Value) -> (String, String) {
        let r = self.request(req).await;
        assert_eq!(r["type"], "error", "expected an error, got {r}");
        (
            r["code"].as_str().unwrap().to_owned(),
            r["message"].as_str().unwrap().to_owned(),
        )
    }

    /// Removes and returns the first frame (buffered or arriving before the
    /// deadline) that matches. Server pings that do not match are answered.
    pub async fn take(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        if let Some(i) = self.pending.iter().position(&pred) {
            return Ok(self.pending.remove(i).expect("index"));
        }
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let v = match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some(v)) => v,
                Ok(None) => bail!("connection closed; pending: {:?}", self.pending),
                Err(_) => bail!(
                    "nothing matching within {DEADLINE:?}; pending: {:?}",
                    self.pending
                ),
            };
            if pred(&v) {
                return Ok(v);
            }
            if v["type"] == "ping" && v.get("id").is_none() {
                // Answer heartbeats as a real client does, so that a test
                // waiting long is not dropped as a dead peer.
                let _ = self.send_json(&json!({"type": "pong"})).await;
                continue;
            }
            self.pending.push_back(v);
        }
    }

    /// Waits for an event of `type` (an id-less frame).
    pub async fn event(&mut self, ty: &str) -> Value {
        self.take(|v| v["type"] == ty && v.get("id").is_none())
            .await
            .unwrap_or_else(|e| panic!("no `{ty}` event: {e}"))
    }

    /// Makes sure every frame the server queued before now has arrived: a
    /// ping's reply comes after them, since one connection's frames keep
    /// their order.
    pub async fn barrier(&mut self) {
        self.ok(json!({"type": "ping"})).await;
    }

    /// Buffered frames of `type` after a [`barrier`](Self::barrier).
    pub async fn drain(&mut self, ty: &str) -> Vec<Value> {
        self.barrier().await;
        let (hit, keep): (Vec<Value>, Vec<Value>) =
            self.pending.drain(..).partition(|v| v["type"] == ty);
        self.pending = keep.into();
        hit
    }

    /// Waits until the server closes the connection; returns what arrived first.
    pub async fn closed(&mut self) -> Vec<Value> {
        let mut got: Vec<Value> = self.pending.drain(..).collect();
        loop {
            match tokio::time::timeout(DEADLINE, self.incoming.recv()).await {
                Ok(Some(v)) => got.push(v),
                Ok(None) => return got,
                Err(_) => panic!("connection still open after {DEADLINE:?}; got {got:?}"),
            }
        }
    }

    /// Whether the server has closed this connection (without waiting).
    pub fn is_closed(&mut self) -> bool {
        loop {
            match self.incoming.try_recv() {
                Ok(v) => self.pending.push_back(v),
                Err(mpsc::error::TryRecvError::Empty) => return false,
                Err(mpsc::error::TryRecvError::Disconnected) => return true,
            }
        }
    }

    /// Joins `name` and returns its conversation id.
    pub async fn join(&mut self, name: &str) -> u64 {
        let r = self.ok(json!({"type": "channel_join", "name": name})).await;
        r["channel"]["conv"].as_u64().expect("conv id")
    }

    /// Creates `name` and returns its conversation id.
    pub async fn create(&mut self, name: &str, private: bool) -> u64 {
        let r = self
            .ok(json!({"type": "channel_create", "name": name, "private": private}))
            .await;
        r["channel"]["conv"].as_u64().expect("conv id")
    }

    /// Sends to a conversation; returns the stored message.
    pub async fn say(&mut self, conv: u64, text: &str) -> Value {
        self.ok(json!({"type": "send", "conv": conv, "text": text}))
            .await["message"]
            .clone()
    }
}

async fn read_tls(
    mut r: ReadHalf<TlsStream<TcpStream>>,
    tx: mpsc::Sender<Value>,
    mut gate: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if gate.wait_for(|on| *on).await.is_err() {
            return;
        }
        let mut header = [0u8; 4];
        // A dropped client closes its connection at once: this task holds
        // the read half, and the socket closes only when both halves go.
        tokio::select! {
            r = r.read_exact(&mut header) => if r.is_err() { return },
            _ = tx.closed() => return,
        }
        let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
        if r.read_exact(&mut body).await.is_err() {
            return;
        }
        let v =
            serde_json::from_slice(&body).unwrap_or_else(|e| json!({"unparseable": e.to_string()}));
        if tx.send(v).await.is_err() {
            return;
        }
    }
}

/// The `seq` of each message in a reply's `messages` array.
pub fn seqs(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .expect("a messages array")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

/// Both transports, for tests that run over each.
pub const TRANSPORTS: [Transport; 2] = [Transport::Tls, Transport::Ws];
