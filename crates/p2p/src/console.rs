//! The node's command line on standard input: one command per line, its
//! arguments on the line, and passwords asked for after it (without echo
//! on a terminal; as the next lines otherwise, so scripts can drive it).

use std::io::{BufRead, IsTerminal, Write};

use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Register {
        name: String,
        display: String,
        password: String,
    },
    Login {
        name: String,
        password: String,
    },
    Logout,
    Passwd {
        old: String,
        new: String,
        again: String,
    },
    Whoami,
    Lookup(String),
    Friends,
    FriendRequests,
    FriendAdd(String),
    FriendAccept(String),
    FriendDecline(String),
    OnlineFriends,
    Msg {
        to: String,
        text: String,
    },
    ConfCreate {
        name: String,
        members: Vec<String>,
    },
    ConfInvite {
        conf: String,
        user: String,
    },
    ConfList,
    ConfSend {
        conf: String,
        text: String,
    },
    ConfLeave(String),
    ConfRemove {
        conf: String,
        user: String,
    },
    Help,
    Quit,
}

pub const HELP: &str = "\
commands:
  register USER [DISPLAY NAME]   a new user whose home is this node (asks for a password)
  login USER                     (asks for the password)
  logout
  passwd                         (asks for the old password, then the new one twice)
  whoami                         the user, this node's peer id and addresses
  lookup USER                    where USER's home node is (asks the network)
  friends                        friends, online or not
  friend-requests                requests to you, and yours not yet answered
  friend-add USER                ask USER (found by name, wherever their node is)
  friend-accept USER | friend-decline USER
  online-friends
  msg FRIEND TEXT                a direct message (waits while FRIEND is offline)
  conf-create NAME FRIEND...     a conference hosted by this node, with friends of yours
  conf-invite CONF FRIEND        any member adds a friend of theirs, at any time
  conf-list                      your conferences and their members
  conf-send CONF TEXT
  conf-leave CONF
  conf-remove CONF USER          (the host's user only)
  help
  quit";

/// A parsed line: the command, or what is wrong with it. `passwords` is
/// how many password lines the command still needs.
fn parse(line: &str) -> Result<Option<(Command, usize)>, String> {
    let line = line.trim();
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let args: Vec<&str> = rest.split_whitespace().collect();
    let one = |usage: &str| -> Result<String, String> {
        match args.as_slice() {
            [a] => Ok((*a).to_string()),
            _ => Err(format!("usage: {usage}")),
        }
    };
    let two = |usage: &str| -> Result<(String, String), String> {
        match args.as_slice() {
            [a, b] => Ok(((*a).to_string(), (*b).to_string())),
            _ => Err(format!("usage: {usage}")),
        }
    };
    // A word, then text to the end of the line.
    let text = |usage: &str| -> Result<(String, String), String> {
        match rest.split_once(char::is_whitespace) {
            Some((w, t)) if !t.trim().is_empty() => Ok((w.to_string(), t.trim().to_string())),
            _ => Err(format!("usage: {usage}")),
        }
    };
    let none = |c: Command| -> Result<Option<(Command, usize)>, String> {
        if args.is_empty() {
            Ok(Some((c, 0)))
        } else {
            Err(format!("`{word}` takes no arguments"))
        }
    };
    match word {
        "" => Ok(None),
        "register" => {
            let name = args.first().ok_or("usage: register USER [DISPLAY NAME]")?;
            let display = args[1..].join(" ");
            Ok(Some((
                Command::Register {
                    name: name.to_string(),
                    display,
                    password: String::new(),
                },
                1,
            )))
        }
        "login" => Ok(Some((
            Command::Login {
                name: one("login USER")?,
                password: String::new(),
            },
            1,
        ))),
        "logout" => none(Command::Logout),
        "passwd" => {
            if !args.is_empty() {
                return Err("`passwd` takes no arguments (it asks for the passwords)".into());
            }
            Ok(Some((
                Command::Passwd {
                    old: String::new(),
                    new: String::new(),
                    again: String::new(),
                },
                3,
            )))
        }
        "whoami" => none(Command::Whoami),
        "lookup" => Ok(Some((Command::Lookup(one("lookup USER")?), 0))),
        "friends" => none(Command::Friends),
        "friend-requests" => none(Command::FriendRequests),
        "friend-add" => Ok(Some((Command::FriendAdd(one("friend-add USER")?), 0))),
        "friend-accept" => Ok(Some((Command::FriendAccept(one("friend-accept USER")?), 0))),
        "friend-decline" => Ok(Some((
            Command::FriendDecline(one("friend-decline USER")?),
            0,
        ))),
        "online-friends" => none(Command::OnlineFriends),
        "msg" => {
            let (to, text) = text("msg FRIEND TEXT")?;
            Ok(Some((Command::Msg { to, text }, 0)))
        }
        "conf-create" => match args.as_slice() {
            [name, members @ ..] if !members.is_empty() => Ok(Some((
                Command::ConfCreate {
                    name: name.to_string(),
                    members: members.iter().map(|m| m.to_string()).collect(),
                },
                0,
            ))),
            _ => Err("usage: conf-create NAME FRIEND...".into()),
        },
        "conf-invite" => {
            let (conf, user) = two("conf-invite CONF FRIEND")?;
            Ok(Some((Command::ConfInvite { conf, user }, 0)))
        }
        "conf-list" => none(Command::ConfList),
        "conf-send" => {
            let (conf, text) = text("conf-send CONF TEXT")?;
            Ok(Some((Command::ConfSend { conf, text }, 0)))
        }
        "conf-leave" => Ok(Some((Command::ConfLeave(one("conf-leave CONF")?), 0))),
        "conf-remove" => {
            let (conf, user) = two("conf-remove CONF USER")?;
            Ok(Some((Command::ConfRemove { conf, user }, 0)))
        }
        "help" => none(Command::Help),
        "quit" | "exit" => none(Command::Quit),
        other => Err(format!("unknown command `{other}` (try `help`)")),
    }
}

fn fill(cmd: &mut Command, passwords: Vec<String>) {
    let mut p = passwords.into_iter();
    let mut next = || p.next().unwrap_or_default();
    match cmd {
        Command::Register { password, .. } | Command::Login { password, .. } => *password = next(),
        Command::Passwd { old, new, again } => {
            *old = next();
            *new = next();
            *again = next();
        }
        _ => {}
    }
}

fn prompts(cmd: &Command) -> &'static [&'static str] {
    match cmd {
        Command::Passwd { .. } => &["old password: ", "new password: ", "again: "],
        _ => &["password: "],
    }
}

