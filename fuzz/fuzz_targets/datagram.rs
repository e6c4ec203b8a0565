//! Typing datagrams: any bytes are refused or read, never a panic; only a
//! sealed datagram opens, once.
#![no_main]

use confab_proto::datagram::{self, Direction, Payload, Window};
use libfuzzer_sys::fuzz_target;

/// The keys of one path, derived once.
fn key() -> &'static datagram::Key {
    static KEY: std::sync::OnceLock<datagram::Key> = std::sync::OnceLock::new();
    KEY.get_or_init(|| datagram::keys(&[7u8; datagram::SECRET_LEN], 42).0)
}

fuzz_target!(|data: &[u8]| {
    let to_server = key();
    let mut window = Window::default();
    if let Ok(h) = datagram::header(data) {
        // Forged input cannot open (the fuzzer cannot forge a tag).
        let _ = datagram::open(to_server, &mut window, &h, data);
    }
    // A real one, with a counter from the input, opens once (counters
    // start at 1; 0 is never accepted).
    let counter = data
        .iter()
        .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(*b)))
        .max(1);
    let sealed = datagram::seal(
        to_server,
        Direction::ToServer,
        42,
        counter,
        &Payload::Ping { rx: true },
    );
    let h = datagram::header(&sealed).expect("our own header reads");
    let mut fresh = Window::default();
    assert!(datagram::open(to_server, &mut fresh, &h, &sealed).is_ok());
    assert!(
        datagram::open(to_server, &mut fresh, &h, &sealed).is_err(),
        "a replay is refused"
    );
});
