//! Telling the user about a direct message or a mention while they look at
//! something else: the terminal's bell, and a desktop notification where
//! the terminal understands one (OSC 777 in foot, urxvt and VTE terminals
//! such as GNOME Terminal; OSC 9 in iTerm2, WezTerm, kitty and Windows
//! Terminal).

/// What is known of the terminal, from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terminal {
    pub term: String,
    pub term_program: String,
    pub vte: bool,
    pub windows_terminal: bool,
}

impl Terminal {
    pub fn from_env() -> Terminal {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Terminal {
            term: var("TERM"),
            term_program: var("TERM_PROGRAM"),
            vte: std::env::var_os("VTE_VERSION").is_some(),
            windows_terminal: std::env::var_os("WT_SESSION").is_some(),
        }
    }
}

/// The bytes to write: a bell, and a notification if the terminal has one.
/// `title` and `body` come from other people: every control character is
/// dropped, so a message can never smuggle an escape sequence out.
pub fn sequence(t: &Terminal, title: &str, body: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let (title, body) = (clean(title), clean(body));
    let mut out = String::from("\x07");
    let osc777 = t.vte || t.term.starts_with("foot") || t.term.contains("rxvt");
    let osc9 = matches!(t.term_program.as_str(), "iTerm.app" | "WezTerm")
        || t.term.contains("kitty")
        || t.windows_terminal;
    if osc777 {
        // Fields are separated by `;`: none in the title.
        out.push_str(&format!(
            "\x1b]777;notify;{};{body}\x1b\\",
            title.replace(';', ",")
        ));
    } else if osc9 {
        out.push_str(&format!("\x1b]9;{title}: {body}\x1b\\"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bell_always_and_a_notification_where_the_terminal_has_one() {
        let plain = Terminal {
            term: "xterm-256color".into(),
            ..Terminal::default()
        };
        assert_eq!(sequence(&plain, "ann", "hi"), "\x07");
        let foot = Terminal {
            term: "foot".into(),
            ..Terminal::default()
        };
        assert_eq!(
            sequence(&foot, "ann in #a;b", "hi"),
            "\x07\x1b]777;notify;ann in #a,b;hi\x1b\\"
        );
        let iterm = Terminal {
            term_program: "iTerm.app".into(),
            ..Terminal::default()
        };
        assert_eq!(sequence(&iterm, "ann", "hi"), "\x07\x1b]9;ann: hi\x1b\\");
    }

    #[test]
    fn a_message_cannot_smuggle_escape_sequences() {
        let vte = Terminal {
            vte: true,
            ..Terminal::default()
        };
        let s = sequence(&vte, "eve\x1b]0;owned\x07", "x\x1b[2J\x07\x1b\\y");
        // One bell, one notification, nothing else that escapes.
        assert_eq!(s.matches('\x07').count(), 1);
        assert_eq!(s.matches('\x1b').count(), 2, "{s:?}");
    }
}
