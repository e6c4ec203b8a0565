//! Slash commands: what the input line means when it starts with `/` (or
//! `\private`, for people used to it). Parsing only, the same for the
//! terminal and the browser; each UI acts on the [`Command`].
//!
//! Messages are named by their number in the conversation (its `seq`,
//! which both UIs show); `/react`, `/edit` and `/delete` without one mean
//! the newest message (for `/edit` and `/delete`: your newest).

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Join(String),
    /// `None`: the channel being viewed.
    Leave(Option<String>),
    Create {
        name: String,
        private: bool,
        topic: Option<String>,
    },
    Invite {
        user: String,
        channel: Option<String>,
    },
    /// Public channels and the private ones you are in.
    List,
    /// Who is online.
    Users,
    /// A direct message; without text, just open the conversation.
    Msg {
        user: String,
        text: Option<String>,
    },
    /// `None`: toggle.
    Invisible(Option<bool>),
    Passwd,
    Whoami,
    /// The open channel's live streams, with links to watch them.
    Live,
    Clear,
    Logout,
    Help,
    Exit,
    /// The friends box: friends with presence, requests, blocks.
    Friends,
    Friend {
        op: FriendOp,
        user: String,
    },
    Block(String),
    Unblock(String),
    /// A group with some of your friends.
    GroupNew {
        name: String,
        members: Vec<String>,
    },
    /// Add friends to the open group.
    GroupAdd(Vec<String>),
    GroupLeave,
    GroupRename(String),
    /// Only the owner adds people (`true`), or every member.
    GroupOwnerAdds(bool),
    /// About the open group.
    GroupInfo,
    /// An action ("/me waves"), sent as italic text.
    Me(String),
    /// Show the topic (`None`), or set it (`Some("")` clears it).
    Topic(Option<String>),
    /// React to message `seq` (`None`: the newest) with an emoji, or take
    /// the reaction back if already given.
    React {
        seq: Option<u64>,
        emoji: String,
    },
    Reply {
        seq: u64,
        text: String,
    },
    /// `seq` `None`: your newest message here.
    Edit {
        seq: Option<u64>,
        text: String,
    },
    Delete(Option<u64>),
    /// Show message `seq`, loading history back to it.
    Jump(u64),
    Search(String),
    /// No notifications from this conversation (`false`: again).
    Mute(bool),
    /// Upload a file (a path) to this conversation; with `offer`, offer it
    /// to the other person of this DM instead, who accepts or declines.
    /// (The browser opens its file picker when no path is given.)
    Upload {
        path: String,
        offer: bool,
    },
    /// Make an image (a path) your profile picture. (The browser opens its
    /// file picker.)
    Avatar(String),
    /// Save the file of message `seq` (to `path`, or under its own name).
    Save {
        seq: u64,
        path: Option<String>,
    },
    /// Accept (`true`) or decline the file offered in message `seq`.
    Answer {
        seq: u64,
        accept: bool,
    },
}

/// What `/friend` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendOp {
    Add,
    Accept,
    Decline,
    Cancel,
    Remove,
}

