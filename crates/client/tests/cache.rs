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

/// Two commands started at once on a fresh profile each open its cache:
/// neither may fail with "database is locked" while the other creates it.
#[test]
fn two_processes_opening_a_fresh_cache_at_once_both_succeed() {
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite3");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let openers: Vec<_> = (0..3)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut c = SqliteCache::open(&path)?;
                    confab_client::Cache::set(&mut c, "k", Some("v"))
                })
            })
            .collect();
        for o in openers {
            if let Err(e) = o.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}

/// The cache holds a live session token: only its owner may read it.
#[cfg(unix)]
#[test]
fn the_cache_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let profile = confab_client::native::Profile::open(&root, None, "localhost:7070").unwrap();
    drop(profile.cache().unwrap());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&profile.dir.join("cache.sqlite3")), 0o600);
    assert_eq!(mode(&profile.dir), 0o700);
    assert_eq!(mode(&root), 0o700);
}

/// A profile name is a name, never a path.
#[test]
fn a_profile_name_that_is_a_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    for bad in ["../../x", "..", ".", "a/b", "", "/etc", ".hidden"] {
        let err = confab_client::native::Profile::open(&root, Some(bad), "localhost:7070")
            .expect_err(bad)
            .to_string();
        assert!(err.contains("profile name"), "{bad}: {err}");
    }
    assert!(!dir.path().join("x").exists());
    let ok = confab_client::native::Profile::open(&root, Some("work-2.alt_x"), "h:1").unwrap();
    assert_eq!(ok.dir, root.join("profiles").join("work-2.alt_x"));
}
