//! Drawing: the login screen, the chat (conversations, messages, members,
//! input, status bar) and the boxes over it. Reads [`App`] and the client;
//! records in `app.layout` where things went, for the mouse and scrolling.

use chrono::Local;
use confab_client::describe::{DELETED, label};
use confab_client::markdown;
use confab_client::native::TrustError;
use confab_client::timeline::Item;
use confab_client::{Cache, Client, ConnState, Target};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::app::{App, Level, LoginFocus, LoginForm, Overlay, PasswdForm, Screen};
use crate::commands::HELP;

/// Marks a message the server has not acknowledged yet.
pub const PENDING: &str = "… pending";

pub fn draw<C: Cache>(f: &mut Frame, app: &mut App, client: &Client<C>) {
    let area = f.area();
    match &app.screen {
        Screen::Login(form) => login(f, area, app, form, client),
        Screen::Chat => chat(f, area, app, client),
    }
    match &app.overlay {
        None => {}
        Some(Overlay::Help) => help(f, area),
        Some(Overlay::Trust(t)) => trust(f, area, &app.server, t),
        Some(Overlay::Passwd(form)) => passwd(f, area, form),
        Some(Overlay::Friends) => friends(f, area, client),
        Some(Overlay::Search {
            query,
            hits,
            chosen,
        }) => search(f, area, query, hits, *chosen, app),
    }
}

/// Search results, one line each: where, who, when, the text.
fn search(
    f: &mut Frame,
    area: Rect,
    query: &str,
    hits: &[confab_proto::SearchHit],
    chosen: usize,
    app: &App,
) {
    let offset = app.utc_offset.unwrap_or_else(|| *Local::now().offset());
    let width = area.width.min(100).saturating_sub(2) as usize;
    let lines: Vec<Line> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let head = format!(
                "{} · {} · {}  ",
                label(h.kind, &h.name),
                h.message.sender,
                confab_client::timeline::clock(h.message.ts, offset)
            );
            let text = markdown::plain(h.message.body.as_text().unwrap_or_default());
            let room = width.saturating_sub(head.width());
            let style = if i == chosen {
                Style::new().reversed()
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::styled(head, style.fg(Color::DarkGray)),
                Span::styled(truncate(&text, room), style),
            ])
        })
        .collect();
    boxed(
        f,
        area,
        &format!(" “{query}”: ↑↓ choose · Enter shows it · Esc closes "),
        lines,
        Style::new().fg(Color::Cyan),
    );
}

fn login<C: Cache>(f: &mut Frame, area: Rect, app: &App, form: &LoginForm, client: &Client<C>) {
    let [_, mid, _, notice_area, status] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(13),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    notice(f, notice_area, app);
    let [_, boxed, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(56.min(area.width)),
        Constraint::Fill(1),
    ])
    .areas(mid);
    let block = Block::bordered().title(format!(" Confab · {} ", app.server));
    let inner = block.inner(boxed);
    f.render_widget(block, boxed);

    let focus = |which: LoginFocus| {
        if form.focus == which {
            Style::new().reversed()
        } else {
            Style::new()
        }
    };
    let field = |label: &str, value: String, which: LoginFocus| {
        Line::from(vec![
            Span::raw(format!("{label:>10}: ")),
            Span::styled(format!("{value:<30}"), focus(which).underlined()),
        ])
    };
    let button =
        |label: &str, which: LoginFocus| Span::styled(format!("[ {label} ]"), focus(which));
    let mut lines = vec![
        Line::raw(""),
        field("Username", form.user.text().to_owned(), LoginFocus::User),
        Line::raw(""),
        field(
            "Password",
            "•".repeat(form.password.text().chars().count()),
            LoginFocus::Password,
        ),
        Line::raw(""),
        Line::from(vec![
            Span::raw("   "),
            button("Log in", LoginFocus::LogIn),
            Span::raw("  "),
            button("Register", LoginFocus::Register),
            Span::raw("  "),
            button("Visitor", LoginFocus::Visitor),
        ]),
        Line::raw(""),
    ];
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(Color::Red)));
    } else if form.busy {
        lines.push(Line::styled("logging in…", Style::new().fg(Color::Yellow)));
    }
    lines.push(Line::styled(
        "Tab moves · Enter chooses · Esc quits",
        Style::new().dim(),
    ));
    f.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        inner,
    );
    // The cursor in the focused field.
    let cursor = match form.focus {
        LoginFocus::User => Some((1, form.user.cursor_column())),
        LoginFocus::Password => Some((
            3,
            form.password.text()[..form.password.cursor()]
                .chars()
                .count(),
        )),
        _ => None,
    };
    if let Some((row, col)) = cursor {
        let line_width = 12 + 30;
        let left = inner.x + inner.width.saturating_sub(line_width) / 2 + 12;
        f.set_cursor_position((left + col as u16, inner.y + row));
    }
    status_bar(f, status, app, client);
}

