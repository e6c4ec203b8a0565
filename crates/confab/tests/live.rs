//! Live streams between real browsers: Debian's headless Chromium with
//! its fake camera (a test pattern), served by a real server with its
//! TURN relay, each test inside a network namespace of its own that has
//! loopback alone, so that every WebRTC path is one this test chose
//! (needs root, as CI has).
//!
//! What a user checks: the picture plays on every viewer (its size is
//! known and the count of decoded frames rises), it comes directly or
//! through the relay as asked, the host sees who watches, and a stream
//! ends for everyone when its host goes.

use std::time::{SystemTime, UNIX_EPOCH};

use confab_testkit::browser::{Browser, Chromedriver, Key};
use confab_testkit::tmux::Tmux;
use confab_testkit::{TestServer, Transport};
use serde_json::{Value, json};

/// The relay's secret here, so that the test can sign credentials of its
/// own (a good one, a wrong one, an expired one).
const SECRET: &str = "the live test's relay secret";

/// Runs `test` with this thread (and every thread and process it starts:
/// the runtime, the server, chromedriver and the browsers) in a new
/// network namespace with loopback up.
fn in_private_network(test: impl AsyncFnOnce()) {
    // One test's browsers at a time: on a small machine three tests' worth
    // of video would measure the machine, not the code.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: unshare only changes this thread's namespaces; it touches no memory.
    let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        r,
        0,
        "a network namespace of its own needs root (CAP_SYS_ADMIN): {}",
        std::io::Error::last_os_error()
    );
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip (iproute2) is needed");
    assert!(up.success(), "loopback comes up");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(test());
}

async fn relay_server(tune: impl FnOnce(&mut confab_server::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.turn = Some("127.0.0.1:0".parse().unwrap());
        // Everything here is on loopback, the browsers too.
        c.turn_loopback_peers = true;
        c.turn_secret = Some(SECRET.into());
        tune(c);
    })
    .await
}

fn enter() -> String {
    char::from(Key::Enter).to_string()
}

async fn go_live(b: &Browser, title: &str) {
    go_live_showing(b, title, "camera").await;
}

/// Goes live showing `source`: "camera" or "screen".
async fn go_live_showing(b: &Browser, title: &str, source: &str) {
    b.click("#go-live").await;
    b.type_into("#live-title", title).await;
    b.wait_js(
        "the source to be chosen",
        &format!("const s = document.getElementById('live-source'); s.value = '{source}'; return s.value === '{source}'"),
    )
    .await;
    b.click("#start-live").await;
    b.wait_text("#live-status", &format!("You are live: “{title}” in #"))
        .await;
}

/// The watched picture plays: the video has a size, and the count of
/// decoded frames rises by 20 (a second at the fake camera's 20 fps).
/// Returns the time to the first picture, in ms, as the page measured it.
async fn plays(b: &Browser) -> u64 {
    b.wait_js(
        "the video to have a size",
        "const v = document.getElementById('live-video'); return !!v && v.videoWidth > 0",
    )
    .await;
    let frames = || async {
        b.js("return Number(document.getElementById('watch-figures').dataset.frames || 0)")
            .await
            .as_u64()
            .unwrap_or(0)
    };
    let before = frames().await;
    b.wait_js(
        "decoded frames to rise",
        &format!(
            "return Number(document.getElementById('watch-figures').dataset.frames || 0) >= {}",
            before + 20
        ),
    )
    .await;
    b.wait_js(
        "the time to the first picture",
        "return !!document.getElementById('watch-figures').dataset.firstFrameMs",
    )
    .await;
    b.js("return Number(document.getElementById('watch-figures').dataset.firstFrameMs)")
        .await
        .as_u64()
        .expect("a number")
}

