//! The behaviour every backend must show, as plain async functions over any
//! [`Store`]. A backend's test file calls each one on a fresh store (see
//! `tests/sqlite.rs`); a new backend runs the same list.

use confab_proto::{Body, ConvKind, Role, SystemEvent};

use crate::{Appended, Dest, Effect, NewMessage, Page, Reader, Store, StoreError, UserId};

fn msg(conv: u64, sender: i64, name: &str, text: &str, nonce: Option<&str>) -> NewMessage {
    NewMessage {
        nonce: nonce.map(Into::into),
        ..NewMessage::text(conv, sender, name, text, 1_700_000_000_000)
    }
}

fn to(dest: Dest, sender: i64, name: &str, body: Body, effect: Option<Effect>) -> NewMessage {
    NewMessage {
        dest,
        body,
        effect,
        ..NewMessage::text(0, sender, name, "", 1_700_000_000_000)
    }
}

fn reader(user: UserId) -> Reader {
    Reader { user, from_seq: 0 }
}

fn stored(r: &crate::Result<Appended>) -> &Appended {
    match r {
        Ok(a) => a,
        Err(e) => panic!("append failed: {e}"),
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
    assert_eq!(
        s.user_by_token("t1", 0).await.unwrap().unwrap().name,
        "alice"
    );
    s.revoke_token("t1").await.unwrap();
    assert_eq!(s.user_by_token("t1", 0).await.unwrap(), None);
    s.set_password(a.id, "h3").await.unwrap();
    assert_eq!(
        s.user_by_token("t2", 0).await.unwrap(),
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
    let seqs: Vec<u64> = out.iter().map(|r| stored(r).message.seq).collect();
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
    let orig = &stored(&first[0]).message;
    assert!(!stored(&first[0]).duplicate);
    assert!(stored(&again[0]).duplicate && &stored(&again[0]).message == orig);
    assert_eq!(stored(&again[1]).message.seq, 27);

    let me = reader(a.id);
    let (page, more) = s.history(ch.id, Page::Latest, 10, me).await.unwrap();
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (18..=27).collect::<Vec<_>>()
    );
    assert!(more);
    let (page, more) = s.history(ch.id, Page::Before(18), 100, me).await.unwrap();
    assert_eq!((page.len(), page[0].seq, more), (17, 1, false));
    let (page, more) = s.history(ch.id, Page::After(20), 5, me).await.unwrap();
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![21, 22, 23, 24, 25]
    );
    assert!(more);
    assert_eq!(page[0].sender, "alice");
    assert_eq!(page[0].body, Body::text("m21"));
    assert_eq!(s.conv(ch.id).await.unwrap().unwrap().last_seq, 27);
    // A reader who joined later sees only what came after.
    let late = Reader {
        user: a.id,
        from_seq: 24,
    };
    let (page, more) = s.history(ch.id, Page::Latest, 100, late).await.unwrap();
    assert_eq!(page.first().map(|m| m.seq), Some(25));
    assert!(!more);
    let (page, _) = s.history(ch.id, Page::Before(25), 100, late).await.unwrap();
    assert!(page.is_empty());
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
    assert_eq!(stored(&out[0]).message.seq, 1);
    assert!(matches!(&out[1], Err(StoreError::NotFound(_))));
    assert_eq!(stored(&out[2]).message.seq, 2);
}

