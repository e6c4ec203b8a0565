//! Strict parsing of client frames. Every way a frame can be wrong gets its
//! own code and a message naming the problem, and the request `id` is
//! recovered whenever it can be so the error reaches the right request.

use serde_json::{Map, Value};

use crate::{ClientFrame, ErrorCode, Request};

/// Why a frame could not be read as a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ParseError {
    /// The request's `id`, when the frame was readable enough to have one.
    pub id: Option<u64>,
    pub code: ErrorCode,
    pub message: String,
}

impl ParseError {
    fn new(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        ParseError {
            id,
            code,
            message: message.into(),
        }
    }
}

/// Parses one frame's payload.
pub fn parse_client_frame(payload: &[u8]) -> Result<ClientFrame, ParseError> {
    let text = std::str::from_utf8(payload).map_err(|e| {
        ParseError::new(
            None,
            ErrorCode::BadFrame,
            format!(
                "frame is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ParseError::new(None, ErrorCode::BadJson, format!("invalid JSON: {e}")))?;
    let mut map = match value {
        Value::Object(map) => map,
        other => {
            return Err(ParseError::new(
                None,
                ErrorCode::NotObject,
                format!("a frame must be a JSON object, got {}", kind(&other)),
            ));
        }
    };
    let id = take_id(&mut map)?;
    let type_name = match map.get("type") {
        None => {
            return Err(ParseError::new(
                id,
                ErrorCode::BadRequest,
                "missing field `type`",
            ));
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ParseError::new(
                id,
                ErrorCode::BadRequest,
                format!("field `type` must be a string, got {}", kind(other)),
            ));
        }
    };
    if !Request::TYPES.contains(&type_name.as_str()) {
        return Err(ParseError::new(
            id,
            ErrorCode::UnknownType,
            format!(
                "unknown message type `{}`",
                crate::limits::shown(&type_name)
            ),
        ));
    }
    if id.is_none() && type_name != "pong" {
        return Err(ParseError::new(
            None,
            ErrorCode::BadRequest,
            format!("missing field `id` (every `{type_name}` request carries one)"),
        ));
    }
    // Every field of every request is a short snake_case name; anything
    // else is named here, clipped, before serde would quote it whole.
    if let Some(key) = map.keys().find(|k| !is_field_name(k)) {
        return Err(ParseError::new(
            id,
            ErrorCode::BadRequest,
            format!(
                "invalid `{type_name}` request: unknown field `{}`",
                crate::limits::shown(key)
            ),
        ));
    }
    let req: Request = serde_json::from_value(Value::Object(map)).map_err(|e| {
        ParseError::new(
            id,
            ErrorCode::BadRequest,
            format!(
                "invalid `{type_name}` request: {}",
                clip_quoted(&e.to_string())
            ),
        )
    })?;
    Ok(ClientFrame { id, req })
}

fn is_field_name(k: &str) -> bool {
    (1..=32).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The longest error message, in characters: serde's message with its
/// quotes clipped is far shorter, unless what it quotes holds quote marks
/// of its own.
const MAX_MESSAGE_CHARS: usize = 200;

fn take_id(map: &mut Map<String, Value>) -> Result<Option<u64>, ParseError> {
    match map.remove("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(other) => Err(ParseError::new(
            None,
            ErrorCode::BadRequest,
            format!(
                "field `id` must be a non-negative integer, got {}",
                kind(&other)
            ),
        )),
    }
}

/// serde's messages quote what they were given (an unknown field's name, a
/// string of the wrong type): each quoted piece is cut to
/// [`crate::limits::SHOWN_CHARS`], so a huge key is not sent back whole.
fn clip_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(512));
    let mut quote: Option<char> = None;
    let mut inside = String::new();
    for c in msg.chars() {
        match quote {
            Some(q) if c == q => {
                out.push_str(&crate::limits::shown(&inside));
                out.push(c);
                inside.clear();
                quote = None;
            }
            Some(_) => inside.push(c),
            None => {
                out.push(c);
                if c == '`' || c == '"' {
                    quote = Some(c);
                }
            }
        }
    }
    out.push_str(&crate::limits::shown(&inside));
    crate::limits::clip(&out, MAX_MESSAGE_CHARS)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> ParseError {
        parse_client_frame(s.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_a_request() {
        let f = parse_client_frame(br#"{"id":3,"type":"send","conv":1,"text":"hi"}"#).unwrap();
        assert_eq!(f.id, Some(3));
        assert_eq!(
            f.req,
            Request::Send {
                conv: 1,
                text: "hi".into(),
                nonce: None,
                reply_to: None,
            }
        );
    }

    #[test]
    fn every_listed_type_parses_and_names_itself() {
        // A request of each type with its minimal fields; proves TYPES and
        // type_name() agree with the serde names.
        let samples = [
            r#""type":"hello","protocol":1,"client":"t""#,
            r#""type":"register","username":"a","password":"b""#,
            r#""type":"login","username":"a","password":"b""#,
            r#""type":"resume","token":"t""#,
            r#""type":"visitor""#,
            r#""type":"logout""#,
            r#""type":"change_password","old_password":"a","new_password":"b""#,
            r#""type":"whoami""#,
            r#""type":"set_status","invisible":true"#,
            r#""type":"ping""#,
            r#""type":"pong""#,
            r#""type":"channel_create","name":"x""#,
            r#""type":"channel_join","name":"x""#,
            r#""type":"channel_leave","name":"x""#,
            r#""type":"channel_list""#,
            r#""type":"channel_invite","name":"x","user":"u""#,
            r#""type":"channel_delete","name":"x""#,
            r#""type":"channel_members","name":"x""#,
            r#""type":"send","conv":1,"text":"t""#,
            r#""type":"dm_send","user":"u","text":"t""#,
            r#""type":"react","conv":1,"target":1,"emoji":"👍""#,
            r#""type":"edit","conv":1,"target":1,"text":"t""#,
            r#""type":"delete","conv":1,"target":1"#,
            r#""type":"answer","conv":1,"target":1,"accept":true"#,
            r#""type":"read","conv":1,"seq":1"#,
            r#""type":"search","query":"q""#,
            r#""type":"topic","conv":1,"topic":"t""#,
            r#""type":"history","conv":1"#,
            r#""type":"sync""#,
            r#""type":"typing","conv":1"#,
            r#""type":"stream_start","conv":1,"title":"t""#,
            r#""type":"stream_stop","stream":1"#,
            r#""type":"streams","conv":1"#,
            r#""type":"stream_watch","stream":1"#,
            r#""type":"stream_unwatch","stream":1"#,
            r#""type":"stream_ice","stream":1"#,
            r#""type":"signal","stream":1,"watch":2,"data":{"sdp":"x"}"#,
            r#""type":"users""#,
            r#""type":"members","conv":1"#,
            r#""type":"friend_request","user":"u""#,
            r#""type":"friend_accept","user":"u""#,
            r#""type":"friend_decline","user":"u""#,
            r#""type":"friend_cancel","user":"u""#,
            r#""type":"friend_remove","user":"u""#,
            r#""type":"block","user":"u""#,
            r#""type":"unblock","user":"u""#,
            r#""type":"friends""#,
            r#""type":"group_create","name":"g","members":["u"]"#,
            r#""type":"group_add","conv":1,"users":["u"]"#,
            r#""type":"group_leave","conv":1"#,
            r#""type":"group","conv":1"#,
            r#""type":"group_update","conv":1,"name":"h""#,
            r#""type":"udp_open""#,
            r#""type":"admin_users","query":"a""#,
            r#""type":"admin_user_create","name":"u","password":"p""#,
            r#""type":"admin_user_update","name":"u","disabled":true"#,
            r#""type":"admin_user_delete","name":"u""#,
            r#""type":"admin_user_password","name":"u","password":"p""#,
            r#""type":"admin_user_revoke","name":"u""#,
            r#""type":"admin_channels""#,
            r#""type":"admin_channel_delete","conv":1"#,
            r#""type":"admin_channel_owner","conv":1,"user":"u""#,
            r#""type":"admin_stats""#,
            r#""type":"admin_audit","limit":5"#,
            r#""type":"admin_broadcast","text":"t""#,
            r#""type":"admin_shutdown","reason":"r""#,
            r#""type":"admin_invite","uses":2"#,
        ];
        assert_eq!(samples.len(), Request::TYPES.len());
        for (s, name) in samples.iter().zip(Request::TYPES) {
            let f = parse_client_frame(format!("{{\"id\":1,{s}}}").as_bytes()).unwrap();
            assert_eq!(f.req.type_name(), *name);
            // And it serializes back to the same type name.
            let back: Value = serde_json::to_value(&f).unwrap();
            assert_eq!(back["type"], *name);
        }
    }

    /// Found by fuzzing: a key or a string value holding quote marks of its
    /// own made the clipping stop early and the rest came back whole.
    #[test]
    fn quote_marks_inside_what_was_given_do_not_defeat_the_clipping() {
        let key = format!("y`{}`z", "y".repeat(2000));
        let e = err(&format!("{{\"id\":1,\"type\":\"sync\",\"{key}\":1}}"));
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert!(e.message.chars().count() < 120, "{}", e.message);
        let value = format!("a\\\"{}", "b".repeat(2000));
        let e = err(&format!(
            "{{\"id\":1,\"type\":\"send\",\"conv\":\"{value}\",\"text\":\"x\"}}"
        ));
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(
            e.message.chars().count() <= MAX_MESSAGE_CHARS + 40,
            "{}",
            e.message
        );
    }

    #[test]
    fn errors_name_what_was_wrong() {
        assert_eq!(
            parse_client_frame(&[0xff, 0xfe]).unwrap_err().code,
            ErrorCode::BadFrame
        );
        let e = err("{nope");
        assert_eq!(e.code, ErrorCode::BadJson);
        let e = err("[1,2]");
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                ErrorCode::NotObject,
                "a frame must be a JSON object, got an array"
            )
        );
        assert_eq!(err("42").code, ErrorCode::NotObject);
        let e = err(r#"{"id":4,"type":"fly"}"#);
        assert_eq!((e.id, e.code), (Some(4), ErrorCode::UnknownType));
        assert!(e.message.contains("`fly`"));
        let e = err(r#"{"id":5,"type":"send","conv":1}"#);
        assert_eq!((e.id, e.code), (Some(5), ErrorCode::BadRequest));
        assert!(e.message.contains("missing field `text`"), "{}", e.message);
        let e = err(r#"{"id":6,"type":"send","conv":1,"text":"x","colour":"red"}"#);
        assert!(
            e.message.contains("unknown field `colour`"),
            "{}",
            e.message
        );
        let e = err(r#"{"id":7,"type":"send","conv":"one","text":"x"}"#);
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = err(r#"{"type":"whoami"}"#);
        assert!(e.message.contains("missing field `id`"), "{}", e.message);
        let e = err(r#"{"id":-1,"type":"whoami"}"#);
        assert!(
            e.message.contains("`id` must be a non-negative integer"),
            "{}",
            e.message
        );
        assert!(err(r#"{"id":1}"#).message.contains("missing field `type`"));
    }

    #[test]
    fn errors_quote_little_of_what_they_were_given() {
        let key = "k".repeat(5000);
        let e = err(&format!(r#"{{"id":1,"type":"whoami","{key}":1}}"#));
        assert!(e.message.contains("unknown field `kkkk"), "{}", e.message);
        assert!(e.message.len() < 300, "{}", e.message.len());
        let value = "v".repeat(5000);
        let e = err(&format!(
            r#"{{"id":1,"type":"send","conv":"{value}","text":"x"}}"#
        ));
        assert!(e.message.contains("invalid type"), "{}", e.message);
        assert!(e.message.len() < 300, "{}", e.message.len());
        let e = err(&format!(r#"{{"id":1,"type":"{value}"}}"#));
        assert!(e.message.len() < 100, "{}", e.message);
    }

    #[test]
    fn pong_needs_no_id() {
        assert_eq!(
            parse_client_frame(br#"{"type":"pong"}"#).unwrap().req,
            Request::Pong {}
        );
    }
}
