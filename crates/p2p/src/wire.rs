//! What nodes say to each other: requests between users' home nodes (over
//! request-response, CBOR) and the signed name records in the DHT.

use libp2p::PeerId;
use libp2p::core::SignedEnvelope;
use libp2p::identity::Keypair;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

/// The request-response protocol between home nodes.
pub const PROTOCOL: &str = "/confab/node/1";

/// A request from a user of the sending node to a user of the receiving
/// node. The receiver checks that `from` is a user whose home is the peer
/// that is speaking, so no node can speak for another's users.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Unique per sender: the receiver keeps each (peer, id) once.
    pub id: String,
    pub from: String,
    pub to: String,
    /// Milliseconds since the Unix epoch, on the sender's clock.
    pub at: i64,
    pub body: Body,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Body {
    Dm {
        text: String,
    },
    FriendRequest,
    FriendAnswer {
        accept: bool,
    },
    /// `from` is online (logged in at its node) or not.
    Presence {
        online: bool,
    },
    /// A member asks the conference's host to add `user` (a friend of theirs).
    ConfInvite {
        conf: String,
        user: String,
    },
    /// A member leaves, or the host's user removes `user`.
    ConfRemove {
        conf: String,
        user: String,
    },
    /// The host tells a member (or a former one) how the conference is now.
    ConfState(ConfInfo),
    /// A member's message, for the host to keep (the envelope's id is the
    /// message's). Members get it by gossip, and from the host's history.
    ConfPost {
        conf: String,
        text: String,
    },
    /// A member asks the host for the messages after `after` (host's order).
    ConfSync {
        conf: String,
        after: i64,
    },
}

/// A conference as its host keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfInfo {
    pub id: String,
    pub name: String,
    /// The user whose node is the host: it keeps the members and the history.
    pub host: String,
    pub members: Vec<String>,
    /// The key messages on the conference's topic are sealed with; a new one
    /// (and `epoch`) whenever someone leaves.
    pub key: Vec<u8>,
    pub epoch: u32,
}

/// A conference message, in the host's order (`seq`; 0 before the host has it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfMsg {
    pub id: String,
    pub author: String,
    pub text: String,
    pub at: i64,
    pub seq: i64,
}

/// What goes on a conference's gossipsub topic: a [`ConfMsg`] sealed with
/// the conference's key (ChaCha20-Poly1305), so nodes that relay it or
/// listen without being members read nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sealed {
    pub conf: String,
    pub epoch: u32,
    pub nonce: [u8; 12],
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    pub fn seal(conf: &ConfInfo, msg: &ConfMsg) -> Sealed {
        let key = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &conf.key).expect("a 32-byte key"),
        );
        let nonce: [u8; 12] = rand::random();
        let mut data = serde_json::to_vec(msg).expect("a message serialises");
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(conf.id.as_bytes()),
            &mut data,
        )
        .expect("sealing does not fail");
        Sealed {
            conf: conf.id.clone(),
            epoch: conf.epoch,
            nonce,
            ciphertext: data,
        }
    }

    /// The message, if it was sealed with this conference's current key.
    pub fn open(&self, conf: &ConfInfo) -> Option<ConfMsg> {
        if self.conf != conf.id || self.epoch != conf.epoch {
            return None;
        }
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &conf.key).ok()?);
        let mut data = self.ciphertext.clone();
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(self.nonce),
                Aad::from(conf.id.as_bytes()),
                &mut data,
            )
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// The gossipsub topic of a conference.
pub fn conf_topic(id: &str) -> String {
    format!("/confab/conf/{id}")
}

/// The receiver's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Reply {
    /// Stored (or acted on).
    Ok,
    /// Had it already: the sender may forget it.
    Dup,
    /// Not now (the receiver could not check the sender yet): try again.
    Retry(String),
    /// Never: the reason is for the sending user.
    Rejected(String),
    /// A conference's messages, answering `ConfSync`.
    History(Vec<ConfMsg>),
}