async fn path(b: &Browser) -> String {
    b.wait_js(
        "the path to be known",
        "return !!document.getElementById('watch-figures').dataset.path",
    )
    .await;
    b.js("return document.getElementById('watch-figures').dataset.path")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_host_and_four_viewers_peer_to_peer_then_the_host_leaves() {
    in_private_network(async || {
        let server = relay_server(|c| c.stream_viewers = 4).await;
        let driver = Chromedriver::start().await;
        let ann = Browser::with_camera(&driver, 1000, 800).await;
        ann.register(&server, "ann").await;
        ann.create_channel("live").await;
        let names = ["bob", "cat", "dan", "eve"];
        let mut viewers = Vec::new();
        for name in names {
            let b = Browser::with_camera(&driver, 1000, 800).await;
            b.register(&server, name).await;
            b.join_channel("live").await;
            viewers.push(b);
        }
        // A terminal in the channel is told who goes live, with the link.
        let (tui, _home) =
            Tmux::chat_registered(env!("CARGO_BIN_EXE_confab"), &server, "fay").await;
        tui.type_text("/join live");
        tui.press(&["Enter"]);
        tui.wait_for("#live").await;

        go_live(&ann, "Morning standup").await;
        ann.wait_text("#live-viewers", "Nobody watches yet (up to 4)")
            .await;
        let link = format!("http://{}/#watch=", server.http);
        let said = tui
            .wait_for(&format!(
                "ann is live in #live: “Morning standup”, watch at {link}"
            ))
            .await;
        assert!(said.contains("● live: ann “Morning standup”"), "{said}");

        let mut first_frames = Vec::new();
        for (b, name) in viewers.iter().zip(names) {
            // Live in the channel list and in the channel view.
            b.wait_text("#channels", "● live").await;
            b.wait_text("#live-streams", "ann is live: “Morning standup”")
                .await;
            if name == "eve" {
                // The terminal's link, opened in a browser, watches.
                let id = server_stream_id(&server).await;
                b.goto(&format!("{link}{id}")).await;
                b.wait_text(".topbar .status", "Connected").await;
            } else {
                b.click_text("#live-streams .watch", "Watch").await;
            }
        }
        for (b, name) in viewers.iter().zip(names) {
            first_frames.push(plays(b).await);
            assert_eq!(path(b).await, "direct", "{name}'s copy comes peer to peer");
            b.wait_text("#messages", "ann went live: “Morning standup”")
                .await;
        }
        ann.wait_text("#live-viewers", "Watching (4/4)").await;
        for name in names {
            ann.wait_text("#live-viewers", &format!("{name} (direct)"))
                .await;
        }
        println!("time to the first picture, four viewers: {first_frames:?} ms");
        // The server's statistics count them.
        let mut root = server.admin(Transport::Ws, "root").await;
        let stats = root.ok(json!({"type": "admin_stats"})).await;
        assert_eq!(stats["stats"]["streams_live"], 1, "{stats}");
        assert_eq!(stats["stats"]["stream_viewers"], 4, "{stats}");

        // A fifth is told the stream is full (and nobody else notices).
        let mut gus = server.user(Transport::Ws, "gus").await;
        gus.ok(json!({"type": "channel_join", "name": "live"}))
            .await;
        let streams = gus
            .ok(json!({"type": "streams", "conv": conv_of(&server, "live").await}))
            .await;
        let id = streams["streams"][0]["id"].as_u64().expect("a stream");
        let (code, message) = gus.err(json!({"type": "stream_watch", "stream": id})).await;
        assert_eq!(code, "forbidden", "{message}");
        assert!(message.contains("ann's stream is full"), "{message}");
        assert!(ann.text("#live-viewers").await.contains("Watching (4/4)"));

        // The host leaves the channel: the stream ends for everyone.
        ann.type_into("#composer", &format!("/leave{}", enter()))
            .await;
        for b in &viewers {
            b.wait_text(".notice", "ann's live stream “Morning standup” has ended")
                .await;
            b.wait_gone("#live-video").await;
            b.wait_text("#messages", "ann's live stream ended").await;
        }
        ann.wait_gone("#live-preview").await;
        assert_eq!(
            ann.js("return !!document.querySelector('#channels .badge.live')")
                .await,
            json!(false)
        );
        tui.wait_for("ann's live stream ended").await;
    });
}

/// The id of the one live stream (as a member asking the server sees it).
async fn server_stream_id(server: &TestServer) -> u64 {
    let mut c = server.user(Transport::Ws, "looker").await;
    c.ok(json!({"type": "channel_join", "name": "live"})).await;
    let conv = conv_of(server, "live").await;
    let s = c.ok(json!({"type": "streams", "conv": conv})).await;
    s["streams"][0]["id"].as_u64().expect("a live stream")
}

async fn conv_of(server: &TestServer, channel: &str) -> u64 {
    let mut c = server.hello(Transport::Ws).await;
    c.ok(json!({"type": "visitor"})).await;
    let list = c.ok(json!({"type": "channel_list"})).await;
    list["channels"]
        .as_array()
        .and_then(|l| l.iter().find(|ch| ch["name"] == channel))
        .and_then(|ch| ch["conv"].as_u64())
        .expect("the channel is listed")
}

/// Relay credentials as the server signs them: the expiry (Unix seconds),
/// and its HMAC-SHA1 under the secret.
fn sign(secret: &str, expiry: u64) -> (String, String) {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let user = expiry.to_string();
    let pass = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        ring::hmac::sign(&key, user.as_bytes()),
    );
    (user, pass)
}