/// Channels: listing hides private channels from non-members, whose names
/// are their own; DMs pair up once, created by their first message.
pub async fn channels_members_and_dms(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let b = s.create_user("bob", "h", Role::Member).await.unwrap();
    let public = s
        .create_channel("general", false, "hello", a.id)
        .await
        .unwrap();
    let secret = s.create_channel("secret", true, "", a.id).await.unwrap();
    assert_eq!(secret.name, "secret");
    assert!(matches!(
        s.create_channel("general", false, "", b.id).await,
        Err(StoreError::NameTaken(_))
    ));
    // Bob cannot see alice's #secret, so it does not stop him having one.
    let bobs = s.create_channel("secret", true, "", b.id).await.unwrap();
    assert_ne!(bobs.id, secret.id);
    assert_eq!(
        s.channel_for("secret", a.id).await.unwrap().unwrap().id,
        secret.id
    );
    assert_eq!(
        s.channel_for("secret", b.id).await.unwrap().unwrap().id,
        bobs.id
    );
    assert_eq!(s.public_channel("secret").await.unwrap(), None);
    assert_eq!(
        s.channel_for("general", b.id).await.unwrap().unwrap().id,
        public.id
    );
    let names =
        |rows: Vec<crate::ChannelRow>| rows.into_iter().map(|r| r.conv.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_channels(a.id).await.unwrap()),
        vec!["general", "secret"]
    );
    assert!(s.add_member(public.id, b.id).await.unwrap());
    assert!(!s.add_member(public.id, b.id).await.unwrap());
    assert_eq!(s.members(public.id).await.unwrap().len(), 2);
    assert!(s.remove_member(public.id, b.id).await.unwrap());
    assert!(!s.remove_member(public.id, b.id).await.unwrap());

    assert_eq!(s.dm_conv(a.id, b.id).await.unwrap(), None);
    // Two first messages in one batch make one conversation.
    let out = s
        .append(vec![
            to(Dest::Dm(b.id, a.id), b.id, "bob", Body::text("hi"), None),
            to(Dest::Dm(a.id, b.id), a.id, "alice", Body::text("hey"), None),
        ])
        .await
        .unwrap();
    let (first, second) = (stored(&out[0]), stored(&out[1]));
    assert!(first.created && !second.created);
    assert_eq!(first.message.conv, second.message.conv);
    assert_eq!((first.message.seq, second.message.seq), (1, 2));
    let dm = s.dm_conv(a.id, b.id).await.unwrap().unwrap();
    assert_eq!((dm.id, dm.kind), (first.message.conv, ConvKind::Dm));
    let convs = s.convs_of(b.id).await.unwrap();
    let dms: Vec<_> = convs
        .iter()
        .filter(|c| c.conv.kind == ConvKind::Dm)
        .collect();
    assert_eq!(dms.len(), 1);
    assert_eq!((dms[0].conv.name.as_str(), dms[0].from_seq), ("alice", 0));

    s.delete_conv(secret.id).await.unwrap();
    assert_eq!(s.conv(secret.id).await.unwrap(), None);
    let pairs = s.all_memberships().await.unwrap();
    assert_eq!(pairs.len(), 4, "{pairs:?}");
}

/// A DM to someone who blocked the sender is kept, and read by them as withheld.
pub async fn withheld_entries(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let b = s.create_user("bob", "h", Role::Member).await.unwrap();
    let out = s
        .append(vec![NewMessage {
            hidden_for: Some(a.id),
            ..to(Dest::Dm(b.id, a.id), b.id, "bob", Body::text("psst"), None)
        }])
        .await
        .unwrap();
    let conv = stored(&out[0]).message.conv;
    let (alice_sees, _) = s
        .history(conv, Page::Latest, 10, reader(a.id))
        .await
        .unwrap();
    let (bob_sees, _) = s
        .history(conv, Page::Latest, 10, reader(b.id))
        .await
        .unwrap();
    assert_eq!(alice_sees[0].body, Body::Withheld);
    assert_eq!(alice_sees[0].seq, 1, "it keeps its place in the log");
    assert_eq!(bob_sees[0].body, Body::text("psst"));
}