/// One line of `/help` per command: usage, then what it does.
pub const HELP: &[(&str, &str)] = &[
    (
        "/join #channel",
        "join a public channel (or switch to one you are in)",
    ),
    ("/leave [#channel]", "leave this channel, or the one named"),
    (
        "/create [--private] #channel [topic]",
        "create a channel; you own it",
    ),
    (
        "/invite USER [#channel]",
        "add someone to a private channel you own",
    ),
    ("/list", "list the channels you can join"),
    ("/users", "who is online"),
    (
        "/msg USER [text]",
        "direct message (also /w, \\private); without text, open it",
    ),
    ("/invisible [on|off]", "appear offline to others, or not"),
    ("/passwd", "change your password"),
    ("/whoami", "who you are logged in as"),
    ("/live", "who is live here, with the browser link to watch"),
    (
        "/clear",
        "clear this conversation's view (nothing is deleted)",
    ),
    ("/logout", "log out and forget this profile's session"),
    ("/friends", "your friends, who asks you, whom you asked"),
    (
        "/friend [add|accept|decline|cancel|remove] USER",
        "ask someone to be your friend, or answer them",
    ),
    (
        "/block USER, /unblock USER",
        "stop someone writing to you (not told); let them again",
    ),
    (
        "/group new NAME USER...",
        "a group with friends (a name with spaces in \"quotes\")",
    ),
    (
        "/group add USER... | leave | rename NAME | owner-adds on|off",
        "change the open group; /group alone says who is in it",
    ),
    ("/me ACTION", "say what you do, in italics"),
    (
        "/topic [TEXT | --clear]",
        "show this channel's topic, or set it (owner or admin)",
    ),
    (
        "/react [N] EMOJI",
        "react to message N (or the newest); again to take it back",
    ),
    (
        "/reply N TEXT, /edit [N] TEXT, /delete [N]",
        "answer, change or delete a message (N: its number)",
    ),
    (
        "/jump N, /search WORDS",
        "show message N; search all you can read",
    ),
    (
        "/mute, /unmute",
        "notifications from this conversation off or on",
    ),
    (
        "/upload, /offer, /avatar PATH",
        "post a file here; offer one in a DM; your picture",
    ),
    (
        "/save N [PATH], /accept N, /decline N",
        "save message N's file (SHA-256 checked); answer an offer",
    ),
    ("/help, /exit", "this list; quit (also /quit, Ctrl+C)"),
];

/// Command names for Tab completion.
pub const NAMES: &[&str] = &[
    "/join",
    "/leave",
    "/create",
    "/invite",
    "/list",
    "/users",
    "/msg",
    "/w",
    "/invisible",
    "/passwd",
    "/whoami",
    "/live",
    "/clear",
    "/logout",
    "/friends",
    "/friend",
    "/block",
    "/unblock",
    "/group",
    "/me",
    "/topic",
    "/react",
    "/reply",
    "/edit",
    "/delete",
    "/jump",
    "/search",
    "/mute",
    "/unmute",
    "/upload",
    "/offer",
    "/avatar",
    "/save",
    "/accept",
    "/decline",
    "/help",
    "/exit",
    "/quit",
];

/// Whether `line` is a command rather than a message. `//text` sends
/// `/text` as a message.
pub fn is_command(line: &str) -> bool {
    (line.starts_with('/') && !line.starts_with("//")) || line.starts_with("\\private")
}

