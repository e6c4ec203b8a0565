//! Runs the shared store conformance suite against SQLite, plus what only a
//! file-backed store can show: data survives reopening.

use confab_proto::Role;
use confab_store::{Appended, Messages, NewMessage, SqliteStore, Users, conformance};

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
    channels_members_and_dms
);

#[tokio::test]
async fn committed_messages_survive_reopening() {
    let (dir, store) = fresh();
    let a = store.create_user("alice", "h", Role::Admin).await.unwrap();
    let ch = confab_store::Channels::create_channel(&store, "general", false, "", a.id)
        .await
        .unwrap();
    let out = store
        .append(vec![NewMessage {
            conv: ch.id,
            sender: a.id,
            sender_name: "alice".into(),
            text: "kept".into(),
            nonce: None,
            ts: 1,
        }])
        .await
        .unwrap();
    assert!(matches!(out[0], Ok(Appended::New(_))));
    drop(store);
    let store = SqliteStore::open(dir.path().join("confab.db")).unwrap();
    let (msgs, _) = store
        .history(ch.id, confab_store::Page::Latest, 10)
        .await
        .unwrap();
    assert_eq!(msgs[0].text, "kept");
    assert_eq!(
        store.user_by_name("alice").await.unwrap().unwrap().role,
        Role::Admin
    );
}