/// Groups: created with their first entry; members added later see the log
/// from the entry that added them; leaving passes ownership on; renames and
/// the add policy are recorded with their entries.
pub async fn groups(s: &dyn Store) {
    let ids = {
        let mut v = Vec::new();
        for n in ["ann", "bob", "cat", "dan"] {
            v.push(s.create_user(n, "h", Role::Member).await.unwrap().id);
        }
        v
    };
    let (ann, bob, cat, dan) = (ids[0], ids[1], ids[2], ids[3]);
    let created = s
        .append(vec![to(
            Dest::NewGroup {
                name: "Trip to Lyon".into(),
                owner_only_add: false,
                members: vec![bob, cat],
            },
            ann,
            "ann",
            Body::System(SystemEvent::Created {
                name: "Trip to Lyon".into(),
                members: vec!["bob".into(), "cat".into()],
            }),
            None,
        )])
        .await
        .unwrap();
    let first = stored(&created[0]);
    assert!(first.created);
    let g = first.message.conv;
    let rec = s.conv(g).await.unwrap().unwrap();
    assert_eq!(
        (rec.kind, rec.name.as_str(), rec.owner, rec.private),
        (ConvKind::Group, "Trip to Lyon", Some(ann), true)
    );
    // Two groups may share a name.
    let other = s
        .append(vec![to(
            Dest::NewGroup {
                name: "Trip to Lyon".into(),
                owner_only_add: true,
                members: vec![],
            },
            bob,
            "bob",
            Body::text("just me"),
            None,
        )])
        .await
        .unwrap();
    assert_ne!(stored(&other[0]).message.conv, g);
    assert!(
        s.conv(stored(&other[0]).message.conv)
            .await
            .unwrap()
            .unwrap()
            .owner_only_add
    );

    let out = s
        .append(vec![
            msg(g, bob, "bob", "before dan", None),
            to(
                Dest::Conv(g),
                cat,
                "cat",
                Body::System(SystemEvent::Added {
                    users: vec!["dan".into()],
                }),
                Some(Effect::AddMembers(vec![dan])),
            ),
            msg(g, dan, "dan", "hello all", None),
        ])
        .await
        .unwrap();
    assert_eq!(stored(&out[1]).message.seq, 3);
    let dans = s
        .all_memberships()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.conv == g && m.user == dan)
        .expect("dan is a member");
    assert_eq!(dans.from_seq, 2, "dan sees the entry that added him on");
    let (seen, _) = s
        .history(
            g,
            Page::Latest,
            50,
            Reader {
                user: dan,
                from_seq: dans.from_seq,
            },
        )
        .await
        .unwrap();
    assert_eq!(seen.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![3, 4]);

    let dans_view = s
        .convs_of(dan)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.conv.id == g)
        .unwrap();
    assert_eq!(dans_view.from_seq, 2);
    // The owner leaves: whoever has been in longest (bob, then cat, who
    // came with him; dan came later) owns it, and the entry says so.
    let left = s
        .append(vec![to(
            Dest::Conv(g),
            ann,
            "ann",
            Body::System(SystemEvent::Left { owner: None }),
            Some(Effect::Leave),
        )])
        .await
        .unwrap();
    assert_eq!(
        stored(&left[0]).message.body,
        Body::System(SystemEvent::Left {
            owner: Some("bob".into())
        })
    );
    // Leaving twice (two devices at once) records it once.
    let again = s
        .append(vec![to(
            Dest::Conv(g),
            ann,
            "ann",
            Body::System(SystemEvent::Left { owner: None }),
            Some(Effect::Leave),
        )])
        .await
        .unwrap();
    assert!(matches!(again[0], Err(StoreError::NotFound(_))));
    s.append(vec![
        to(
            Dest::Conv(g),
            bob,
            "bob",
            Body::System(SystemEvent::Renamed {
                name: "Lyon".into(),
            }),
            Some(Effect::Rename("Lyon".into())),
        ),
        to(
            Dest::Conv(g),
            bob,
            "bob",
            Body::System(SystemEvent::AddPolicy { owner_only: true }),
            Some(Effect::AddPolicy(true)),
        ),
    ])
    .await
    .unwrap()
    .iter()
    .for_each(|r| {
        stored(r);
    });
    let rec = s.conv(g).await.unwrap().unwrap();
    assert_eq!(
        (
            rec.name.as_str(),
            rec.owner,
            rec.owner_only_add,
            rec.last_seq
        ),
        ("Lyon", Some(bob), true, 7)
    );
    let names: Vec<String> = s
        .members(g)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["bob", "cat", "dan"]);
    let (log, _) = s.history(g, Page::Latest, 50, reader(bob)).await.unwrap();
    assert_eq!(
        log.last().unwrap().body,
        Body::System(SystemEvent::AddPolicy { owner_only: true })
    );
    assert!(
        s.convs_of(ann)
            .await
            .unwrap()
            .iter()
            .all(|c| c.conv.id != g),
        "ann left"
    );
}

