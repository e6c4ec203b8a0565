//! A profile's cache written by the previous release opens, migrates and
//! still holds everything.

#![cfg(feature = "native")]

use confab_client::native::SqliteCache;
use confab_client::{Client, Target};
use confab_proto::{Body, ConvKind};

/// `fixtures/v1-cache.sqlite3`: alice's profile from the release before
/// message kinds: #general, #secret, a DM with bob, six messages, her
/// session token, and one message written offline, waiting in the outbox.
#[test]
fn a_cache_made_by_the_previous_version_opens_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite3");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/v1-cache.sqlite3"
        ),
        &path,
    )
    .unwrap();
    let client = Client::new(SqliteCache::open(&path).unwrap(), "test", 1).unwrap();
    assert!(client.has_auth(), "the session token is kept");
    assert_eq!(client.me().map(|u| u.name.as_str()), Some("alice"));
    let convs: Vec<(ConvKind, &str)> = client
        .convs()
        .iter()
        .map(|c| (c.kind, c.name.as_str()))
        .collect();
    assert_eq!(
        convs,
        [
            (ConvKind::Channel, "general"),
            (ConvKind::Channel, "secret"),
            (ConvKind::Dm, "bob")
        ]
    );
    let general = client.conv_named(ConvKind::Channel, "general").unwrap();
    let msgs = client.messages(general.conv, None, 10).unwrap();
    assert_eq!(
        msgs.iter().map(|m| m.body.clone()).collect::<Vec<_>>(),
        [
            Body::text("hello everyone"),
            Body::text("hi alice 👋"),
            Body::text("morning")
        ]
    );
    let waiting = client.outbox();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        (&waiting[0].target, waiting[0].text.as_str()),
        (&Target::Conv(general.conv), "written offline")
    );
    drop(client);
    // And once migrated it opens again.
    let again = Client::new(SqliteCache::open(&path).unwrap(), "test", 1).unwrap();
    assert_eq!(again.convs().len(), 3);
}