fn chat<C: Cache>(f: &mut Frame, area: Rect, app: &mut App, client: &Client<C>) {
    // A long answer (a channel list, an error) wraps onto up to four lines.
    let notice_rows = app.notice.as_ref().map_or(1, |n| {
        wrap(&n.text, area.width.max(1) as usize)
            .len()
            .clamp(1, NOTICE_ROWS)
    });
    let [main, notice_area, input_area, status] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(notice_rows as u16),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let show_members = area.width >= 80;
    let show_convs = area.width >= 40;
    let [convs_area, messages_area, members_area] = Layout::horizontal([
        Constraint::Length(if show_convs { 22 } else { 0 }),
        Constraint::Fill(1),
        Constraint::Length(if show_members { 20 } else { 0 }),
    ])
    .areas(main);

    conversations(f, convs_area, app, client);
    messages(f, messages_area, app, client);
    if show_members {
        members(f, members_area, app, client);
    }

    notice(f, notice_area, app);

    // The input line scrolls sideways to keep the cursor in view.
    let prompt = match client.me() {
        Some(me) if me.role == confab_proto::Role::Visitor => "(visitor) > ",
        _ => "> ",
    };
    let room = (input_area.width as usize)
        .saturating_sub(prompt.len() + 1)
        .max(1);
    let col = app.input.cursor_column();
    let skip = col.saturating_sub(room);
    let visible: String = skip_width(app.input.text(), skip);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw(prompt).bold(),
            Span::raw(visible),
        ])),
        input_area,
    );
    if app.overlay.is_none() {
        f.set_cursor_position((
            input_area.x + (prompt.len() + col - skip) as u16,
            input_area.y,
        ));
    }
    status_bar(f, status, app, client);
}

/// Most rows the notice takes; a longer one ends in `…`.
const NOTICE_ROWS: usize = 4;

/// The answer to the last command, or the last problem, wrapped.
fn notice(f: &mut Frame, area: Rect, app: &App) {
    if let Some(n) = &app.notice {
        let style = match n.level {
            Level::Info => Style::new().fg(Color::Cyan),
            Level::Error => Style::new().fg(Color::Red),
        };
        let rows = area.height.max(1) as usize;
        let mut lines = wrap(&n.text, area.width.max(1) as usize);
        if lines.len() > rows {
            lines.truncate(rows);
            if let Some(last) = lines.last_mut() {
                let width = area.width as usize;
                if last.width() < width {
                    last.push('…');
                } else {
                    *last = truncate(last, width.saturating_sub(1));
                }
            }
        }
        let lines: Vec<Line> = lines.into_iter().map(|l| Line::styled(l, style)).collect();
        f.render_widget(Paragraph::new(lines), area);
    }
}

/// `s` without its first `width` columns.
fn skip_width(s: &str, width: usize) -> String {
    let mut skipped = 0;
    s.chars()
        .skip_while(|c| {
            let w = UnicodeWidthStr::width(c.encode_utf8(&mut [0; 4]) as &str);
            if skipped + w <= width && skipped < width {
                skipped += w;
                true
            } else {
                false
            }
        })
        .collect()
}