/// Friends: requests, friendships both ways, blocks that hide requests.
pub async fn friends_and_blocks(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap().id;
    let b = s.create_user("bob", "h", Role::Member).await.unwrap().id;
    let c = s.create_user("carol", "h", Role::Member).await.unwrap().id;
    assert!(s.add_friend_request(a, b).await.unwrap());
    assert!(!s.add_friend_request(a, b).await.unwrap());
    let names = |v: &[(i64, String)]| v.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
    let rb = s.relations_of(b).await.unwrap();
    assert_eq!(names(&rb.incoming), ["alice"]);
    assert_eq!(names(&s.relations_of(a).await.unwrap().outgoing), ["bob"]);
    assert!(s.make_friends(a, b).await.unwrap());
    let ra = s.relations_of(a).await.unwrap();
    assert_eq!(
        (names(&ra.friends), ra.outgoing.len()),
        (vec!["bob".to_owned()], 0)
    );
    assert_eq!(names(&s.relations_of(b).await.unwrap().friends), ["alice"]);
    let all = s.all_relations().await.unwrap();
    assert_eq!((all.friendships.len(), all.blocks.len()), (1, 0));

    // Carol asks bob; bob blocks carol: her request is hidden from him
    // (and still there for her); bob's friendship with alice is untouched.
    s.add_friend_request(c, b).await.unwrap();
    assert!(s.block(b, c).await.unwrap());
    assert!(!s.block(b, c).await.unwrap());
    let rb = s.relations_of(b).await.unwrap();
    assert!(rb.incoming.is_empty());
    assert_eq!(names(&rb.blocked), ["carol"]);
    assert_eq!(names(&s.relations_of(c).await.unwrap().outgoing), ["bob"]);
    // Blocking a friend ends the friendship, and no friendship begins
    // across a block.
    s.block(a, b).await.unwrap();
    assert!(s.relations_of(b).await.unwrap().friends.is_empty());
    assert!(!s.make_friends(b, a).await.unwrap());
    assert!(s.relations_of(a).await.unwrap().friends.is_empty());
    // Unblocked, carol's request (made meanwhile) shows.
    assert!(s.unblock(b, c).await.unwrap());
    assert_eq!(names(&s.relations_of(b).await.unwrap().incoming), ["carol"]);
    assert!(s.remove_friend_request(c, b).await.unwrap());
    assert!(!s.remove_friends(a, b).await.unwrap());
}

/// Accounts and channels as an admin sees them, disabling, deleting, the
/// audit log and invitations.
pub async fn administration(s: &dyn Store) {
    use crate::NewAudit;
    let root = s.create_user("root", "h", Role::Admin).await.unwrap();
    let ann = s.create_user("ann", "h", Role::Member).await.unwrap();
    let bob = s.create_user("bob_100%", "h", Role::Member).await.unwrap();
    s.add_token(ann.id, "ta1").await.unwrap();
    s.add_token(ann.id, "ta2").await.unwrap();
    let all = s.list_users("", 10).await.unwrap();
    let names: Vec<&str> = all.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["ann", "bob_100%", "root"]);
    assert_eq!(all[0].sessions, 2);
    // LIKE's wildcards are plain characters in a query.
    let found = s.list_users("_100%", 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, bob.id);
    assert!(s.list_users("%", 10).await.unwrap().len() == 1);
    assert_eq!(s.list_users("", 2).await.unwrap().len(), 2);

    s.set_role(ann.id, Role::Admin).await.unwrap();
    assert_eq!(
        s.user_by_id(ann.id).await.unwrap().unwrap().role,
        Role::Admin
    );
    s.set_disabled(ann.id, true).await.unwrap();
    let a = s.user_by_id(ann.id).await.unwrap().unwrap();
    assert!(a.disabled);
    assert_eq!(
        s.user_by_token("ta1", 0).await.unwrap(),
        None,
        "disabling ends sessions"
    );
    s.set_disabled(ann.id, false).await.unwrap();
    assert!(!s.user_by_name("ann").await.unwrap().unwrap().disabled);
    s.add_token(ann.id, "ta3").await.unwrap();
    assert_eq!(s.revoke_tokens(ann.id).await.unwrap(), 1);
    assert!(matches!(
        s.set_role(9999, Role::Member).await,
        Err(StoreError::NotFound(_))
    ));

    // Tokens older than the cut-off have expired.
    s.add_token(bob.id, "tb").await.unwrap();
    assert!(s.user_by_token("tb", 0).await.unwrap().is_some());
    assert!(s.user_by_token("tb", i64::MAX).await.unwrap().is_none());

    let general = s
        .create_channel("general", false, "", root.id)
        .await
        .unwrap();
    let secret = s.create_channel("secret", true, "", ann.id).await.unwrap();
    s.add_member(general.id, bob.id).await.unwrap();
    let chans = s.all_channels().await.unwrap();
    let seen: Vec<(&str, bool, Option<&str>, u64)> = chans
        .iter()
        .map(|c| (c.name.as_str(), c.private, c.owner.as_deref(), c.members))
        .collect();
    assert_eq!(
        seen,
        [
            ("general", false, Some("root"), 2),
            ("secret", true, Some("ann"), 1)
        ]
    );
    s.set_owner(secret.id, root.id).await.unwrap();
    let chans = s.all_channels().await.unwrap();
    assert_eq!(chans[1].owner.as_deref(), Some("root"));
    assert_eq!(chans[1].members, 2, "the new owner is a member");

    // Deleting an account keeps its messages under a name no one can use.
    let appended = s
        .append(vec![NewMessage::text(
            general.id, bob.id, "bob_100%", "hi", 1,
        )])
        .await
        .unwrap();
    assert!(appended[0].is_ok());
    s.delete_user(bob.id).await.unwrap();
    assert_eq!(s.user_by_name("bob_100%").await.unwrap(), None);
    let gone = s.user_by_id(bob.id).await.unwrap().unwrap();
    assert_eq!(gone.name, format!("deleted-{}", bob.id));
    assert!(gone.disabled);
    let (h, _) = s
        .history(general.id, Page::Latest, 10, reader(root.id))
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].sender, format!("deleted-{}", bob.id));
    assert_eq!(s.members(general.id).await.unwrap().len(), 1);
    assert!(
        s.list_users("", 10)
            .await
            .unwrap()
            .iter()
            .all(|u| u.id != bob.id),
        "deleted accounts are not listed"
    );

    for (i, action) in ["login", "user_disable", "user_delete"].iter().enumerate() {
        s.add_audit(NewAudit {
            actor: Some("root".into()),
            action: (*action).into(),
            target: Some(format!("t{i}")),
            client: Some("127.0.0.1".into()),
            detail: None,
        })
        .await
        .unwrap();
    }
    let log = s.audit(None, 2).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["user_delete", "user_disable"], "newest first");
    let older = s.audit(Some(log[1].id), 10).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].action, "login");

    s.create_invite("inv", Some(root.id), 1_000, 2)
        .await
        .unwrap();
    assert!(s.use_invite("inv", 10).await.unwrap());
    assert!(!s.use_invite("inv", 1_000).await.unwrap(), "expired");
    assert!(s.use_invite("inv", 20).await.unwrap());
    assert!(!s.use_invite("inv", 30).await.unwrap(), "used up");
    assert!(!s.use_invite("nope", 30).await.unwrap());
}