/// Reads commands on a thread of its own (a terminal's password prompt
/// reads the terminal itself) and hands them over; a line that is not a
/// command is answered there. Ends at the end of input.
pub fn spawn(tx: mpsc::Sender<Command>) {
    let _ = std::thread::Builder::new()
        .name("confab-node-console".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let terminal = stdin.is_terminal();
            let mut lines = stdin.lock().lines();
            while let Some(Ok(line)) = lines.next() {
                let (mut cmd, wanted) = match parse(&line) {
                    Ok(Some(c)) => c,
                    Ok(None) => continue,
                    Err(e) => {
                        say(&format!("error: {e}"));
                        continue;
                    }
                };
                let mut passwords = Vec::new();
                for prompt in prompts(&cmd).iter().take(wanted) {
                    let p = if terminal {
                        rpassword::prompt_password(prompt).ok()
                    } else {
                        lines.next().and_then(Result::ok)
                    };
                    match p {
                        Some(p) => passwords.push(p),
                        None => return,
                    }
                }
                fill(&mut cmd, passwords);
                if tx.blocking_send(cmd).is_err() {
                    return;
                }
            }
        });
}

/// One line of output, flushed at once (a pipe would hold it back).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_commands_or_say_what_is_wrong() {
        let (c, n) = parse("register alice Alice  Smith").unwrap().unwrap();
        assert_eq!(n, 1);
        assert!(matches!(c, Command::Register { ref name, ref display, .. }
            if name == "alice" && display == "Alice Smith"));
        let (c, _) = parse("msg bob  hello there ").unwrap().unwrap();
        assert_eq!(
            c,
            Command::Msg {
                to: "bob".into(),
                text: "hello there".into()
            }
        );
        assert_eq!(parse("passwd").unwrap().unwrap().1, 3);
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("msg bob").unwrap_err(), "usage: msg FRIEND TEXT");
        assert_eq!(parse("friend-add").unwrap_err(), "usage: friend-add USER");
        assert_eq!(
            parse("whoami now").unwrap_err(),
            "`whoami` takes no arguments"
        );
        assert!(
            parse("frobnicate")
                .unwrap_err()
                .contains("unknown command `frobnicate`")
        );
    }
}
