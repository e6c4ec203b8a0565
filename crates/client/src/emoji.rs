//! `:shortcode:` emoji, from the `emojis` crate (GitHub's and gemoji's
//! shortcodes). Here in the core so that the terminal and browser clients
//! agree on them.

/// `text` with every `:shortcode:` that names an emoji replaced by it.
/// Anything else between colons (`10:30:00`, `:nope:`) is left alone.
pub fn expand(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(':') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let code_len = after
            .find(|c: char| !is_shortcode_char(c))
            .unwrap_or(after.len());
        let code = &after[..code_len];
        match (
            after[code_len..].starts_with(':'),
            emojis::get_by_shortcode(code),
        ) {
            (true, Some(emoji)) if !code.is_empty() => {
                out.push_str(emoji.as_str());
                rest = &after[code_len + 1..];
            }
            _ => {
                out.push(':');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `s` is exactly one emoji (what a reaction may be).
pub fn is_one(s: &str) -> bool {
    emojis::get(s).is_some()
}

fn is_shortcode_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-')
}

/// Shortcodes starting with `prefix`, shortest first (so `:smile` offers
/// `smile` before `smiley`), at most `max`.
pub fn complete(prefix: &str, max: usize) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = emojis::iter()
        .flat_map(|e| e.shortcodes())
        .filter(|code| code.starts_with(prefix))
        .collect();
    found.sort_by(|a, b| (a.len(), *a).cmp(&(b.len(), *b)));
    found.dedup();
    found.truncate(max);
    found
}

/// Whether `word` (without colons) could be the start of a shortcode.
pub fn is_shortcode_prefix(word: &str) -> bool {
    !word.is_empty() && word.chars().all(is_shortcode_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_shortcodes_only() {
        assert_eq!(expand("ship it :tada: :thumbsup:"), "ship it 🎉 👍");
        assert_eq!(expand(":smile:"), "😄");
        assert_eq!(expand("at 10:30:00 :nope: a:b"), "at 10:30:00 :nope: a:b");
        assert_eq!(expand("::tada:::"), ":🎉::");
        assert_eq!(expand("trailing :"), "trailing :");
        assert_eq!(expand("é :heart: ü"), "é ❤️ ü");
    }

    #[test]
    fn completes_by_prefix_shortest_first() {
        let c = complete("smil", 10);
        assert_eq!(c.first(), Some(&"smile"));
        assert!(c.contains(&"smiley"), "{c:?}");
        assert!(c.iter().all(|s| s.starts_with("smil")));
        assert!(complete("zzzz_not_an_emoji", 10).is_empty());
        assert_eq!(complete("t", 3).len(), 3);
    }
}