/// Parses a command line. The error is one line saying what was wrong.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (name, rest) = match line.split_once(char::is_whitespace) {
        Some((n, r)) => (n, r.trim()),
        None => (line, ""),
    };
    let args: Vec<&str> = rest.split_whitespace().collect();
    let none = |cmd: Command| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(format!("{name} takes no arguments"))
        }
    };
    match name {
        "/join" | "/j" => match args.as_slice() {
            [ch] => Ok(Command::Join(channel(ch))),
            [] => Err("/join needs a channel: /join #channel".into()),
            _ => Err("/join takes one channel: /join #channel".into()),
        },
        "/leave" | "/part" => match args.as_slice() {
            [] => Ok(Command::Leave(None)),
            [ch] => Ok(Command::Leave(Some(channel(ch)))),
            _ => Err("/leave takes at most one channel: /leave [#channel]".into()),
        },
        "/create" => {
            let mut private = false;
            let mut name = None;
            let mut topic = Vec::new();
            for a in &args {
                match *a {
                    "--private" | "-p" if name.is_none() => private = true,
                    opt if opt.starts_with("--") && name.is_none() => {
                        return Err(format!(
                            "/create: unknown option {opt}; the only one is --private"
                        ));
                    }
                    ch if name.is_none() => name = Some(channel(ch)),
                    word => topic.push(word),
                }
            }
            let name = name.ok_or("/create needs a channel: /create [--private] #channel")?;
            Ok(Command::Create {
                name,
                private,
                topic: (!topic.is_empty()).then(|| topic.join(" ")),
            })
        }
        "/invite" => match args.as_slice() {
            [user] => Ok(Command::Invite {
                user: user_name(user),
                channel: None,
            }),
            [user, ch] => Ok(Command::Invite {
                user: user_name(user),
                channel: Some(channel(ch)),
            }),
            _ => Err("/invite needs a user: /invite USER [#channel]".into()),
        },
        "/list" => none(Command::List),
        "/users" | "/who" => none(Command::Users),
        "/msg" | "/w" | "/query" | "\\private" => {
            let (user, text) = match rest.split_once(char::is_whitespace) {
                Some((u, t)) => (u, Some(t.trim().to_owned())),
                None => (rest, None),
            };
            if user.is_empty() {
                return Err(format!("{name} needs a user: {name} USER [text]"));
            }
            Ok(Command::Msg {
                user: user_name(user),
                text: text.filter(|t| !t.is_empty()),
            })
        }
        "/invisible" => match args.as_slice() {
            [] => Ok(Command::Invisible(None)),
            ["on"] => Ok(Command::Invisible(Some(true))),
            ["off"] => Ok(Command::Invisible(Some(false))),
            _ => Err("/invisible takes on or off (or nothing, to toggle)".into()),
        },
        "/passwd" | "/password" => none(Command::Passwd),
        "/whoami" => none(Command::Whoami),
        "/live" => none(Command::Live),
        "/clear" => none(Command::Clear),
        "/logout" => none(Command::Logout),
        "/friends" => none(Command::Friends),
        "/friend" => {
            let op = |w: &str| match w {
                "add" => Some(FriendOp::Add),
                "accept" => Some(FriendOp::Accept),
                "decline" => Some(FriendOp::Decline),
                "cancel" => Some(FriendOp::Cancel),
                "remove" => Some(FriendOp::Remove),
                _ => None,
            };
            match args.as_slice() {
                [user] if op(user).is_none() => Ok(Command::Friend {
                    op: FriendOp::Add,
                    user: user_name(user),
                }),
                [verb, user] if op(verb).is_some() => Ok(Command::Friend {
                    op: op(verb).expect("checked"),
                    user: user_name(user),
                }),
                _ => Err(
                    "/friend needs a user: /friend [add|accept|decline|cancel|remove] USER".into(),
                ),
            }
        }
        "/block" | "/unblock" => match args.as_slice() {
            [user] if name == "/block" => Ok(Command::Block(user_name(user))),
            [user] => Ok(Command::Unblock(user_name(user))),
            _ => Err(format!("{name} needs one user: {name} USER")),
        },
        "/group" => group(rest),
        "/me" if !rest.is_empty() => Ok(Command::Me(rest.to_owned())),
        "/me" => Err("/me needs an action: /me waves".into()),
        "/topic" => Ok(Command::Topic(match rest {
            "" => None,
            "--clear" => Some(String::new()),
            t => Some(t.to_owned()),
        })),
        "/react" => match args.as_slice() {
            [emoji] => Ok(Command::React {
                seq: None,
                emoji: (*emoji).to_owned(),
            }),
            [n, emoji] => Ok(Command::React {
                seq: Some(number(name, n)?),
                emoji: (*emoji).to_owned(),
            }),
            _ => Err("/react needs an emoji: /react [N] 👍 (or :thumbsup:)".into()),
        },
        "/reply" => match rest.split_once(char::is_whitespace) {
            Some((n, text)) if !text.trim().is_empty() => Ok(Command::Reply {
                seq: number(name, n)?,
                text: text.trim().to_owned(),
            }),
            _ => Err("/reply needs a message number and text: /reply N TEXT".into()),
        },
        "/edit" => {
            let (seq, text) = match rest.split_once(char::is_whitespace) {
                Some((n, text)) if n.parse::<u64>().is_ok() => (n.parse().ok(), text.trim()),
                _ => (None, rest),
            };
            if text.is_empty() {
                return Err("/edit needs the new text: /edit [N] TEXT".into());
            }
            Ok(Command::Edit {
                seq,
                text: text.to_owned(),
            })
        }
        "/delete" | "/del" => match args.as_slice() {
            [] => Ok(Command::Delete(None)),
            [n] => Ok(Command::Delete(Some(number(name, n)?))),
            _ => Err("/delete takes at most a message number: /delete [N]".into()),
        },
        "/jump" => match args.as_slice() {
            [n] => Ok(Command::Jump(number(name, n)?)),
            _ => Err("/jump needs a message number: /jump N".into()),
        },
        "/search" | "/find" if !rest.is_empty() => Ok(Command::Search(rest.to_owned())),
        "/search" | "/find" => Err("/search needs words to look for: /search WORDS".into()),
        "/mute" => none(Command::Mute(true)),
        "/unmute" => none(Command::Mute(false)),
        "/upload" | "/offer" => Ok(Command::Upload {
            path: rest.trim_matches('"').to_owned(),
            offer: name == "/offer",
        }),
        "/avatar" => Ok(Command::Avatar(rest.trim_matches('"').to_owned())),
        "/save" => match args.as_slice() {
            [n] => Ok(Command::Save {
                seq: number(name, n)?,
                path: None,
            }),
            [n, ..] => Ok(Command::Save {
                seq: number(name, n)?,
                path: Some(rest[n.len()..].trim().trim_matches('"').to_owned()),
            }),
            [] => Err("/save needs the file's message number: /save N [PATH]".into()),
        },
        "/accept" | "/decline" => match args.as_slice() {
            [n] => Ok(Command::Answer {
                seq: number(name, n)?,
                accept: name == "/accept",
            }),
            _ => Err(format!("{name} needs the offer's message number: {name} N")),
        },
        "/help" | "/?" => Ok(Command::Help),
        "/exit" | "/quit" | "/q" => Ok(Command::Exit),
        other => Err(format!(
            "unknown command {other}: /help lists the commands (start with // to send a /)"
        )),
    }
}

