//! The Markdown a message may use, read the same way by every client:
//! **bold**, *italic*, ~~strike~~, `inline code`, fenced code blocks,
//! quotes (`> …`), [links](https://example.org) and bare URLs. Lists become
//! lines with bullets; headings, bold lines.
//!
//! Parsing is pulldown-cmark's (CommonMark). What comes out is plain data,
//! [`Block`]s of styled [`Span`]s, never HTML: a UI builds its own elements
//! (text nodes in the browser, styled cells in the terminal), so raw HTML
//! in a message is shown as the text it is. Links are kept only for
//! `http`, `https` and `mailto`; any other (`javascript:`…) is plain text.
//! Nothing here recurses, so nesting however deep costs nothing more.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// How a run of text looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Style {
    pub bold: bool,
    pub italic: bool,
    pub strike: bool,
    pub code: bool,
}

/// A run of text in one style, perhaps a link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub text: String,
    pub style: Style,
    /// Where it links to (http, https or mailto only).
    pub link: Option<String>,
}

/// A block of a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Block {
    /// Lines of styled text; `quote`: how deep in quotes (0: none).
    Text { quote: u8, lines: Vec<Vec<Span>> },
    /// A code block, as written.
    Code { quote: u8, text: String },
}

/// Whether a link target may be followed.
pub fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|s| lower.starts_with(s))
}

/// Reads `text` as Markdown.
pub fn parse(text: &str) -> Vec<Block> {
    let mut r = Reader::default();
    let options = Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(text, options) {
        r.event(event);
    }
    r.end_block();
    r.blocks
}

/// The text without its Markdown (for a quote of a reply, a notification).
pub fn plain(text: &str) -> String {
    let mut out = String::new();
    for block in parse(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        match block {
            Block::Text { lines, .. } => {
                let lines: Vec<String> = lines
                    .iter()
                    .map(|l| l.iter().map(|s| s.text.as_str()).collect())
                    .collect();
                out.push_str(&lines.join(" "));
            }
            Block::Code { text, .. } => out.push_str(text.trim_end()),
        }
    }
    out
}

#[derive(Default)]
struct Reader {
    blocks: Vec<Block>,
    lines: Vec<Vec<Span>>,
    line: Vec<Span>,
    code: Option<String>,
    quote: u8,
    bold: u32,
    italic: u32,
    strike: u32,
    /// Inside a link: its target (when safe).
    link: Option<Option<String>>,
    /// Open lists: the next number of each (`None`: bullets).
    lists: Vec<Option<u64>>,
}

impl Reader {
    fn style(&self) -> Style {
        Style {
            bold: self.bold > 0,
            italic: self.italic > 0,
            strike: self.strike > 0,
            code: false,
        }
    }

    fn push(&mut self, text: &str, style: Style, link: Option<String>) {
        if text.is_empty() {
            return;
        }
        if let Some(last) = self.line.last_mut()
            && last.style == style
            && last.link == link
        {
            last.text.push_str(text);
            return;
        }
        self.line.push(Span {
            text: text.to_owned(),
            style,
            link,
        });
    }

    /// Text, with bare URLs made links (outside links and code).
    fn text(&mut self, text: &str) {
        let style = self.style();
        if let Some(link) = self.link.clone() {
            return self.push(text, style, link);
        }
        let mut rest = text;
        while let Some(at) = find_url(rest) {
            let (before, from) = rest.split_at(at);
            self.push(before, style, None);
            let end = from
                .find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
                .unwrap_or(from.len());
            let url = from[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'']);
            self.push(url, style, Some(url.to_owned()));
            rest = &from[url.len()..];
        }
        self.push(rest, style, None);
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.lines.push(line);
    }

    fn end_block(&mut self) {
        if !self.line.is_empty() {
            self.end_line();
        }
        if !self.lines.is_empty() {
            let lines = std::mem::take(&mut self.lines);
            self.blocks.push(Block::Text {
                quote: self.quote,
                lines,
            });
        }
    }

    fn event(&mut self, e: Event) {
        if let Some(code) = &mut self.code {
            match e {
                Event::Text(t) => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    let mut text = self.code.take().unwrap_or_default();
                    if text.ends_with('\n') {
                        text.pop();
                    }
                    self.blocks.push(Block::Code {
                        quote: self.quote,
                        text,
                    });
                }
                _ => {}
            }
            return;
        }
        match e {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => {
                let link = self.link.clone().flatten();
                let style = Style {
                    code: true,
                    ..self.style()
                };
                self.push(&t, style, link);
            }
            // Shown as written: never markup.
            Event::Html(t) | Event::InlineHtml(t) => {
                let style = self.style();
                for (i, part) in t.split('\n').enumerate() {
                    if i > 0 {
                        self.end_line();
                    }
                    self.push(part, style, None);
                }
            }
            Event::SoftBreak | Event::HardBreak => self.end_line(),
            Event::Rule => {
                self.end_block();
                self.lines.push(vec![Span {
                    text: "———".into(),
                    style: Style::default(),
                    link: None,
                }]);
                self.end_block();
            }
            Event::TaskListMarker(done) => {
                self.push(if done { "☑ " } else { "☐ " }, Style::default(), None)
            }
            Event::FootnoteReference(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                self.text(&t)
            }
        }
    }

    fn start(&mut self, tag: Tag) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock => {}
            Tag::Heading { .. } => {
                self.end_block();
                self.bold += 1;
            }
            Tag::BlockQuote(_) => {
                self.end_block();
                self.quote = self.quote.saturating_add(1);
            }
            Tag::CodeBlock(_) => {
                self.end_block();
                self.code = Some(String::new());
            }
            Tag::List(start) => {
                self.end_block();
                self.lists.push(start);
            }
            Tag::Item => {
                if !self.line.is_empty() {
                    self.end_line();
                }
                let depth = self.lists.len().saturating_sub(1).min(4);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}{}. ", "  ".repeat(depth), *n - 1)
                    }
                    _ => format!("{}• ", "  ".repeat(depth)),
                };
                self.push(&marker, Style::default(), None);
            }
            Tag::Emphasis => self.italic += 1,
            Tag::Strong => self.bold += 1,
            Tag::Strikethrough => self.strike += 1,
            Tag::Link { dest_url, .. } => {
                let url = dest_url.to_string();
                self.link = Some(safe_url(&url).then_some(url));
            }
            // An image is its description (no remote loads).
            Tag::Image { .. } => {}
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock => self.end_block(),
            TagEnd::Heading(_) => {
                self.bold = self.bold.saturating_sub(1);
                self.end_block();
            }
            TagEnd::BlockQuote(_) => {
                self.end_block();
                self.quote = self.quote.saturating_sub(1);
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.end_block();
            }
            TagEnd::Item if !self.line.is_empty() => self.end_line(),
            TagEnd::Emphasis => self.italic = self.italic.saturating_sub(1),
            TagEnd::Strong => self.bold = self.bold.saturating_sub(1),
            TagEnd::Strikethrough => self.strike = self.strike.saturating_sub(1),
            TagEnd::Link => self.link = None,
            _ => {}
        }
    }
}

