//! The JSON Schema of the protocol, generated from the Rust types. The
//! committed copy is `docs/protocol.schema.json`; a test fails when it is
//! stale (run `CONFAB_BLESS=1 cargo test -p confab-proto schema` to rewrite it).

use crate::{ClientFrame, ServerFrame};

/// One document with both directions: `client` (frames a client sends) and
/// `server` (replies and events).
pub fn json_schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Confab protocol",
        "description": "Frames on the Confab wire, TLS/TCP (4-byte big-endian length prefix) or WebSocket (one text message each). See docs/PROTOCOL.md.",
        "client": schemars::schema_for!(ClientFrame),
        "server": schemars::schema_for!(ServerFrame),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schema_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/protocol.schema.json"
        );
        let fresh = serde_json::to_string_pretty(&super::json_schema()).unwrap() + "\n";
        if std::env::var_os("CONFAB_BLESS").is_some() {
            std::fs::write(path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/protocol.schema.json is stale: run `CONFAB_BLESS=1 cargo test -p confab-proto schema` and commit it"
        );
    }
}
