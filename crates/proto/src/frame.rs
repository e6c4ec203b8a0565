//! Framing for byte streams (TLS over TCP): each frame is a 4-byte
//! big-endian length, then that many bytes of UTF-8 JSON. WebSocket needs no
//! framing of ours: one JSON object per text message.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// A length prefix announced more bytes than the limit allows. The stream
/// cannot be resynchronised after this, so the connection must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes exceeds the limit of {max} bytes")]
pub struct TooLarge {
    pub len: usize,
    pub max: usize,
}

/// Appends one frame holding `payload` to `dst`.
pub fn encode(payload: &[u8], dst: &mut BytesMut) {
    dst.reserve(HEADER_LEN + payload.len());
    dst.put_u32(payload.len() as u32);
    dst.put_slice(payload);
}

/// The length prefix for a payload of `len` bytes.
pub fn header(len: usize) -> [u8; HEADER_LEN] {
    (len as u32).to_be_bytes()
}

/// Takes one whole frame's payload off the front of `src`, or returns
/// `Ok(None)` when more bytes are needed.
pub fn decode(src: &mut BytesMut, max: usize) -> Result<Option<Bytes>, TooLarge> {
    if src.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
    if len > max {
        return Err(TooLarge { len, max });
    }
    if src.len() < HEADER_LEN + len {
        src.reserve(HEADER_LEN + len - src.len());
        return Ok(None);
    }
    src.advance(HEADER_LEN);
    Ok(Some(src.split_to(len).freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_across_partial_reads() {
        let mut wire = BytesMut::new();
        encode(br#"{"a":1}"#, &mut wire);
        encode(b"", &mut wire);
        let mut src = BytesMut::new();
        let mut got = Vec::new();
        for b in wire {
            src.put_u8(b);
            while let Some(frame) = decode(&mut src, 64).unwrap() {
                got.push(frame);
            }
        }
        assert_eq!(got, vec![Bytes::from_static(br#"{"a":1}"#), Bytes::new()]);
    }

    #[test]
    fn over_limit_length_is_refused_before_the_body_arrives() {
        let mut src = BytesMut::from(&header(65)[..]);
        assert_eq!(decode(&mut src, 64), Err(TooLarge { len: 65, max: 64 }));
    }
}