/// A user name's owner, as published in the DHT: the node that is the
/// user's home and where to reach it. Signed by that node's key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NameClaim {
    pub user: String,
    pub peer: String,
    pub addrs: Vec<String>,
    /// Only higher numbers replace a record (milliseconds at publishing).
    pub seq: i64,
}

const DOMAIN: &str = "confab-name";
const PAYLOAD_TYPE: &[u8] = b"/confab/name/1";

/// The DHT key of a user name.
pub fn name_key(user: &str) -> Vec<u8> {
    format!("/confab/user/{user}").into_bytes()
}

impl NameClaim {
    pub fn sign(&self, key: &Keypair) -> Vec<u8> {
        let payload = serde_json::to_vec(self).expect("a claim serialises");
        SignedEnvelope::new(key, DOMAIN.into(), PAYLOAD_TYPE.to_vec(), payload)
            .expect("ed25519 signing does not fail")
            .into_protobuf_encoding()
    }

    /// Reads a record from the DHT: the claim and its owner, when the
    /// signature is good, made by the peer it names, and stored under the
    /// key of the name it claims.
    pub fn open(key: &[u8], bytes: &[u8]) -> Result<(NameClaim, PeerId), String> {
        let envelope = SignedEnvelope::from_protobuf_encoding(bytes)
            .map_err(|e| format!("not a signed envelope: {e}"))?;
        let (payload, signer) = envelope
            .payload_and_signing_key(DOMAIN.into(), PAYLOAD_TYPE)
            .map_err(|e| format!("bad signature: {e}"))?;
        let claim: NameClaim =
            serde_json::from_slice(payload).map_err(|e| format!("not a name claim: {e}"))?;
        let owner = signer.to_peer_id();
        if claim.peer != owner.to_string() {
            return Err("signed by another peer than the one it names".into());
        }
        if name_key(&claim.user) != key {
            return Err("stored under another name".into());
        }
        Ok((claim, owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(key: &Keypair, user: &str) -> NameClaim {
        NameClaim {
            user: user.into(),
            peer: key.public().to_peer_id().to_string(),
            addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            seq: 1,
        }
    }

    #[test]
    fn a_conference_message_opens_only_with_its_conference_key_and_epoch() {
        let conf = ConfInfo {
            id: "c1".into(),
            name: "team".into(),
            host: "alice".into(),
            members: vec!["alice".into(), "bob".into()],
            key: vec![7; 32],
            epoch: 1,
        };
        let msg = ConfMsg {
            id: "m1".into(),
            author: "bob".into(),
            text: "secret plans".into(),
            at: 1,
            seq: 0,
        };
        let sealed = Sealed::seal(&conf, &msg);
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("secret"));
        assert_eq!(sealed.open(&conf), Some(msg));
        let rotated = ConfInfo {
            key: vec![8; 32],
            epoch: 2,
            ..conf.clone()
        };
        assert_eq!(
            sealed.open(&rotated),
            None,
            "a removed member's old key reads nothing new"
        );
        let other = ConfInfo {
            id: "c2".into(),
            ..conf.clone()
        };
        assert_eq!(sealed.open(&other), None);
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(tampered.open(&conf), None);
    }

    #[test]
    fn a_claim_opens_only_under_its_name_and_signed_by_its_peer() {
        let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let signed = claim(&a, "alice").sign(&a);
        let (c, owner) = NameClaim::open(&name_key("alice"), &signed).unwrap();
        assert_eq!((c.user.as_str(), owner), ("alice", a.public().to_peer_id()));
        assert!(NameClaim::open(&name_key("bob"), &signed).is_err());
        // b signs a claim that names a's peer: refused.
        let forged = claim(&a, "alice").sign(&b);
        assert!(NameClaim::open(&name_key("alice"), &forged).is_err());
        let mut flipped = signed.clone();
        let n = flipped.len() - 1;
        flipped[n] ^= 1;
        assert!(NameClaim::open(&name_key("alice"), &flipped).is_err());
    }
}