/// How many relay candidates Chromium gathers with these credentials
/// (none: the relay refused them).
async fn relay_candidates(b: &Browser, url: &str, user: &str, pass: &str) -> u64 {
    let script = format!(
        r#"const done = arguments[arguments.length - 1];
           const pc = new RTCPeerConnection({{iceTransportPolicy: 'relay',
               iceServers: [{{urls: [{url}], username: {user}, credential: {pass}}}]}});
           let relays = 0;
           pc.onicecandidate = e => {{
               if (e.candidate && e.candidate.type === 'relay') relays++;
               if (!e.candidate) {{ pc.close(); done(relays); }}
           }};
           pc.createDataChannel('probe');
           pc.createOffer().then(o => pc.setLocalDescription(o));"#,
        url = Value::from(url),
        user = Value::from(user),
        pass = Value::from(pass),
    );
    b.js_async(&script).await.as_u64().expect("a count")
}

#[test]
fn through_the_relay_over_udp_and_over_tcp_and_only_with_good_credentials() {
    in_private_network(async || {
        let driver = Chromedriver::start().await;
        for transport in ["udp", "tcp"] {
            let server = relay_server(|c| c.turn_transports = transport.parse().unwrap()).await;
            let relay = server.turn_addr.expect("the relay runs");
            let ann = Browser::with_camera(&driver, 1000, 800).await;
            let bob = Browser::with_camera(&driver, 1000, 800).await;
            ann.register(&server, "ann").await;
            ann.create_channel("live").await;
            bob.register(&server, "bob").await;
            bob.join_channel("live").await;
            // Both ask for the relay alone (it hides their addresses).
            for b in [&ann, &bob] {
                b.click("#relay-only").await;
                b.wait_js(
                    "relay only to be on",
                    "return document.getElementById('relay-only').checked",
                )
                .await;
            }
            go_live(&ann, "Through the server").await;
            bob.click_text("#live-streams .watch", "Watch").await;
            let first = plays(&bob).await;
            let want = format!("relay ({transport})");
            assert_eq!(path(&bob).await, want);
            ann.wait_text("#live-viewers", &format!("bob ({want})"))
                .await;
            let mut root = server.admin(Transport::Ws, "root").await;
            let stats = root.ok(json!({"type": "admin_stats"})).await;
            let relayed = stats["stats"]["turn_relayed_bytes"].as_u64().unwrap_or(0);
            assert!(relayed > 0, "the relay carried {relayed} bytes: {stats}");
            println!("over {transport}: first picture after {first} ms, {relayed} bytes relayed");

            // Chromium itself: the relay answers good credentials only.
            let url = format!("turn:{relay}?transport={transport}");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let (user, pass) = sign(SECRET, now + 600);
            assert!(relay_candidates(&bob, &url, &user, &pass).await > 0);
            assert_eq!(
                relay_candidates(&bob, &url, &user, "not the password").await,
                0,
                "a wrong password gets no relay"
            );
            let (user, pass) = sign(SECRET, now - 60);
            assert_eq!(
                relay_candidates(&bob, &url, &user, &pass).await,
                0,
                "expired credentials get no relay"
            );
            let (user, pass) = sign("another server's secret", now + 600);
            assert_eq!(relay_candidates(&bob, &url, &user, &pass).await, 0);
            ann.click("#stop-live").await;
            bob.wait_text(".notice", "has ended").await;
            server.stop().await;
        }
    });
}

#[test]
fn visitors_watch_a_public_stream_but_never_host_and_strangers_see_nothing() {
    in_private_network(async || {
        let server = relay_server(|_| {}).await;
        let driver = Chromedriver::start().await;
        let ann = Browser::with_camera(&driver, 1000, 800).await;
        ann.register(&server, "ann").await;
        ann.create_channel("live").await;
        // A screen this time (the fake device shares a fake screen).
        go_live_showing(&ann, "Open house", "screen").await;

        // A visitor (no account) watches the public channel's stream.
        let vic = Browser::with_camera(&driver, 1000, 800).await;
        vic.goto(&format!("http://{}/", server.http)).await;
        vic.click("#visitor").await;
        vic.wait_text(".topbar .status", "Connected").await;
        vic.join_channel("live").await;
        vic.click_text("#live-streams .watch", "Watch").await;
        plays(&vic).await;
        ann.wait_text("#live-viewers", "Watching (1/6)").await;
        // ... and is never offered to go live.
        assert_eq!(
            vic.js("return !!document.getElementById('go-live')").await,
            json!(false)
        );

        // Over the protocol: a visitor is refused as a host; someone
        // outside a private channel can neither see, watch nor signal its
        // stream, nor get relay credentials for it.
        let mut v = server.hello(Transport::Ws).await;
        v.ok(json!({"type": "visitor"})).await;
        let conv = conv_of(&server, "live").await;
        v.ok(json!({"type": "channel_join", "name": "live"})).await;
        let (code, _) = v
            .err(json!({"type": "stream_start", "conv": conv, "title": "mine"}))
            .await;
        assert_eq!(code, "forbidden");

        ann.type_into(
            "#composer",
            &format!("/create --private backroom{}", enter()),
        )
        .await;
        ann.wait_text("#channels", "#backroom").await;
        ann.click("#stop-live").await;
        ann.wait_gone("#live-preview").await;
        ann.click_text("#channels .conv", "#backroom").await;
        go_live(&ann, "Members only").await;
        // Stream 1 was the open one (ended); stream 2 is the backroom's.
        let mut eve = server.user(Transport::Ws, "eve").await;
        let hidden = eve
            .err(json!({"type": "channel_join", "name": "backroom"}))
            .await;
        assert_eq!(hidden.0, "not_found", "{hidden:?}");
        for id in [1, 2] {
            let (code, _) = eve.err(json!({"type": "stream_watch", "stream": id})).await;
            assert_eq!(code, "not_found");
            let (code, _) = eve.err(json!({"type": "stream_ice", "stream": id})).await;
            assert_eq!(code, "not_found");
            let (code, _) = eve
                .err(json!({"type": "signal", "stream": id, "watch": 1, "data": {"sdp": {}}}))
                .await;
            assert_eq!(code, "not_found");
        }
    });
}

