//! Typing notices over UDP: sealed with keys from the TLS session, refused
//! and counted when forged, replayed or for another session, sent back to
//! connections whose path works, and over the stream to the others.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use confab_proto::datagram::{self, Direction, Payload, Window};
use confab_testkit::{Client, TestServer, Transport};
use serde_json::json;
use tokio::net::UdpSocket;

/// One client's end of the UDP path, as a native client keeps it.
struct Path {
    socket: UdpSocket,
    server: SocketAddr,
    session: u64,
    send: datagram::Key,
    recv: datagram::Key,
    counter: u64,
    window: Window,
}

impl Path {
    async fn open(c: &mut Client, server: &TestServer) -> Path {
        let r = c.ok(json!({"type": "udp_open"})).await;
        let session = u64::from_str_radix(r["session"].as_str().unwrap(), 16).unwrap();
        let (send, recv) = datagram::keys(&c.udp_secret.expect("a TLS client"), session);
        Path {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server: server.udp.expect("the server listens on UDP"),
            session,
            send,
            recv,
            counter: 0,
            window: Window::default(),
        }
    }

    fn seal(&mut self, payload: &Payload) -> Vec<u8> {
        self.counter += 1;
        datagram::seal(
            &self.send,
            Direction::ToServer,
            self.session,
            self.counter,
            payload,
        )
    }

    async fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.unwrap();
    }

    /// The next datagram from the server, opened.
    async fn recv(&mut self) -> Payload {
        let mut buf = [0u8; 2048];
        let n = tokio::time::timeout(confab_testkit::DEADLINE, self.socket.recv(&mut buf))
            .await
            .expect("a datagram in time")
            .unwrap();
        let h = datagram::header(&buf[..n]).unwrap();
        assert_eq!(
            (h.direction, h.session),
            (Direction::ToClient, self.session)
        );
        datagram::open(&self.recv, &mut self.window, &h, &buf[..n]).expect("it opens")
    }

    /// Pings (saying whether the server's datagrams arrive) and waits for the pong.
    async fn ping(&mut self, rx: bool) {
        let d = self.seal(&Payload::Ping { rx });
        self.send(&d).await;
        assert_eq!(self.recv().await, Payload::Pong {});
    }
}

#[tokio::test]
async fn typing_goes_over_sealed_datagrams_and_bad_ones_are_refused_and_counted() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Tls, "ann").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let mut cat = server.user(Transport::Tls, "cat").await;
    let conv = ann.create("general", false).await;
    bob.join("general").await;
    cat.join("general").await;
    let stats = server.handle.stats();

    // The server announces its UDP port in `hello`.
    let mut probe = server.connect(Transport::Tls).await;
    let h = probe
        .ok(json!({"type": "hello", "protocol": 1, "client": "t"}))
        .await;
    assert_eq!(h["udp_port"].as_u64(), server.udp.map(|a| a.port() as u64));

    let mut path = Path::open(&mut ann, &server).await;
    path.ping(false).await;

    // Ann types by datagram; bob (WebSocket) hears it on his connection.
    let typing = path.seal(&Payload::Typing { conv, user: None });
    path.send(&typing).await;
    assert_eq!(
        bob.event("typing").await,
        json!({"type": "typing", "conv": conv, "user": "ann"})
    );
    assert_eq!(stats.udp_in.load(Ordering::Relaxed), 2);

    // Replayed: refused, and nobody hears it twice.
    path.send(&typing).await;
    server
        .eventually("the replay is counted", |h| {
            h.stats().udp_replayed.load(Ordering::Relaxed) == 1
        })
        .await;
    // Forged: a bent byte, or a seal from another TLS session's keys.
    let mut bent = path.seal(&Payload::Typing { conv, user: None });
    *bent.last_mut().unwrap() ^= 0x55;
    path.send(&bent).await;
    let (mallory_key, _) = datagram::keys(&[9u8; 64], path.session);
    let foreign = datagram::seal(
        &mallory_key,
        Direction::ToServer,
        path.session,
        1_000,
        &Payload::Typing { conv, user: None },
    );
    path.send(&foreign).await;
    server
        .eventually("the forgeries are counted", |h| {
            h.stats().udp_forged.load(Ordering::Relaxed) == 2
        })
        .await;
    // A session nobody opened, and bytes that are no datagram of ours.
    let unknown = datagram::seal(
        &path.send,
        Direction::ToServer,
        path.session ^ 1,
        1,
        &Payload::Typing { conv, user: None },
    );
    path.send(&unknown).await;
    path.send(b"GET / HTTP/1.1\r\n\r\n").await;
    server
        .eventually("the strangers are counted", |h| {
            h.stats().udp_unknown.load(Ordering::Relaxed) == 1
                && h.stats().udp_malformed.load(Ordering::Relaxed) == 1
        })
        .await;
    assert!(
        bob.drain("typing").await.is_empty(),
        "no refused datagram reached anyone"
    );

    // Cat's path works both ways (she says so in her pings): bob's typing
    // reaches her by datagram, not on her connection.
    let earlier = cat.drain("typing").await;
    assert_eq!(
        earlier.len(),
        1,
        "ann's, before cat had a path: {earlier:?}"
    );
    let mut cat_path = Path::open(&mut cat, &server).await;
    cat_path.ping(false).await;
    cat_path.ping(true).await;
    bob.ok(json!({"type": "typing", "conv": conv})).await;
    assert_eq!(
        cat_path.recv().await,
        Payload::Typing {
            conv,
            user: Some("bob".into())
        }
    );
    assert!(cat.drain("typing").await.is_empty());
    // Ann's path does not say it receives: hers comes on her connection.
    assert_eq!(ann.event("typing").await["user"], "bob");
    assert!(stats.udp_out.load(Ordering::Relaxed) >= 1);

    // A datagram for a typing notice where one is not a member is dropped.
    let dm_elsewhere = path.seal(&Payload::Typing {
        conv: conv + 100,
        user: None,
    });
    path.send(&dm_elsewhere).await;
    server
        .eventually("it was read", |h| {
            // Ann's ping and typing, cat's two pings, and this one.
            h.stats().udp_in.load(Ordering::Relaxed) == 5
        })
        .await;

    // Logging out closes the path: its datagrams are for no session now.
    ann.ok(json!({"type": "logout"})).await;
    let late = path.seal(&Payload::Typing { conv, user: None });
    path.send(&late).await;
    server
        .eventually("the closed session is unknown", |h| {
            h.stats().udp_unknown.load(Ordering::Relaxed) == 2
        })
        .await;
}

#[tokio::test]
async fn only_native_clients_over_tls_open_a_udp_path() {
    let server = TestServer::start().await;
    let mut web = server.user(Transport::Ws, "web").await;
    let (code, msg) = web.err(json!({"type": "udp_open"})).await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("native clients over TLS"), "{msg}");

    let off = TestServer::start_with(|c| c.udp = confab_server::Udp::Off).await;
    assert_eq!(off.udp, None);
    let mut ann = off.user(Transport::Tls, "ann").await;
    let (code, msg) = ann.err(json!({"type": "udp_open"})).await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("no UDP path"), "{msg}");
}