/// `/group …`: `new NAME USER...` (a quoted name may have spaces), `add
/// USER...`, `leave`, `rename NAME...`, `owner-adds on|off`, or nothing.
fn group(rest: &str) -> Result<Command, String> {
    let (verb, tail) = match rest.split_once(char::is_whitespace) {
        Some((v, t)) => (v, t.trim()),
        None => (rest, ""),
    };
    let users = |t: &str| t.split_whitespace().map(user_name).collect::<Vec<_>>();
    match verb {
        "" | "info" => Ok(Command::GroupInfo),
        "new" | "create" => {
            let (name, members) = match tail.strip_prefix('"') {
                Some(q) => match q.split_once('"') {
                    Some((name, after)) => (name.trim().to_owned(), users(after)),
                    None => return Err("/group new: the name's closing \" is missing".into()),
                },
                None => match tail.split_once(char::is_whitespace) {
                    Some((n, after)) => (n.to_owned(), users(after)),
                    None => (tail.to_owned(), Vec::new()),
                },
            };
            if name.is_empty() {
                return Err("/group new needs a name: /group new NAME USER...".into());
            }
            Ok(Command::GroupNew { name, members })
        }
        "add" if !tail.is_empty() => Ok(Command::GroupAdd(users(tail))),
        "add" => Err("/group add needs a user: /group add USER...".into()),
        "leave" => Ok(Command::GroupLeave),
        "rename" if !tail.is_empty() => Ok(Command::GroupRename(
            tail.trim_matches('"').trim().to_owned(),
        )),
        "rename" => Err("/group rename needs a name: /group rename NAME".into()),
        "owner-adds" => match tail {
            "on" => Ok(Command::GroupOwnerAdds(true)),
            "off" => Ok(Command::GroupOwnerAdds(false)),
            _ => Err("/group owner-adds takes on or off".into()),
        },
        other => Err(format!(
            "/group {other}: use /group new, add, leave, rename or owner-adds"
        )),
    }
}

/// A message number (`12`, or `#12`).
fn number(cmd: &str, s: &str) -> Result<u64, String> {
    s.trim_start_matches('#')
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{cmd}: “{s}” is not a message number (they start at 1)"))
}

