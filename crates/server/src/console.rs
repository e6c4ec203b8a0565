//! The operator's console: commands typed on the server's terminal.
//! [`run_command`] does the work and returns the text to print, so the same
//! commands can later be offered to `confab admin`.

use std::sync::atomic::Ordering;

use crate::Handle;

/// What the console prints for `help`.
pub const HELP: &str = "commands: users | stats | broadcast <text> | shutdown | help";

/// Runs one console line. Returns the text to print.
pub async fn run_command(handle: &Handle, line: &str) -> String {
    let line = line.trim();
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match cmd {
        "" => String::new(),
        "help" | "?" => HELP.to_owned(),
        "users" => {
            let online = handle.online();
            if online.is_empty() {
                return "no users online".to_owned();
            }
            let mut out = format!("{} online:", online.len());
            for (name, conns, invisible) in online {
                out.push_str(&format!(
                    "\n  {name} ({conns} connection{}){}",
                    if conns == 1 { "" } else { "s" },
                    if invisible { " [invisible]" } else { "" }
                ));
            }
            out
        }
        "stats" => {
            let s = handle.stats();
            let users = handle
                .store()
                .count_users()
                .await
                .map(|n| n.to_string())
                .unwrap_or_else(|e| e.to_string());
            let stored = handle
                .store()
                .count_messages()
                .await
                .map(|n| n.to_string())
                .unwrap_or_else(|e| e.to_string());
            let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            format!(
                "uptime {}s | connections {} now, {} total | users online {} of {users} | messages {} since start, {stored} stored | bytes in {} out {} | events dropped {} | udp in {} (typing {}) out {}, refused: forged {} replayed {} unknown session {} malformed {}",
                handle.uptime().as_secs(),
                handle.connections(),
                n(&s.connections_total),
                handle.online().len(),
                n(&s.messages),
                n(&s.bytes_in),
                n(&s.bytes_out),
                n(&s.events_dropped),
                n(&s.udp_in),
                n(&s.udp_typing_in),
                n(&s.udp_out),
                n(&s.udp_forged),
                n(&s.udp_replayed),
                n(&s.udp_unknown),
                n(&s.udp_malformed),
            )
        }
        "broadcast" if rest.trim().is_empty() => "usage: broadcast <text>".to_owned(),
        "broadcast" => {
            handle.broadcast(rest.trim());
            format!("sent to {} connection(s)", handle.connections())
        }
        "shutdown" => {
            handle.shutdown("the operator shut the server down");
            "shutting down".to_owned()
        }
        other => format!("unknown command `{other}`; {HELP}"),
    }
}