/// Edits, deletes and topics change what they name in the same
/// transaction as their entry; read positions only move forward.
pub async fn edits_deletes_topics_and_read_positions(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let b = s.create_user("bob", "h", Role::Member).await.unwrap();
    let ch = s.create_channel("general", false, "", a.id).await.unwrap();
    s.add_member(ch.id, b.id).await.unwrap();
    let conv = Dest::Conv(ch.id);
    let out = s
        .append(vec![
            msg(ch.id, a.id, "alice", "helo", None),
            to(conv.clone(), b.id, "bob", Body::reply("hi", Some(1)), None),
        ])
        .await
        .unwrap();
    assert_eq!(stored(&out[1]).message.body, Body::reply("hi", Some(1)));

    // Bob may not edit alice's message: the entry is refused, nothing changes.
    let edit = |by: i64, name: &str, target: u64, text: &str| {
        to(
            conv.clone(),
            by,
            name,
            Body::Edit { target },
            Some(Effect::Edit {
                target,
                text: text.into(),
            }),
        )
    };
    let out = s
        .append(vec![edit(b.id, "bob", 1, "hacked")])
        .await
        .unwrap();
    assert!(matches!(out[0], Err(StoreError::NotFound("message"))));
    let out = s
        .append(vec![edit(a.id, "alice", 1, "hello")])
        .await
        .unwrap();
    let at = stored(&out[0]).message.ts;
    let first = s.message(ch.id, 1, reader(b.id)).await.unwrap().unwrap();
    assert_eq!(
        first.body,
        Body::Text {
            text: "hello".into(),
            reply_to: None,
            edited: Some(at)
        }
    );
    // An edit keeps what the message answers.
    let out = s.append(vec![edit(b.id, "bob", 2, "hi!")]).await.unwrap();
    stored(&out[0]);
    let second = s.message(ch.id, 2, reader(a.id)).await.unwrap().unwrap();
    assert!(matches!(
        second.body,
        Body::Text {
            reply_to: Some(1),
            ..
        }
    ));

    let delete = |target: u64| {
        to(
            conv.clone(),
            a.id,
            "alice",
            Body::Delete { target },
            Some(Effect::Delete { target }),
        )
    };
    stored(&s.append(vec![delete(2)]).await.unwrap()[0]);
    let gone = s.message(ch.id, 2, reader(a.id)).await.unwrap().unwrap();
    assert_eq!(gone.body, Body::Deleted);
    assert!(matches!(
        s.append(vec![delete(2)]).await.unwrap()[0],
        Err(StoreError::NotFound("message"))
    ));
    assert!(matches!(
        s.append(vec![delete(99)]).await.unwrap()[0],
        Err(StoreError::NotFound("message"))
    ));

    let topic = to(
        conv.clone(),
        a.id,
        "alice",
        Body::System(SystemEvent::Topic {
            topic: "Plans".into(),
        }),
        Some(Effect::Topic("Plans".into())),
    );
    stored(&s.append(vec![topic]).await.unwrap()[0]);
    assert_eq!(s.conv(ch.id).await.unwrap().unwrap().topic, "Plans");

    assert_eq!(s.set_read(ch.id, b.id, 3).await.unwrap(), 3);
    assert_eq!(s.set_read(ch.id, b.id, 2).await.unwrap(), 3, "never back");
    let mine = s.convs_of(b.id).await.unwrap();
    assert_eq!(mine[0].read, 3);
    assert_eq!(s.convs_of(a.id).await.unwrap()[0].read, 0);
    let c = s.create_user("carol", "h", Role::Member).await.unwrap();
    assert!(matches!(
        s.set_read(ch.id, c.id, 1).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Search finds what a reader may read and nothing else: not a private
/// channel they are not in, not what is withheld from them, not deleted or
/// edited-away text.
pub async fn search(s: &dyn Store) {
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let b = s.create_user("bob", "h", Role::Member).await.unwrap();
    let public = s.create_channel("general", false, "", a.id).await.unwrap();
    let secret = s.create_channel("secret", true, "", a.id).await.unwrap();
    let out = s
        .append(vec![
            msg(public.id, a.id, "alice", "the Pancake recipe", None),
            msg(secret.id, a.id, "alice", "secret pancakes", None),
            msg(public.id, a.id, "alice", "pancake \"OR\" * NEAR(", None),
            to(
                Dest::Dm(a.id, b.id),
                a.id,
                "alice",
                Body::text("pancakes for bob"),
                None,
            ),
        ])
        .await
        .unwrap();
    stored(&out[3]);
    let find = |reader: i64, query: &str| crate::Search {
        reader,
        visitor: false,
        query: query.into(),
        conv: None,
        before: None,
        limit: 10,
    };
    let texts = |hits: Vec<crate::Hit>| {
        hits.into_iter()
            .map(|h| format!("{}:{}", h.name, h.message.body.as_text().unwrap()))
            .collect::<Vec<_>>()
    };
    // Bob is in no channel: the public one is readable, the private one not.
    let (hits, more) = s.search(find(b.id, "pancake")).await.unwrap();
    assert!(!more);
    assert_eq!(
        texts(hits),
        vec![
            "alice:pancakes for bob",
            "general:pancake \"OR\" * NEAR(",
            "general:the Pancake recipe"
        ]
    );
    let (hits, _) = s.search(find(a.id, "PANCAKES")).await.unwrap();
    assert_eq!(
        texts(hits),
        vec!["bob:pancakes for bob", "secret:secret pancakes"]
    );
    // Operators are words like any other.
    let (hits, _) = s.search(find(a.id, "\"OR\" NEAR(")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(s.search(find(a.id, " ** ")).await.unwrap().0, vec![]);
    // One conversation, and paging.
    let mut q = find(a.id, "pancake");
    q.conv = Some(public.id);
    q.limit = 1;
    let (page, more) = s.search(q.clone()).await.unwrap();
    assert!(more);
    q.before = Some(page[0].message.id);
    let (page2, more) = s.search(q).await.unwrap();
    assert!(!more);
    assert_eq!(texts(page2), vec!["general:the Pancake recipe"]);
    // A visitor reads public channels only, also where a member would not.
    let mut v = find(a.id, "pancakes");
    v.visitor = true;
    assert_eq!(texts(s.search(v).await.unwrap().0), Vec::<String>::new());
    // Deleted and edited-away words are gone from the index.
    let del = to(
        Dest::Conv(public.id),
        a.id,
        "alice",
        Body::Delete { target: 1 },
        Some(Effect::Delete { target: 1 }),
    );
    let edit = to(
        Dest::Conv(secret.id),
        a.id,
        "alice",
        Body::Edit { target: 1 },
        Some(Effect::Edit {
            target: 1,
            text: "waffles".into(),
        }),
    );
    for r in s.append(vec![del, edit]).await.unwrap() {
        stored(&r);
    }
    let (hits, _) = s.search(find(a.id, "recipe")).await.unwrap();
    assert!(hits.is_empty());
    let (hits, _) = s.search(find(a.id, "waffles")).await.unwrap();
    assert_eq!(texts(hits), vec!["secret:waffles"]);
}

/// A fresh store gets its first channel once; admins are known.
pub async fn first_run(s: &dyn Store) {
    assert!(!s.has_admin().await.unwrap());
    let first = s.first_channel("general", "hi").await.unwrap().unwrap();
    assert_eq!(
        (first.name.as_str(), first.owner, first.private),
        ("general", None, false)
    );
    assert_eq!(
        s.first_channel("general", "hi").await.unwrap(),
        None,
        "once"
    );
    let a = s.create_user("root", "h", Role::Admin).await.unwrap();
    assert!(s.has_admin().await.unwrap());
    s.set_disabled(a.id, true).await.unwrap();
    assert!(
        !s.has_admin().await.unwrap(),
        "a disabled admin does not count"
    );
}

fn file_record(id: &str, blob: &str, owner: UserId, size: u64) -> crate::FileRecord {
    crate::FileRecord {
        id: id.into(),
        blob: blob.into(),
        owner,
        name: "cat.png".into(),
        size,
        mime: "image/png".into(),
        image: Some((640, 480)),
        thumb: Some((format!("{blob}-thumb"), 10)),
        conv: None,
        seq: None,
        offer_to: None,
        expires_ms: None,
        accepted: None,
        created_ms: 1_000,
    }
}

fn file_body(id: &str) -> Body {
    Body::File {
        file: confab_proto::FileInfo {
            id: id.into(),
            name: "cat.png".into(),
            size: 100,
            mime: "image/png".into(),
            sha256: "ab".repeat(32),
            image: None,
        },
    }
}

/// Files: uploads and their expiry, quota accounting, files posted by
/// their entry, blobs shared and collected only when nothing points to
/// them, offers answered, avatars.
pub async fn files(s: &dyn Store) {
    use crate::{UploadRecord, UploadTarget};
    let a = s.create_user("alice", "h", Role::Member).await.unwrap();
    let b = s.create_user("bob", "h", Role::Member).await.unwrap();
    let ch = s.create_channel("general", false, "", a.id).await.unwrap();

    let up = UploadRecord {
        id: "u1".into(),
        owner: a.id,
        length: 1_000,
        sha256: "ab".repeat(32),
        name: "big.bin".into(),
        target: UploadTarget::Conv(ch.id),
        nonce: Some("n1".into()),
        created_ms: 0,
        expires_ms: 5_000,
    };
    s.add_upload(up.clone()).await.unwrap();
    assert_eq!(s.upload("u1").await.unwrap(), Some(up));
    assert_eq!(s.uploads_of(a.id).await.unwrap(), 1);
    assert_eq!(s.bytes_held(a.id).await.unwrap(), 1_000, "an upload counts");
    assert!(s.expired_uploads(4_999).await.unwrap().is_empty());
    assert_eq!(s.expired_uploads(5_000).await.unwrap(), vec!["u1"]);
    s.remove_upload("u1").await.unwrap();
    assert_eq!(s.upload("u1").await.unwrap(), None);
    assert_eq!(s.bytes_held(a.id).await.unwrap(), 0);

    // Two files with the same bytes: one blob.
    s.add_file(file_record("f1", "blob1", a.id, 100))
        .await
        .unwrap();
    s.add_file(file_record("f2", "blob1", a.id, 100))
        .await
        .unwrap();
    assert_eq!(s.bytes_held(a.id).await.unwrap(), 200);
    assert!(s.has_blob("blob1").await.unwrap());
    assert!(s.unreferenced_blobs().await.unwrap().is_empty());
    // Never posted, and old: lapsed.
    assert_eq!(s.lapsed_files(0, 1_001).await.unwrap().len(), 2);
    assert!(s.lapsed_files(0, 1_000).await.unwrap().is_empty());

    // Posting: the entry names the file, the file learns its place.
    let out = s
        .append(vec![to(
            Dest::Conv(ch.id),
            a.id,
            "alice",
            file_body("f1"),
            Some(Effect::File("f1".into())),
        )])
        .await
        .unwrap();
    let seq = stored(&out[0]).message.seq;
    let f1 = s.file("f1").await.unwrap().unwrap();
    assert_eq!((f1.conv, f1.seq), (Some(ch.id), Some(seq)));
    assert_eq!(f1.image, Some((640, 480)));
    assert_eq!(f1.thumb, Some(("blob1-thumb".into(), 10)));
    // A file is posted once.
    let out = s
        .append(vec![to(
            Dest::Conv(ch.id),
            a.id,
            "alice",
            file_body("f1"),
            Some(Effect::File("f1".into())),
        )])
        .await
        .unwrap();
    assert!(matches!(out[0], Err(StoreError::NotFound("file"))));
    assert_eq!(s.lapsed_files(0, 1_001).await.unwrap(), vec!["f2"]);

    // f2 goes; the blob stays for f1.
    s.remove_file("f2").await.unwrap();
    assert!(s.unreferenced_blobs().await.unwrap().is_empty());
    assert!(!s.remove_blob("blob1").await.unwrap(), "still pointed to");
    // Deleting the message lets f1 go; then the blob and thumbnail are free.
    let out = s
        .append(vec![to(
            Dest::Conv(ch.id),
            a.id,
            "alice",
            Body::Delete { target: seq },
            Some(Effect::Delete { target: seq }),
        )])
        .await
        .unwrap();
    stored(&out[0]);
    assert_eq!(s.file("f1").await.unwrap(), None);
    let mut free = s.unreferenced_blobs().await.unwrap();
    free.sort();
    assert_eq!(free, vec!["blob1", "blob1-thumb"]);
    assert!(s.remove_blob("blob1").await.unwrap());
    assert!(!s.has_blob("blob1").await.unwrap());

    // Offers: only the recipient answers, once; declining lets the file go.
    for (id, accept) in [("o1", true), ("o2", false)] {
        let mut f = file_record(id, &format!("{id}-blob"), a.id, 10);
        f.offer_to = Some(b.id);
        f.expires_ms = Some(9_000);
        s.add_file(f).await.unwrap();
        let offer = Body::Offer {
            file: match file_body(id) {
                Body::File { file } => file,
                _ => unreachable!(),
            },
            expires: 9_000,
            accepted: None,
        };
        let out = s
            .append(vec![to(
                Dest::Dm(a.id, b.id),
                a.id,
                "alice",
                offer,
                Some(Effect::File(id.into())),
            )])
            .await
            .unwrap();
        let m = stored(&out[0]).message.clone();
        let answer = |by: i64, name: &str| {
            to(
                Dest::Conv(m.conv),
                by,
                name,
                Body::Answer {
                    target: m.seq,
                    accept,
                },
                Some(Effect::Answer {
                    target: m.seq,
                    accept,
                }),
            )
        };
        let out = s.append(vec![answer(a.id, "alice")]).await.unwrap();
        assert!(
            matches!(out[0], Err(StoreError::NotFound("offer"))),
            "the sender does not answer"
        );
        let out = s.append(vec![answer(b.id, "bob")]).await.unwrap();
        stored(&out[0]);
        let out = s.append(vec![answer(b.id, "bob")]).await.unwrap();
        assert!(
            matches!(out[0], Err(StoreError::NotFound("offer"))),
            "answered once"
        );
        let shown = s
            .message(m.conv, m.seq, reader(b.id))
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(shown.body, Body::Offer { accepted: Some(x), .. } if x == accept),
            "{:?}",
            shown.body
        );
        let file = s.file(id).await.unwrap();
        if accept {
            assert_eq!(file.unwrap().accepted, Some(true));
        } else {
            assert_eq!(file, None);
        }
    }
    // An unanswered offer lapses at its expiry.
    let mut f = file_record("o3", "o3-blob", a.id, 10);
    f.offer_to = Some(b.id);
    f.expires_ms = Some(9_000);
    f.conv = Some(ch.id);
    f.seq = Some(99);
    s.add_file(f).await.unwrap();
    assert!(s.lapsed_files(8_999, 0).await.unwrap().is_empty());
    assert_eq!(s.lapsed_files(9_000, 0).await.unwrap(), vec!["o3"]);

    // Avatars: set, replaced (the old one returned), never lapsed.
    s.add_file(file_record("av1", "av-blob", a.id, 10))
        .await
        .unwrap();
    s.add_file(file_record("av2", "av-blob2", a.id, 10))
        .await
        .unwrap();
    assert_eq!(s.set_avatar(a.id, Some("av1")).await.unwrap(), None);
    assert_eq!(
        s.set_avatar(a.id, Some("av2")).await.unwrap(),
        Some("av1".into())
    );
    assert_eq!(s.avatar(a.id).await.unwrap().unwrap().id, "av2");
    assert_eq!(s.avatar(b.id).await.unwrap(), None);
    let lapsed = s.lapsed_files(0, i64::MAX).await.unwrap();
    assert!(lapsed.contains(&"av1".to_owned()) && !lapsed.contains(&"av2".to_owned()));
    s.remove_file("av2").await.unwrap();
    assert_eq!(s.avatar(a.id).await.unwrap(), None);
}