/// Where the first `http://` or `https://` URL in `s` starts.
fn find_url(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    ["https://", "http://"]
        .iter()
        .filter_map(|p| lower.find(p))
        .filter(|&at| {
            // Not in the middle of a word.
            s[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str, style: Style, link: Option<&str>) -> Span {
        Span {
            text: text.into(),
            style,
            link: link.map(Into::into),
        }
    }

    const PLAIN: Style = Style {
        bold: false,
        italic: false,
        strike: false,
        code: false,
    };

    fn one_line(text: &str) -> Vec<Span> {
        match parse(text).as_slice() {
            [Block::Text { lines, .. }] if lines.len() == 1 => lines[0].clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_subset_is_styled() {
        let bold = Style {
            bold: true,
            ..PLAIN
        };
        let italic = Style {
            italic: true,
            ..PLAIN
        };
        let strike = Style {
            strike: true,
            ..PLAIN
        };
        let code = Style {
            code: true,
            ..PLAIN
        };
        assert_eq!(
            one_line("**a** *b* ~~c~~ `d`"),
            [
                s("a", bold, None),
                s(" ", PLAIN, None),
                s("b", italic, None),
                s(" ", PLAIN, None),
                s("c", strike, None),
                s(" ", PLAIN, None),
                s("d", code, None),
            ]
        );
        assert_eq!(
            one_line("see [the docs](https://example.org/x) or https://confab.example/a?b=1."),
            [
                s("see ", PLAIN, None),
                s("the docs", PLAIN, Some("https://example.org/x")),
                s(" or ", PLAIN, None),
                s(
                    "https://confab.example/a?b=1",
                    PLAIN,
                    Some("https://confab.example/a?b=1")
                ),
                s(".", PLAIN, None),
            ]
        );
        // snake_case and arithmetic are not emphasis.
        assert_eq!(
            one_line("my_var_name = 2 * 3 * 4"),
            [s("my_var_name = 2 * 3 * 4", PLAIN, None)]
        );
    }

    #[test]
    fn blocks_quotes_code_and_lines() {
        assert_eq!(
            parse("> quoted\n\nline one\nline two\n\n```\nlet x = **1**;\n```"),
            [
                Block::Text {
                    quote: 1,
                    lines: vec![vec![s("quoted", PLAIN, None)]]
                },
                Block::Text {
                    quote: 0,
                    lines: vec![
                        vec![s("line one", PLAIN, None)],
                        vec![s("line two", PLAIN, None)]
                    ]
                },
                Block::Code {
                    quote: 0,
                    text: "let x = **1**;".into()
                },
            ]
        );
        assert_eq!(
            plain("- a\n- *b*"),
            "• a • b",
            "lists are lines with bullets"
        );
    }

    #[test]
    fn hostile_input_is_inert() {
        // Raw HTML is text.
        assert_eq!(
            plain("<script>alert(1)</script> <img src=x onerror=alert(1)>"),
            "<script>alert(1)</script> <img src=x onerror=alert(1)>"
        );
        // Only http, https and mailto links are links.
        for bad in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](data:text/html,<script>alert(1)</script>)",
            "[x](vbscript:msgbox)",
            "<javascript:alert(1)>",
        ] {
            for block in parse(bad) {
                if let Block::Text { lines, .. } = block {
                    for span in lines.iter().flatten() {
                        assert_eq!(span.link, None, "{bad}");
                    }
                }
            }
        }
        assert!(safe_url("mailto:ann@example.org"));
        // Nesting ten thousand deep parses, flat, in one piece.
        let deep = format!("{}x", "> ".repeat(10_000));
        let blocks = parse(&deep);
        assert_eq!(blocks.len(), 1);
        let deep = format!("{}x{}", "*".repeat(5_000), "*".repeat(5_000));
        assert!(!parse(&deep).is_empty());
        let deep = format!("{}x{}", "[".repeat(5_000), "](http://a)".repeat(5_000));
        assert!(!parse(&deep).is_empty());
    }
}
