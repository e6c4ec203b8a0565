//! A chat client that speaks just enough of each protocol to log in, join
//! rooms, send and recognise chat messages. Setup steps (`connect`, `join`,
//! `request`) wait for their answers; during a measurement the caller drives
//! `wire` directly and sorts what arrives with `classify`.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::wire::{Kind, Target, Wire};

/// How a Confab client logs in. IRC clients only use the name.
#[derive(Debug, Clone)]
pub enum Account {
    /// A temporary visitor (read-only).
    Visitor,
    /// Register, or log in if the name exists.
    User { name: String, password: String },
    /// Resume with a session token.
    Token { name: String, token: String },
}

/// Where a chat message goes.
#[derive(Debug, Clone)]
pub enum Dest {
    Room(String),
    User(String),
}

/// What an incoming frame or line means to the benchmark.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// A chat message with this text.
    Chat(String),
    /// The server pinged; send this back.
    Ping(String),
    /// Confab dropped events for this slow connection.
    Lagged,
    /// An error reply.
    Error(String),
    /// Anything else (replies, presence, joins).
    Other,
}

pub struct Client {
    pub wire: Wire,
    pub kind: Kind,
    pub name: String,
    pub token: Option<String>,
    next_id: u64,
    /// Confab conversation ids by room name.
    convs: HashMap<String, u64>,
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    message: Option<Msg>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct Msg {
    text: String,
}

impl Client {
    /// Connects and logs in. IRC nicknames are the account's name.
    pub async fn connect(target: &Target, account: &Account) -> Result<Client> {
        let wire = Wire::connect(target).await?;
        let name = match account {
            Account::Visitor => String::new(),
            Account::User { name, .. } | Account::Token { name, .. } => name.clone(),
        };
        let mut c = Client {
            wire,
            kind: target.kind,
            name,
            token: None,
            next_id: 1,
            convs: HashMap::new(),
        };
        if target.kind.is_confab() {
            c.request(json!({"type": "hello", "protocol": 1, "client": "confab-bench"}))
                .await?;
            let session = match account {
                Account::Visitor => c.request(json!({"type": "visitor"})).await?,
                Account::Token { token, .. } => {
                    c.request(json!({"type": "resume", "token": token})).await?
                }
                Account::User { name, password } => {
                    let r = c
                        .request_raw(
                            json!({"type": "register", "username": name, "password": password}),
                        )
                        .await?;
                    if r["code"] == "name_taken" {
                        c.request(json!({"type": "login", "username": name, "password": password}))
                            .await?
                    } else if r["type"] == "error" {
                        bail!("register {name}: {}", r["message"]);
                    } else {
                        r
                    }
                }
            };
            c.name = session["user"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            // Channels this account is already in (from an earlier run):
            // joining them again needs no request.
            for known in session["convs"].as_array().into_iter().flatten() {
                if let (Some("channel"), Some(name), Some(conv)) = (
                    known["kind"].as_str(),
                    known["name"].as_str(),
                    known["conv"].as_u64(),
                ) {
                    c.convs.insert(name.to_owned(), conv);
                }
            }
            if let Some(t) = session["token"].as_str() {
                c.token = Some(t.to_owned());
            } else if let Account::Token { token, .. } = account {
                c.token = Some(token.clone());
            }
        } else {
            c.wire.send(format!("NICK {}", c.name)).await?;
            c.wire
                .send(format!("USER {} 0 * :confab bench", c.name))
                .await?;
            c.irc_wait(|l| numeric(l) == Some("001"), "welcome (001)")
                .await?;
        }
        Ok(c)
    }

    /// Sends a Confab request and returns its reply, error or not.
    pub async fn request_raw(&mut self, mut req: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        req["id"] = json!(id);
        self.wire.send(req.to_string()).await?;
        loop {
            let text = self
                .wire
                .recv()
                .await?
                .ok_or_else(|| anyhow!("server closed the connection"))?;
            let v: Value = serde_json::from_str(&text)?;
            if v["id"].as_u64() == Some(id) {
                return Ok(v);
            }
            if v["type"] == "ping" && v.get("id").is_none() {
                self.wire.send(r#"{"type":"pong"}"#.to_owned()).await?;
            }
        }
    }

    /// A Confab request that must succeed.
    pub async fn request(&mut self, req: Value) -> Result<Value> {
        let what = req["type"].as_str().unwrap_or("?").to_owned();
        let r = self.request_raw(req).await?;
        if r["type"] == "error" {
            bail!("{what} failed: {} ({})", r["message"], r["code"]);
        }
        Ok(r)
    }

    async fn irc_wait(&mut self, done: impl Fn(&str) -> bool, what: &str) -> Result<()> {
        loop {
            let line = self
                .wire
                .recv()
                .await?
                .ok_or_else(|| anyhow!("server closed while waiting for {what}"))?;
            if let Some(rest) = line.strip_prefix("PING ") {
                self.wire.send(format!("PONG {rest}")).await?;
            } else if done(&line) {
                return Ok(());
            } else if line.starts_with("ERROR")
                || matches!(
                    numeric(&line),
                    Some("432" | "433" | "471" | "473" | "474" | "405")
                )
            {
                bail!("waiting for {what}: {line}");
            }
        }
    }

    /// Joins `room`, creating it (public) on Confab if it does not exist.
    pub async fn join(&mut self, room: &str) -> Result<()> {
        if self.kind.is_confab() {
            if self.convs.contains_key(room) {
                return Ok(());
            }
            let r = self
                .request_raw(json!({"type": "channel_join", "name": room}))
                .await?;
            let r = match r["code"].as_str() {
                Some("not_found") | Some("forbidden") if !self.name.starts_with("visitor-") => {
                    let c = self
                        .request_raw(json!({"type": "channel_create", "name": room}))
                        .await?;
                    if c["code"] == "name_taken" {
                        self.request(json!({"type": "channel_join", "name": room}))
                            .await?
                    } else {
                        c
                    }
                }
                Some("already_member") => {
                    // Joined in an earlier run on this server: find the
                    // conversation among our own (a `channel_list` of every
                    // channel, 5,000 times over, took long enough for idle
                    // setup clients to be dropped).
                    self.request(json!({"type": "sync", "since": [], "limit": 1}))
                        .await
                        .map(|l| {
                            let ch = l["convs"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .find(|c| c["kind"] == "channel" && c["name"] == room)
                                .cloned();
                            json!({"channel": ch})
                        })?
                }
                _ => r,
            };
            if r["type"] == "error" {
                bail!("joining {room}: {}", r["message"]);
            }
            let conv = r["channel"]["conv"]
                .as_u64()
                .context("channel reply without conv")?;
            self.convs.insert(room.to_owned(), conv);
        } else {
            self.wire.send(format!("JOIN #{room}")).await?;
            let want = format!("#{room}");
            self.irc_wait(
                |l| numeric(l) == Some("366") && l.split(' ').any(|w| w == want),
                "end of NAMES (366)",
            )
            .await?;
        }
        Ok(())
    }

    /// The Confab conversation id of a joined room.
    pub fn conv(&self, room: &str) -> Option<u64> {
        self.convs.get(room).copied()
    }

    /// The frame or line that sends `text` to `dest`.
    pub fn chat_frame(&mut self, dest: &Dest, text: &str) -> String {
        if self.kind.is_confab() {
            let id = self.next_id;
            self.next_id += 1;
            match dest {
                Dest::Room(room) => {
                    let conv = self.convs.get(room).copied().unwrap_or(0);
                    json!({"id": id, "type": "send", "conv": conv, "text": text}).to_string()
                }
                Dest::User(user) => {
                    json!({"id": id, "type": "dm_send", "user": user, "text": text}).to_string()
                }
            }
        } else {
            match dest {
                Dest::Room(room) => format!("PRIVMSG #{room} :{text}"),
                Dest::User(user) => format!("PRIVMSG {user} :{text}"),
            }
        }
    }

    /// Sorts an incoming frame or line.
    pub fn classify(&self, text: &str) -> Event {
        if self.kind.is_confab() {
            match fast_chat_text(text) {
                Some(t) => Event::Chat(t.to_owned()),
                None => classify_confab(text),
            }
        } else if let Some(rest) = text.strip_prefix("PING ") {
            Event::Ping(format!("PONG {rest}"))
        } else {
            // :nick!user@host PRIVMSG target :text
            let mut parts = text.splitn(4, ' ');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(_), Some("PRIVMSG"), Some(_), Some(msg)) => {
                    Event::Chat(msg.strip_prefix(':').unwrap_or(msg).to_owned())
                }
                _ => Event::Other,
            }
        }
    }
}

/// Sorts a Confab frame by parsing its JSON.
fn classify_confab(text: &str) -> Event {
    let Ok(f) = serde_json::from_str::<Frame>(text) else {
        return Event::Other;
    };
    match (f.ty.as_str(), f.id) {
        ("message", None) => f.message.map_or(Event::Other, |m| Event::Chat(m.text)),
        ("ping", None) => Event::Ping(r#"{"type":"pong"}"#.to_owned()),
        ("lagged", None) => Event::Lagged,
        ("error", _) => Event::Error(format!("{}: {text}", f.code.unwrap_or_default())),
        _ => Event::Other,
    }
}

/// The text of a Confab `message` event carrying a bench payload, found
/// without a full JSON parse (which was the generator's largest cost at high
/// fan-out). Only a text that is surely the whole, unescaped string is taken;
/// anything else goes through serde.
fn fast_chat_text(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix(r#"{"type":"message","#)?;
    let start = rest.find(r#""text":"cb|"#)? + r#""text":""#.len();
    let text = &rest[start..];
    let end = text.find('"')?;
    let text = &text[..end];
    (!text.contains('\\')).then_some(text)
}

/// The three-digit numeric of an IRC reply line, if it is one.
fn numeric(line: &str) -> Option<&str> {
    let mut parts = line.split(' ');
    parts.next()?;
    parts
        .next()
        .filter(|w| w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_proto::{Message, ServerBody, ServerFrame};

    fn message_event(text: &str) -> String {
        let message = Message {
            id: 9,
            conv: 3,
            seq: 4,
            sender: "bench7".into(),
            ts: 1_700_000_000_000,
            nonce: Some("n".into()),
            body: confab_proto::Body::text(text),
        };
        serde_json::to_string(&ServerFrame::event(ServerBody::Message { message })).unwrap()
    }

    #[test]
    fn fast_path_reads_what_the_server_encodes_and_agrees_with_serde() {
        let payload = "cb|1|123456|7|8|xxxx";
        let frame = message_event(payload);
        assert_eq!(fast_chat_text(&frame), Some(payload));
        assert_eq!(classify_confab(&frame), Event::Chat(payload.into()));
    }

    #[test]
    fn escaped_or_foreign_texts_fall_back_to_serde() {
        let odd = r#"cb|1|2|3|4|say "hi""#;
        let frame = message_event(odd);
        assert_eq!(fast_chat_text(&frame), None, "escaped quote");
        assert_eq!(classify_confab(&frame), Event::Chat(odd.into()));
        assert_eq!(fast_chat_text(&message_event("hello")), None);
        assert_eq!(fast_chat_text(r#"{"type":"ping"}"#), None);
    }
}