fn conversations<C: Cache>(f: &mut Frame, area: Rect, app: &mut App, client: &Client<C>) {
    app.layout.convs = area;
    app.layout.conv_rows.clear();
    if area.width == 0 {
        return;
    }
    let block = Block::new()
        .borders(Borders::RIGHT)
        .title(" Conversations ");
    let inner = block.inner(area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    for c in client.convs() {
        let label = label(c.kind, &c.name);
        let selected = client.opened_conv();
        let unread = if c.unread > 0 && Some(c.conv) != selected {
            if c.mentions > 0 {
                format!(" @{} {}", c.mentions, c.unread)
            } else {
                format!(" {}", c.unread)
            }
        } else {
            String::new()
        };
        let room = width.saturating_sub(unread.width());
        let label = truncate(&label, room);
        let pad = width.saturating_sub(label.width() + unread.width());
        let mut style = Style::new();
        if Some(c.conv) == selected {
            style = style.reversed();
        } else if !unread.is_empty() {
            style = style.bold();
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{label}{}", " ".repeat(pad)), style),
            Span::styled(unread, style.fg(Color::Yellow)),
        ]));
        app.layout.conv_rows.push(c.conv);
    }
    if lines.is_empty() {
        lines.push(Line::styled("none yet:", Style::new().dim()));
        lines.push(Line::styled("/list, /join #x", Style::new().dim()));
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + c.to_string().width() + 1 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

fn members<C: Cache>(f: &mut Frame, area: Rect, _app: &App, client: &Client<C>) {
    let block = Block::new().borders(Borders::LEFT).title(" Members ");
    let mut lines = Vec::new();
    let me = client.me().map(|u| u.name.as_str());
    let open = client.opened_conv().and_then(|c| client.conv(c));
    if let Some(conv) = open {
        match client.members(conv.conv) {
            Some(ms) => {
                let mut ms: Vec<_> = ms.iter().collect();
                ms.sort_by(|a, b| (!a.online, &a.name).cmp(&(!b.online, &b.name)));
                if *client.state() != ConnState::Online {
                    lines.push(Line::styled("(as last seen)", Style::new().dim()));
                }
                let owner = client.group(conv.conv).map(|g| g.owner.as_str());
                for m in ms {
                    let online = m.online && *client.state() == ConnState::Online;
                    let (dot, style) = if online {
                        ("●", Style::new().fg(Color::Green))
                    } else {
                        ("○", Style::new().fg(Color::DarkGray))
                    };
                    let mut name = m.name.clone();
                    if Some(m.name.as_str()) == me {
                        name.push_str(" (you)");
                    } else if Some(m.name.as_str()) == owner {
                        name.push_str(" (owner)");
                    } else if m.role == confab_proto::Role::Admin {
                        name.push_str(" (admin)");
                    }
                    lines.push(Line::from(vec![
                        Span::styled(format!("{dot} "), style),
                        Span::raw(name),
                    ]));
                }
            }
            None => lines.push(Line::styled("(when online)", Style::new().dim())),
        }
    } else if let Some(Target::User(u)) = client.opened() {
        lines.push(Line::raw(u.clone()));
        if let Some(me) = me {
            lines.push(Line::raw(format!("{me} (you)")));
        }
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn messages<C: Cache>(f: &mut Frame, area: Rect, app: &mut App, client: &Client<C>) {
    app.layout.messages = area;
    let title = match client.opened() {
        Some(Target::Conv(c)) => client.conv(*c).map(|cc| {
            let name = label(cc.kind, &cc.name);
            let muted = if cc.muted { " (muted)" } else { "" };
            // Who is live here (watched in the browser client).
            let live: String = client
                .live_streams(*c)
                .iter()
                .map(|s| format!(" · ● live: {} “{}”", s.host, s.title))
                .collect();
            match cc.topic.as_str() {
                "" => format!("{name}{muted}{live}"),
                topic => format!("{name}{muted} · {topic}{live}"),
            }
        }),
        Some(Target::User(u)) => Some(format!("@{u}")),
        None => None,
    };
    let Some(title) = title else {
        let text = vec![
            Line::raw(""),
            Line::raw("Welcome to Confab."),
            Line::raw(""),
            Line::raw("/list shows the channels, /join #channel enters one,"),
            Line::raw("/create #channel makes one, /msg USER TEXT writes to someone."),
            Line::raw("/friends shows your friends; /help lists every command."),
        ];
        f.render_widget(Paragraph::new(text).alignment(Alignment::Center), area);
        app.layout.total_lines = 0;
        app.layout.height = area.height as usize;
        return;
    };
    let title = format!(" {title} ");
    // Drawn once the lines are known: a jump changes how far back it is.
    let inner = Block::new().borders(Borders::BOTTOM).inner(area);

    let width = inner.width as usize;
    let height = inner.height as usize;
    let offset = app.utc_offset.unwrap_or_else(|| *Local::now().offset());
    let view = client.timeline(offset);
    let me = client.me().map(|u| u.name.clone()).unwrap_or_default();
    let mut lines: Vec<Line<'static>> = Vec::new();
    if view.at_beginning {
        lines.push(
            Line::styled(
                format!(
                    "── the beginning of {} ──",
                    title.trim().split(" · ").next().unwrap_or_default()
                ),
                Style::new().dim(),
            )
            .centered(),
        );
    }
    let mut marks = Vec::new();
    let mut unread_at = None;
    for item in &view.items {
        if let Item::Unread { .. } = item {
            unread_at = Some(lines.len());
        }
        item_lines(&mut lines, &mut marks, item, width, &me);
    }
    // Just opened with unread messages: start at their line.
    if std::mem::take(&mut app.to_unread)
        && let Some(at) = unread_at
    {
        app.scroll = lines.len().saturating_sub(at + height);
    }
    // A jump asked for: scroll so that its message is the top line.
    if let Some(seq) = app.jump.take() {
        match marks.iter().find(|(s, _)| *s >= seq) {
            Some((_, at)) => app.scroll = lines.len().saturating_sub(at + height),
            None => app.jump = Some(seq),
        }
    }
    let typing = client
        .opened_conv()
        .map(|c| client.typing_in(c, app.now_ms))
        .unwrap_or_default();
    if !typing.is_empty() {
        let verb = if typing.len() == 1 { "is" } else { "are" };
        lines.push(Line::styled(
            format!("{} {verb} typing…", typing.join(", ")),
            Style::new().dim().italic(),
        ));
    }

    let mut block = Block::new()
        .borders(Borders::BOTTOM)
        .title(title.clone().bold());
    if app.scroll > 0 {
        block = block.title_bottom(
            Line::styled(
                " scrolled back · PageDown or Esc returns ",
                Style::new().fg(Color::Yellow),
            )
            .right_aligned(),
        );
    }
    f.render_widget(block, area);

    app.layout.total_lines = lines.len();
    app.layout.height = height;
    // The newest line sits just above the input, as in every chat.
    if lines.len() < height {
        let pad = height - lines.len();
        lines.splice(0..0, std::iter::repeat_n(Line::raw(""), pad));
    }
    let top_max = lines.len().saturating_sub(height);
    app.scroll = app.scroll.min(top_max);
    let first = top_max - app.scroll;
    let shown: Vec<Line> = lines.into_iter().skip(first).take(height).collect();
    f.render_widget(Paragraph::new(shown), inner);
}

/// A palette for sender names, picked by a hash of the name so each person
/// keeps their colour.
fn name_colour(name: &str) -> Color {
    const PALETTE: [Color; 6] = [
        Color::Cyan,
        Color::Green,
        Color::Magenta,
        Color::Yellow,
        Color::Blue,
        Color::LightRed,
    ];
    let h = name
        .bytes()
        .fold(5381u32, |h, b| h.wrapping_mul(33) ^ b as u32);
    PALETTE[h as usize % PALETTE.len()]
}

/// The lines of one row of the timeline: a day separator, an event, or a
/// sender's messages, each `HH:MM sender text` with its wrapped rest
/// indented under the text.
fn item_lines(
    out: &mut Vec<Line<'static>>,
    marks: &mut Vec<(u64, usize)>,
    item: &Item,
    width: usize,
    me: &str,
) {
    match item {
        Item::Day { label, .. } => {
            out.push(Line::styled(format!("── {label} ──"), Style::new().dim()).centered())
        }
        Item::Event { text, time, .. } => {
            let room = width.saturating_sub(time.width() + 3).max(10);
            for (i, chunk) in wrap(text, room).into_iter().enumerate() {
                let lead = if i == 0 {
                    format!("{time} * ")
                } else {
                    " ".repeat(time.width() + 3)
                };
                out.push(Line::styled(
                    format!("{lead}{chunk}"),
                    Style::new().fg(Color::DarkGray).italic(),
                ));
            }
        }
        Item::Unread { .. } => out.push(
            Line::styled(
                "── new messages ──",
                Style::new().fg(Color::LightRed).bold(),
            )
            .centered(),
        ),
        Item::Group { sender, lines, .. } => {
            for l in lines {
                if let Some(seq) = l.seq {
                    marks.push((seq, out.len()));
                }
                let prefix_width = l.time.width() + 1 + sender.width() + 1;
                let indent = " ".repeat(prefix_width);
                let dim = Style::new().fg(Color::DarkGray);
                if let Some(q) = &l.reply {
                    let quote = if q.loaded {
                        format!("↳ {}: {}", q.sender, q.text)
                    } else {
                        format!("↳ message {} (/jump {} shows it)", q.seq, q.seq)
                    };
                    let room = width.saturating_sub(prefix_width).max(10);
                    let first = wrap(&quote, room).into_iter().next().unwrap_or_default();
                    out.push(Line::from(vec![
                        Span::raw(indent.clone()),
                        Span::styled(first, dim.italic()),
                    ]));
                }
                let text_style = if l.pending || l.deleted {
                    dim.add_modifier(Modifier::ITALIC)
                } else if l.mention {
                    Style::new().fg(Color::Yellow).bold()
                } else {
                    Style::new()
                };
                // The message's number, for /reply, /react, /edit.
                let mut tail = String::new();
                if l.edited && !l.deleted {
                    tail.push_str(" (edited)");
                }
                if l.pending {
                    tail.push_str("  ");
                    tail.push_str(PENDING);
                }
                if let Some(seq) = l.seq {
                    tail.push_str(&format!(" #{seq}"));
                }
                let room = width.saturating_sub(prefix_width).max(10);
                let rows = if l.deleted || l.pending {
                    wrap(if l.deleted { DELETED } else { &l.text }, room)
                        .into_iter()
                        .map(|c| vec![Span::styled(c, text_style)])
                        .collect()
                } else {
                    markdown_rows(&l.text, room, text_style)
                };
                let last = rows.len().saturating_sub(1);
                for (i, row) in rows.into_iter().enumerate() {
                    let mut spans = if i == 0 {
                        vec![
                            Span::styled(l.time.clone(), dim),
                            Span::raw(" "),
                            Span::styled(
                                sender.clone(),
                                Style::new().fg(name_colour(sender)).bold(),
                            ),
                            Span::raw(" "),
                        ]
                    } else {
                        vec![Span::raw(indent.clone())]
                    };
                    let used: usize = row.iter().map(|s| s.content.width()).sum();
                    let fits = used + tail.width() <= room;
                    spans.extend(row);
                    if i == last && fits {
                        spans.push(Span::styled(std::mem::take(&mut tail), dim));
                    }
                    out.push(Line::from(spans));
                }
                if !tail.is_empty() {
                    out.push(Line::from(vec![
                        Span::raw(indent.clone()),
                        Span::styled(tail.trim_start().to_owned(), dim),
                    ]));
                }
                if let (Some(file), Some(seq), false) = (&l.file, l.seq, l.deleted) {
                    // How to save it (or answer the offer).
                    let hint = match file.offer {
                        Some((_, None)) if sender != me => {
                            format!("offered to you: /accept {seq} or /decline {seq}")
                        }
                        Some((_, Some(false))) | Some((_, None)) => String::new(),
                        _ => format!("/save {seq} [PATH] saves it"),
                    };
                    if !hint.is_empty() {
                        out.push(Line::from(vec![
                            Span::raw(indent.clone()),
                            Span::styled(hint, Style::new().fg(Color::Cyan)),
                        ]));
                    }
                }
                if !l.reactions.is_empty() {
                    let mut spans = vec![Span::raw(indent.clone())];
                    for r in &l.reactions {
                        let style = if r.mine {
                            Style::new().fg(Color::Cyan).bold()
                        } else {
                            Style::new()
                        };
                        // Who, while they are few; how many, after.
                        let who = if r.users.len() <= 3 {
                            r.users.join(", ")
                        } else {
                            r.users.len().to_string()
                        };
                        spans.push(Span::styled(format!("{} {who}", r.emoji), style));
                        spans.push(Span::raw("  "));
                    }
                    out.push(Line::from(spans));
                }
            }
        }
    }
}

/// A message's Markdown as rows of styled spans at most `width` columns
/// wide: quotes behind a bar, code blocks behind another, links underlined
/// (with their address when the text is not it).
pub fn markdown_rows(text: &str, width: usize, base: Style) -> Vec<Vec<Span<'static>>> {
    let dim = Style::new().fg(Color::DarkGray);
    let mut rows = Vec::new();
    for block in markdown::parse(text) {
        match block {
            markdown::Block::Code { quote, text } => {
                let lead = format!("{}│ ", "▎".repeat(quote.min(3) as usize));
                let room = width.saturating_sub(lead.width()).max(4);
                for line in text.split('\n') {
                    for chunk in wrap(line, room) {
                        rows.push(vec![
                            Span::styled(lead.clone(), dim),
                            Span::styled(chunk, base.fg(Color::Green)),
                        ]);
                    }
                }
            }
            markdown::Block::Text { quote, lines } => {
                let lead = if quote > 0 {
                    format!("{} ", "▎".repeat(quote.min(3) as usize))
                } else {
                    String::new()
                };
                let room = width.saturating_sub(lead.width()).max(4);
                let base = if quote > 0 {
                    base.fg(Color::Gray)
                } else {
                    base
                };
                for line in lines {
                    let mut words: Vec<(String, Style)> = Vec::new();
                    for span in line {
                        let mut style = base;
                        if span.style.bold {
                            style = style.bold();
                        }
                        if span.style.italic {
                            style = style.italic();
                        }
                        if span.style.strike {
                            style = style.crossed_out();
                        }
                        if span.style.code {
                            style = style.fg(Color::Green);
                        }
                        let mut text = span.text;
                        if let Some(url) = &span.link {
                            style = style.underlined().fg(Color::Blue);
                            if *url != text {
                                text = format!("{text} <{url}>");
                            }
                        }
                        for word in text.split_inclusive(' ') {
                            words.push((word.to_owned(), style));
                        }
                    }
                    let mut row: Vec<Span> = Vec::new();
                    let mut used = 0;
                    let start = |rows: &mut Vec<Vec<Span<'static>>>,
                                 row: &mut Vec<Span<'static>>| {
                        let mut r = Vec::new();
                        if !lead.is_empty() {
                            r.push(Span::styled(lead.clone(), dim));
                        }
                        r.append(row);
                        rows.push(r);
                    };
                    for (word, style) in words {
                        let w = word.trim_end().width();
                        if used + w > room && used > 0 {
                            start(&mut rows, &mut row);
                            used = 0;
                        }
                        if w > room {
                            // A word longer than the row: cut it.
                            for chunk in wrap(&word, room) {
                                if used > 0 {
                                    start(&mut rows, &mut row);
                                }
                                used = chunk.width();
                                row.push(Span::styled(chunk, style));
                            }
                            continue;
                        }
                        used += word.width();
                        row.push(Span::styled(word, style));
                    }
                    start(&mut rows, &mut row);
                }
            }
        }
    }
    if rows.is_empty() {
        rows.push(Vec::new());
    }
    rows
}

/// Splits `text` into lines of at most `width` columns, at spaces where it
/// can, inside a word where it must. Newlines in the text are kept.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut line_w = 0;
        for word in para.split_inclusive(' ') {
            let w = word.width();
            if line_w + word.trim_end().width() > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
                line_w = 0;
            }
            if w > width {
                for c in word.chars() {
                    let cw = c.to_string().width();
                    if line_w + cw > width {
                        lines.push(std::mem::take(&mut line));
                        line_w = 0;
                    }
                    line.push(c);
                    line_w += cw;
                }
            } else {
                line.push_str(word);
                line_w += w;
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// What the status bar says about the connection, and in which colour.
pub fn connection_status<C: Cache>(app: &App, client: &Client<C>) -> (String, Color) {
    let me = client.me().map(|u| u.name.as_str());
    match client.state() {
        ConnState::Online => (
            format!("● connected as {}", me.unwrap_or("?")),
            Color::Green,
        ),
        ConnState::Connecting => (format!("◌ connecting to {}…", app.server), Color::Yellow),
        ConnState::LoggingIn => ("◌ logging in…".into(), Color::Yellow),
        ConnState::Offline {
            retry_at_ms: Some(at),
        } if client.has_auth() => {
            let secs = at.saturating_sub(app.now_ms).div_ceil(1000);
            let why = if app.distrusted.is_some() {
                "certificate not trusted"
            } else {
                "offline"
            };
            (format!("○ {why} · reconnecting in {secs} s"), Color::Red)
        }
        ConnState::Offline { .. } if !client.has_auth() => {
            (format!("○ not logged in to {}", app.server), Color::Yellow)
        }
        ConnState::Offline { .. } => ("○ offline".into(), Color::Red),
    }
}

fn status_bar<C: Cache>(f: &mut Frame, area: Rect, app: &App, client: &Client<C>) {
    let (conn, colour) = connection_status(app, client);
    let mut spans = vec![Span::styled(conn, Style::new().fg(colour).bold())];
    let queued = client.outbox().len();
    if queued > 0 {
        spans.push(Span::raw(format!(
            " · {queued} queued message{}",
            if queued == 1 { "" } else { "s" }
        )));
    }
    if client.me().is_some_and(|u| u.invisible) {
        spans.push(Span::raw(" · invisible"));
    }
    // Files on their way: the first one's progress, and how many more.
    let moving: Vec<_> = client.transfers().iter().filter(|t| t.active()).collect();
    if let Some(t) = moving.first() {
        spans.push(Span::styled(
            format!(" · {}", t.status()),
            Style::new().fg(Color::Cyan),
        ));
        if moving.len() > 1 {
            spans.push(Span::raw(format!(" (+{} more)", moving.len() - 1)));
        }
    }
    if matches!(app.screen, Screen::Chat) {
        spans.push(Span::styled(
            " · /help · Ctrl+N/P switch · PgUp/PgDn scroll",
            Style::new().dim(),
        ));
    }
    f.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().bg(Color::Black)),
        area,
    );
}

