//! The request parser: any bytes give a frame or a precise error (never a
//! panic); a frame that parses serializes back to JSON that parses to the
//! same frame; an error's message stays short.
#![no_main]

use confab_proto::parse_client_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_client_frame(data) {
        Ok(frame) => {
            let json = serde_json::to_vec(&frame).expect("a parsed frame serializes");
            let again = parse_client_frame(&json).expect("what we serialize parses");
            assert_eq!(again, frame);
        }
        Err(e) => {
            // Errors quote at most a short piece of their input.
            assert!(e.message.chars().count() <= 260, "{}", e.message);
        }
    }
});
