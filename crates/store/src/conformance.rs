//! The behaviour every backend must show, as plain async functions over any
//! [`Store`]. A backend's test file calls each one on a fresh store (see
//! `tests/sqlite.rs`); a new backend runs the same list.

use confab_proto::{ConvKind, Role};

use crate::{Appended, NewMessage, Page, Store, StoreError};

fn msg(conv: u64, sender: i64, name: &str, text: &str, nonce: Option<&str>) -> NewMessage {
    NewMessage {
        conv,
        sender,
        sender_name: name.into(),
        text: text.into(),
        nonce: nonce.map(Into::into),
        ts: 1_700_000_000_000,
    }
}

/// Users: unique names, tokens that revoke on password change.
pub async fn users_and_tokens(s: &dyn Store) {
    let a = s.create_user("alice", "h1", Role::Member).await.unwrap();
    assert!(
        matches!(s.create_user("alice", "h2", Role::Member).await, Err(StoreError::NameTaken(n)) if n == "alice")
    );
    assert_eq!(s.user_by_name("alice").await.unwrap().unwrap().id, a.id);
    assert_eq!(s.user_by_name("nobody").await.unwrap(), None);
    s.add_token(a.id, "t1").await.unwrap();
    s.add_token(a.id, "t2").await.unwrap();
    assert_eq!(s.user_by_token("t1").await.unwrap().unwrap().name, "alice");
    s.revoke_token("t1").await.unwrap();
    assert_eq!(s.user_by_token("t1").await.unwrap(), None);
    s.set_password(a.id, "h3").await.unwrap();
    assert_eq!(
        s.user_by_token("t2").await.unwrap(),
        None,
        "password change revokes every token"
    );
    assert_eq!(
        s.user_by_id(a.id).await.unwrap().unwrap().password_hash,
        "h3"
    );
    s.set_invisible(a.id, true).await.unwrap();
    assert!(s.user_by_id(a.id).await.unwrap().unwrap().invisible);
    assert_eq!(s.count_users().await.unwrap(), 1);
}

/// Appends get gap-free sequence numbers; a repeated nonce returns the original.
pub async fn append_and_history(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let ch = s.create_channel("general", false, "", a.id).await.unwrap();
    let batch: Vec<_> = (1..=25)
        .map(|i| msg(ch.id, a.id, "alice", &format!("m{i}"), None))
        .collect();
    let out = s.append(batch).await.unwrap();
    let seqs: Vec<u64> = out
        .iter()
        .map(|r| match r {
            Ok(Appended::New(m)) => m.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, (1..=25).collect::<Vec<_>>());

    let first = s
        .append(vec![msg(ch.id, a.id, "alice", "once", Some("n-1"))])
        .await
        .unwrap();
    let again = s
        .append(vec![
            msg(ch.id, a.id, "alice", "once", Some("n-1")),
            msg(ch.id, a.id, "alice", "next", Some("n-2")),
        ])
        .await
        .unwrap();
    let Ok(Appended::New(orig)) = &first[0] else {
        panic!()
    };
    assert!(matches!(&again[0], Ok(Appended::Duplicate(m)) if m == orig));
    assert!(matches!(&again[1], Ok(Appended::New(m)) if m.seq == 27));

    let (page, more) = s.history(ch.id, Page::Latest, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (18..=27).collect::<Vec<_>>()
    );
    assert!(more);
    let (page, more) = s.history(ch.id, Page::Before(18), 100).await.unwrap();
    assert_eq!((page.len(), page[0].seq, more), (17, 1, false));
    let (page, more) = s.history(ch.id, Page::After(20), 5).await.unwrap();
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![21, 22, 23, 24, 25]
    );
    assert!(more);
    assert_eq!(page[0].sender, "alice");
    assert_eq!(s.conv(ch.id).await.unwrap().unwrap().last_seq, 27);
}

/// One bad append in a batch fails alone.
pub async fn append_to_missing_conv_fails_alone(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let ch = s.create_channel("general", false, "", a.id).await.unwrap();
    let out = s
        .append(vec![
            msg(ch.id, a.id, "alice", "a", None),
            msg(9999, a.id, "alice", "b", None),
            msg(ch.id, a.id, "alice", "c", None),
        ])
        .await
        .unwrap();
    assert!(matches!(&out[0], Ok(Appended::New(m)) if m.seq == 1));
    assert!(matches!(&out[1], Err(StoreError::NotFound(_))));
    assert!(matches!(&out[2], Ok(Appended::New(m)) if m.seq == 2));
}

/// Channels: listing hides private channels from non-members; DMs pair up once.
pub async fn channels_members_and_dms(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let b = s.create_user("bob", "h", Role::Member).await.unwrap();
    let public = s
        .create_channel("general", false, "hello", a.id)
        .await
        .unwrap();
    let secret = s.create_channel("secret", true, "", a.id).await.unwrap();
    assert!(matches!(
        s.create_channel("general", false, "", b.id).await,
        Err(StoreError::NameTaken(_))
    ));
    let names =
        |rows: Vec<crate::ChannelRow>| rows.into_iter().map(|r| r.conv.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_channels(a.id).await.unwrap()),
        vec!["general", "secret"]
    );
    assert_eq!(names(s.list_channels(b.id).await.unwrap()), vec!["general"]);
    assert!(s.add_member(public.id, b.id).await.unwrap());
    assert!(!s.add_member(public.id, b.id).await.unwrap());
    assert_eq!(s.members(public.id).await.unwrap().len(), 2);
    assert!(s.remove_member(public.id, b.id).await.unwrap());
    assert!(!s.remove_member(public.id, b.id).await.unwrap());

    let (dm, created) = s.dm_conv(b.id, a.id).await.unwrap();
    let (dm2, created2) = s.dm_conv(a.id, b.id).await.unwrap();
    assert!(created && !created2);
    assert_eq!(dm.id, dm2.id);
    let convs = s.convs_of(b.id).await.unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(
        (convs[0].kind, convs[0].name.as_str()),
        (ConvKind::Dm, "alice")
    );

    s.delete_conv(secret.id).await.unwrap();
    assert_eq!(s.conv(secret.id).await.unwrap(), None);
    let pairs = s.all_memberships().await.unwrap();
    assert_eq!(pairs.len(), 3, "{pairs:?}");
}