fn channel(s: &str) -> String {
    s.strip_prefix('#').unwrap_or(s).to_owned()
}

fn user_name(s: &str) -> String {
    s.strip_prefix('@').unwrap_or(s).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(parse("/join #general"), Ok(Command::Join("general".into())));
        assert_eq!(parse("/join general"), Ok(Command::Join("general".into())));
        assert_eq!(parse("/leave"), Ok(Command::Leave(None)));
        assert_eq!(parse("/leave #x"), Ok(Command::Leave(Some("x".into()))));
        assert_eq!(
            parse("/create --private #ops night shift"),
            Ok(Command::Create {
                name: "ops".into(),
                private: true,
                topic: Some("night shift".into())
            })
        );
        assert_eq!(
            parse("/create pub"),
            Ok(Command::Create {
                name: "pub".into(),
                private: false,
                topic: None
            })
        );
        assert_eq!(
            parse("/invite @bob #ops"),
            Ok(Command::Invite {
                user: "bob".into(),
                channel: Some("ops".into())
            })
        );
        assert_eq!(
            parse("/msg bob hi  there"),
            Ok(Command::Msg {
                user: "bob".into(),
                text: Some("hi  there".into())
            })
        );
        assert_eq!(
            parse("\\private bob hi"),
            Ok(Command::Msg {
                user: "bob".into(),
                text: Some("hi".into())
            })
        );
        assert_eq!(
            parse("/w bob"),
            Ok(Command::Msg {
                user: "bob".into(),
                text: None
            })
        );
        assert_eq!(parse("/me waves"), Ok(Command::Me("waves".into())));
        assert_eq!(parse("/topic"), Ok(Command::Topic(None)));
        assert_eq!(
            parse("/topic --clear"),
            Ok(Command::Topic(Some(String::new())))
        );
        assert_eq!(
            parse("/topic Plans for Friday"),
            Ok(Command::Topic(Some("Plans for Friday".into())))
        );
        assert_eq!(
            parse("/react 👍"),
            Ok(Command::React {
                seq: None,
                emoji: "👍".into()
            })
        );
        assert_eq!(
            parse("/react #12 :tada:"),
            Ok(Command::React {
                seq: Some(12),
                emoji: ":tada:".into()
            })
        );
        assert_eq!(
            parse("/reply 3 sounds good"),
            Ok(Command::Reply {
                seq: 3,
                text: "sounds good".into()
            })
        );
        assert_eq!(
            parse("/edit 4 fixed typo"),
            Ok(Command::Edit {
                seq: Some(4),
                text: "fixed typo".into()
            })
        );
        assert_eq!(
            parse("/edit 2pm then"),
            Ok(Command::Edit {
                seq: None,
                text: "2pm then".into()
            })
        );
        assert_eq!(parse("/delete"), Ok(Command::Delete(None)));
        assert_eq!(parse("/delete 7"), Ok(Command::Delete(Some(7))));
        assert_eq!(parse("/jump 1"), Ok(Command::Jump(1)));
        assert_eq!(
            parse("/search launch code"),
            Ok(Command::Search("launch code".into()))
        );
        assert_eq!(parse("/mute"), Ok(Command::Mute(true)));
        assert_eq!(
            parse("/upload \"/tmp/my cat.png\""),
            Ok(Command::Upload {
                path: "/tmp/my cat.png".into(),
                offer: false
            })
        );
        assert_eq!(
            parse("/offer report.pdf"),
            Ok(Command::Upload {
                path: "report.pdf".into(),
                offer: true
            })
        );
        assert_eq!(
            parse("/save 12 ~/Downloads/a b.png"),
            Ok(Command::Save {
                seq: 12,
                path: Some("~/Downloads/a b.png".into())
            })
        );
        assert_eq!(parse("/save #3"), Ok(Command::Save { seq: 3, path: None }));
        assert!(parse("/save").is_err());
        assert_eq!(
            parse("/decline 4"),
            Ok(Command::Answer {
                seq: 4,
                accept: false
            })
        );
        assert_eq!(parse("/unmute"), Ok(Command::Mute(false)));
        assert!(
            parse("/reply x hi")
                .unwrap_err()
                .contains("not a message number")
        );
        assert!(
            parse("/delete 0")
                .unwrap_err()
                .contains("not a message number")
        );
        assert!(
            parse("/reply 3")
                .unwrap_err()
                .contains("needs a message number and text")
        );
        assert_eq!(parse("/invisible on"), Ok(Command::Invisible(Some(true))));
        assert_eq!(parse("/invisible"), Ok(Command::Invisible(None)));
        for (line, cmd) in [
            ("/list", Command::List),
            ("/users", Command::Users),
            ("/passwd", Command::Passwd),
            ("/whoami", Command::Whoami),
            ("/live", Command::Live),
            ("/clear", Command::Clear),
            ("/logout", Command::Logout),
            ("/help", Command::Help),
            ("/exit", Command::Exit),
            ("/quit", Command::Exit),
            ("/friends", Command::Friends),
            (
                "/friend bob",
                Command::Friend {
                    op: FriendOp::Add,
                    user: "bob".into(),
                },
            ),
            (
                "/friend accept @cat",
                Command::Friend {
                    op: FriendOp::Accept,
                    user: "cat".into(),
                },
            ),
            ("/block eve", Command::Block("eve".into())),
            ("/unblock eve", Command::Unblock("eve".into())),
            (
                "/group new \"Trip to Lyon\" bob @cat",
                Command::GroupNew {
                    name: "Trip to Lyon".into(),
                    members: vec!["bob".into(), "cat".into()],
                },
            ),
            (
                "/group new Book-club dan",
                Command::GroupNew {
                    name: "Book-club".into(),
                    members: vec!["dan".into()],
                },
            ),
            (
                "/group add dan eve",
                Command::GroupAdd(vec!["dan".into(), "eve".into()]),
            ),
            ("/group leave", Command::GroupLeave),
            (
                "/group rename Lyon 2027",
                Command::GroupRename("Lyon 2027".into()),
            ),
            ("/group owner-adds on", Command::GroupOwnerAdds(true)),
            ("/group", Command::GroupInfo),
        ] {
            assert_eq!(parse(line), Ok(cmd), "{line}");
        }
    }

    #[test]
    fn wrong_input_gets_one_line_that_says_what_is_wrong() {
        for (line, says) in [
            ("/frobnicate", "unknown command /frobnicate"),
            ("/join", "/join needs a channel"),
            ("/join a b", "/join takes one channel"),
            ("/leave a b", "at most one channel"),
            ("/create", "/create needs a channel"),
            ("/create --secret x", "unknown option --secret"),
            ("/invite", "/invite needs a user"),
            ("/msg", "/msg needs a user"),
            ("/invisible maybe", "on or off"),
            ("/whoami now", "/whoami takes no arguments"),
            ("/friend", "/friend needs a user"),
            ("/block a b", "/block needs one user"),
            ("/group new", "/group new needs a name"),
            ("/group new \"Trip", "closing \" is missing"),
            ("/group owner-adds maybe", "on or off"),
            ("/group dance", "/group dance: use"),
        ] {
            let err = parse(line).expect_err(line);
            assert!(err.contains(says), "{line}: {err}");
            assert!(!err.contains('\n'), "{line}: {err}");
        }
    }

    #[test]
    fn double_slash_is_a_message() {
        assert!(is_command("/join x"));
        assert!(is_command("\\private bob hi"));
        assert!(!is_command("//join is a command"));
        assert!(!is_command("hello /join"));
    }

    #[test]
    fn help_covers_every_command() {
        for name in NAMES {
            if ["/w", "/quit"].contains(name) {
                continue;
            }
            assert!(
                HELP.iter()
                    .any(|(usage, _)| usage.split(", ").any(|u| u.starts_with(name))),
                "{name} missing from /help"
            );
        }
    }
}
