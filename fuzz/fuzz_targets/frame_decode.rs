//! The TCP framing: any bytes, arriving in any pieces, either give frames
//! no longer than the limit or a `TooLarge`, never a panic; and frames
//! encoded then decoded come back whole.
#![no_main]

use bytes::BytesMut;
use confab_proto::frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    // A small limit makes over-limit frames common.
    let max = usize::from(first) * 16 + 1;
    let mut buf = BytesMut::new();
    // Feed the bytes in pieces whose sizes the input also decides.
    let mut i = 0;
    while i < rest.len() {
        let step = usize::from(rest[i] % 7) + 1;
        let end = (i + step).min(rest.len());
        buf.extend_from_slice(&rest[i..end]);
        i = end;
        loop {
            match frame::decode(&mut buf, max) {
                Ok(Some(payload)) => assert!(payload.len() <= max),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    // Round trip: what is encoded decodes to the same payload.
    let mut enc = BytesMut::new();
    frame::encode(rest, &mut enc);
    let back = frame::decode(&mut enc, rest.len().max(1)).expect("within the limit");
    assert_eq!(back.as_deref(), Some(rest));
    assert!(enc.is_empty());
});