/// Rows `lines` take inside a bordered box `width` wide, once wrapped.
fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let inner = width.saturating_sub(2) as usize;
    lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrap(&text, inner).len() as u16
        })
        .sum()
}

/// A bordered box of text in the middle of `area`, up to 100 columns
/// wide and as tall as its wrapped lines.
fn boxed(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, border: Style) {
    let r = popup(
        f,
        area,
        100,
        wrapped_height(&lines, area.width.min(100)) + 2,
    );
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title).border_style(border)),
        r,
    );
}

/// A box of `width` × `height` in the middle of `area`, cleared.
fn popup(f: &mut Frame, area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, r);
    r
}

fn help(f: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(usage, what)| {
            Line::from(vec![
                Span::styled(format!("{usage:<38}"), Style::new().bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        ":shortcode: becomes an emoji when sent; Tab completes shortcodes, #channels, names, /commands.",
    ));
    lines.push(Line::raw(
        "Ctrl+N/Ctrl+P or Alt+↑/↓ switch conversation; PgUp/PgDn or the wheel scroll; ↑/↓ recall.",
    ));
    lines.push(Line::styled("any key closes this", Style::new().dim()));
    boxed(f, area, " Commands ", lines, Style::new());
}

fn trust(f: &mut Frame, area: Rect, server: &str, t: &TrustError) {
    let (title, lines, style) = match t {
        TrustError::Unknown { fingerprint } => (
            " New server certificate ",
            vec![
                Line::raw(format!(
                    "{server} presented a certificate no known authority signed."
                )),
                Line::raw(""),
                Line::raw("SHA-256 fingerprint:"),
                Line::styled(fingerprint.clone(), Style::new().bold()),
                Line::raw(""),
                Line::raw("Check it with the server's operator (`confab serve` prints it)."),
                Line::raw(""),
                Line::styled(
                    "Trust it and remember it for this server? [y/n]",
                    Style::new().bold(),
                ),
            ],
            Style::new().fg(Color::Yellow),
        ),
        TrustError::Changed {
            pinned,
            fingerprint,
        } => (
            " WARNING: SERVER CERTIFICATE CHANGED ",
            vec![
                Line::styled(
                    format!("The certificate of {server} has CHANGED since you trusted it."),
                    Style::new().bold(),
                ),
                Line::raw(
                    "Someone may be intercepting the connection, or the server was reinstalled.",
                ),
                Line::raw(""),
                Line::raw("The fingerprint you trusted:"),
                Line::raw(pinned.clone()),
                Line::raw("The one it shows now:"),
                Line::styled(fingerprint.clone(), Style::new().bold()),
                Line::raw(""),
                Line::raw("Not connecting. If the operator confirms the change, run once:"),
                Line::raw(format!("confab chat {server} --trust {fingerprint}")),
                Line::styled("Esc closes this", Style::new().dim()),
            ],
            Style::new().fg(Color::Red),
        ),
    };
    boxed(f, area, title, lines, style);
}

/// Friends with presence, requests both ways and blocks, as they are now.
fn friends<C: Cache>(f: &mut Frame, area: Rect, client: &Client<C>) {
    let fr = client.friends();
    let online = *client.state() == ConnState::Online;
    let mut lines = Vec::new();
    if fr.friends.is_empty() {
        lines.push(Line::styled("no friends yet", Style::new().dim()));
    }
    for friend in &fr.friends {
        let (dot, style) = if friend.online && online {
            ("●", Style::new().fg(Color::Green))
        } else {
            ("○", Style::new().fg(Color::DarkGray))
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{dot} "), style),
            Span::raw(friend.name.clone()),
        ]));
    }
    let section = |lines: &mut Vec<Line>, title: &str, names: &[String], hint: &str| {
        if !names.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled(format!("{title}: "), Style::new().bold()),
                Span::raw(names.join(", ")),
            ]));
            lines.push(Line::styled(hint.to_owned(), Style::new().dim()));
        }
    };
    section(
        &mut lines,
        "Asking you",
        &fr.incoming,
        "/friend accept NAME · /friend decline NAME",
    );
    section(&mut lines, "You asked", &fr.outgoing, "/friend cancel NAME");
    section(&mut lines, "Blocked", &fr.blocked, "/unblock NAME");
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "/friend NAME asks someone · /msg NAME writes · any key closes this",
        Style::new().dim(),
    ));
    boxed(f, area, " Friends ", lines, Style::new());
}