/// CPU time (clock ticks) of a browser: every process under the one
/// started with its profile.
fn browser_ticks(b: &Browser) -> u64 {
    let profile = b.profile().to_string_lossy().into_owned();
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command's name in parentheses: state, ppid, …,
        // utime (14th field) and stime (15th).
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mine = String::from_utf8_lossy(&cmdline).contains(&profile);
        procs.push((pid, num(1) as u32, num(11) + num(12), mine));
    }
    let mut tree: std::collections::HashSet<u32> =
        procs.iter().filter(|p| p.3).map(|p| p.0).collect();
    loop {
        let before = tree.len();
        for p in &procs {
            if tree.contains(&p.1) {
                tree.insert(p.0);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    procs
        .iter()
        .filter(|p| tree.contains(&p.0))
        .map(|p| p.2)
        .sum()
}

async fn frames(b: &Browser) -> u64 {
    b.js("return Number((document.getElementById('watch-figures') || {dataset: {}}).dataset.frames || 0)")
        .await
        .as_u64()
        .unwrap_or(0)
}

/// How far peer to peer goes on this machine: the host's CPU and each
/// viewer's frame rate as viewers are added. A measurement, not a check
/// (`bench/live.sh` runs it and `bench/RESULTS.md` keeps its figures).
#[test]
#[ignore = "a measurement: bench/live.sh runs it"]
fn measure_host_cpu_per_viewer() {
    let steps: Vec<usize> = std::env::var("CONFAB_LIVE_STEPS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 1, 2, 4, 6, 8]);
    let window = std::time::Duration::from_secs(10);
    in_private_network(async || {
        let most = *steps.iter().max().unwrap_or(&0);
        let server = relay_server(|c| c.stream_viewers = most.max(1) as u32).await;
        let driver = Chromedriver::start().await;
        let ann = Browser::with_camera(&driver, 1000, 800).await;
        ann.register(&server, "ann").await;
        ann.create_channel("live").await;
        go_live(&ann, "Measured").await;
        let ticks_per_sec = 100.0; // USER_HZ on Linux
        let mut viewers: Vec<Browser> = Vec::new();
        for n in steps {
            while viewers.len() < n {
                let b = Browser::with_camera(&driver, 1000, 800).await;
                b.register(&server, &format!("viewer{}", viewers.len()))
                    .await;
                b.join_channel("live").await;
                b.click_text("#live-streams .watch", "Watch").await;
                plays(&b).await;
                viewers.push(b);
            }
            let cpu0 = browser_ticks(&ann);
            let mut f0 = Vec::new();
            for v in &viewers {
                f0.push(frames(v).await);
            }
            let t0 = std::time::Instant::now();
            tokio::time::sleep(window).await;
            let secs = t0.elapsed().as_secs_f64();
            let cpu =
                browser_ticks(&ann).saturating_sub(cpu0) as f64 / ticks_per_sec / secs * 100.0;
            let mut fps = Vec::new();
            let mut kbps = Vec::new();
            for (v, before) in viewers.iter().zip(f0) {
                fps.push(
                    (frames(v).await.saturating_sub(before) as f64 / secs * 10.0).round() / 10.0,
                );
                kbps.push(
                    v.js(
                        "return Number(document.getElementById('watch-figures').dataset.kbps || 0)",
                    )
                    .await
                    .as_u64()
                    .unwrap_or(0),
                );
            }
            let slowest = fps.iter().cloned().fold(f64::INFINITY, f64::min);
            println!(
                "{}",
                json!({
                    "viewers": n,
                    "host_cpu_percent": (cpu * 10.0).round() / 10.0,
                    "viewer_fps": fps,
                    "viewer_kbps": kbps,
                    "slowest_fps": if slowest.is_finite() { slowest } else { 0.0 },
                })
            );
        }
    });
}
