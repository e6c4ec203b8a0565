//! Runs the shared store conformance suite against SQLite, plus what only a
//! file-backed store can show: data survives reopening, and a database made
//! by an earlier version opens and migrates.

use confab_proto::{Body, ConvKind, Role};
use confab_store::{
    Convs, Messages, NewMessage, Page, Reader, Social, SqliteStore, Users, conformance,
};

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("confab.db")).unwrap();
    (dir, store)
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (_dir, store) = fresh();
            conformance::$name(&store).await;
        }
    )*};
}

conformance_tests!(
    users_and_tokens,
    append_and_history,
    append_to_missing_conv_fails_alone,
    channels_members_and_dms,
    withheld_entries,
    groups,
    friends_and_blocks,
    administration,
    edits_deletes_topics_and_read_positions,
    search,
    first_run,
    files,
);

#[tokio::test]
async fn committed_messages_survive_reopening() {
    let (dir, store) = fresh();
    let a = store.create_user("alice", "h", Role::Admin).await.unwrap();
    let ch = store
        .create_channel("general", false, "", a.id)
        .await
        .unwrap();
    let out = store
        .append(vec![NewMessage::text(ch.id, a.id, "alice", "kept", 1)])
        .await
        .unwrap();
    assert!(out[0].is_ok());
    drop(store);
    let store = SqliteStore::open(dir.path().join("confab.db")).unwrap();
    let reader = Reader {
        user: a.id,
        from_seq: 0,
    };
    let (msgs, _) = store
        .history(ch.id, Page::Latest, 10, reader)
        .await
        .unwrap();
    assert_eq!(msgs[0].body, Body::text("kept"));
    assert_eq!(
        store.user_by_name("alice").await.unwrap().unwrap().role,
        Role::Admin
    );
}

/// `fixtures/v1-server.db` was written by the release before message
/// kinds, groups and friends (schema version 1): alice, bob and carol;
/// #general (public, with a topic), #secret (private: alice and bob), a DM
/// between alice and bob, six messages, carol invisible.
#[tokio::test]
async fn a_database_made_by_the_previous_version_opens_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confab.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1-server.db"),
        &path,
    )
    .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let bob = store.user_by_name("bob").await.unwrap().unwrap();
    assert!(
        store
            .user_by_name("carol")
            .await
            .unwrap()
            .unwrap()
            .invisible
    );
    let reader = Reader {
        user: alice.id,
        from_seq: 0,
    };

    let general = store.public_channel("general").await.unwrap().unwrap();
    assert_eq!(general.topic, "all things");
    let (msgs, more) = store
        .history(general.id, Page::Latest, 50, reader)
        .await
        .unwrap();
    let texts: Vec<(&str, Option<&str>)> =
        msgs.iter().map(|m| (m.sender.as_str(), m.text())).collect();
    assert_eq!(
        texts,
        [
            ("alice", Some("hello everyone")),
            ("bob", Some("hi alice 👋")),
            ("carol", Some("morning")),
        ]
    );
    assert!(!more);
    assert_eq!(msgs[0].nonce.as_deref(), Some("a-1"));

    // The private channel keeps its name for its members and no longer
    // holds it against anyone else.
    assert_eq!(store.public_channel("secret").await.unwrap(), None);
    let secret = store.channel_for("secret", bob.id).await.unwrap().unwrap();
    assert_eq!((secret.name.as_str(), secret.private), ("secret", true));
    let carol = store.user_by_name("carol").await.unwrap().unwrap();
    assert_eq!(store.channel_for("secret", carol.id).await.unwrap(), None);
    store
        .create_channel("secret", false, "", carol.id)
        .await
        .expect("the name is free for a public channel");

    let dm = store.dm_conv(alice.id, bob.id).await.unwrap().unwrap();
    let (msgs, _) = store
        .history(dm.id, Page::Latest, 50, reader)
        .await
        .unwrap();
    assert_eq!(
        msgs.iter().map(|m| m.text().unwrap()).collect::<Vec<_>>(),
        ["psst", "yes?"]
    );
    let kinds: Vec<ConvKind> = store
        .convs_of(alice.id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.conv.kind)
        .collect();
    assert_eq!(kinds, [ConvKind::Channel, ConvKind::Channel, ConvKind::Dm]);
    // New tables are there and empty.
    assert_eq!(
        store.relations_of(alice.id).await.unwrap(),
        Default::default()
    );
    // And the log goes on where it stopped.
    let out = store
        .append(vec![NewMessage::text(
            general.id,
            bob.id,
            "bob",
            "after the upgrade",
            2,
        )])
        .await
        .unwrap();
    assert_eq!(out[0].as_ref().unwrap().message.seq, 4);
}