fn passwd(f: &mut Frame, area: Rect, form: &PasswdForm) {
    let r = popup(f, area, 60, 9);
    let labels = ["current password", "new password", "new, again"];
    let mut lines: Vec<Line> = labels
        .iter()
        .zip(&form.fields)
        .enumerate()
        .map(|(i, (label, input))| {
            let dots = "•".repeat(input.text().chars().count());
            let style = if i == form.field {
                Style::new().reversed()
            } else {
                Style::new().underlined()
            };
            Line::from(vec![
                Span::raw(format!("{label:>17}: ")),
                Span::styled(format!("{dots:<30}"), style),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(Color::Red)));
    }
    lines.push(Line::styled(
        "Enter: next / change · Esc: cancel",
        Style::new().dim(),
    ));
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Change password ")),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("hello world", 20), vec!["hello world"]);
        assert_eq!(wrap("hello world again", 11), vec!["hello world", "again"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        assert_eq!(wrap("🎉🎉🎉", 4), vec!["🎉🎉", "🎉"]);
        assert_eq!(wrap("", 4), vec![""]);
    }

    #[test]
    fn skips_columns_not_bytes() {
        assert_eq!(skip_width("héllo", 2), "llo");
        assert_eq!(skip_width("🎉ab", 2), "ab");
        assert_eq!(skip_width("ab", 0), "ab");
    }
}
