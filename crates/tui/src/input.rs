//! A one-line text editor: the message input and the login form's fields.

use unicode_width::UnicodeWidthStr;

#[derive(Debug, Clone, Default)]
pub struct Input {
    text: String,
    /// Cursor position, a byte offset on a char boundary.
    cursor: usize,
}

impl Input {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn set(&mut self, text: &str) {
        self.text = text.to_owned();
        self.cursor = self.text.len();
    }

    /// Empties the input and returns what it held.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    pub fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    pub fn insert_str(&mut self, s: &str) {
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
    }

    pub fn backspace(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
            self.text.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
        }
    }

    pub fn right(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.cursor += c.len_utf8();
        }
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Ctrl+U: deletes everything before the cursor.
    pub fn kill_to_start(&mut self) {
        self.text.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Ctrl+W: deletes the word before the cursor.
    pub fn kill_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| {
            i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
        });
        self.text.drain(start..self.cursor);
        self.cursor = start;
    }

    /// The word the cursor is at the end of: its start and text.
    pub fn word_before_cursor(&self) -> (usize, &str) {
        let before = &self.text[..self.cursor];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        (start, &before[start..])
    }

    /// Replaces `start..cursor` with `with`, leaving the cursor after it.
    pub fn replace_before_cursor(&mut self, start: usize, with: &str) {
        self.text.replace_range(start..self.cursor, with);
        self.cursor = start + with.len();
    }

    /// Display width of the text before the cursor (where to draw it).
    pub fn cursor_column(&self) -> usize {
        self.text[..self.cursor].width()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_at_the_cursor_with_wide_characters() {
        let mut i = Input::default();
        for c in "héllo 🎉 wörld".chars() {
            i.insert(c);
        }
        i.left();
        i.left();
        i.backspace();
        assert_eq!(i.text(), "héllo 🎉 wöld");
        i.home();
        i.delete();
        assert_eq!(i.text(), "éllo 🎉 wöld");
        i.end();
        i.kill_word();
        assert_eq!(i.text(), "éllo 🎉 ");
        assert_eq!(i.cursor_column(), "éllo ".len() - 1 + 2 + 1);
        i.kill_to_start();
        assert_eq!(i.text(), "");
    }

    #[test]
    fn finds_and_replaces_the_word_before_the_cursor() {
        let mut i = Input::default();
        i.set("hi :tad");
        assert_eq!(i.word_before_cursor(), (3, ":tad"));
        i.replace_before_cursor(3, ":tada: ");
        assert_eq!(i.text(), "hi :tada: ");
        assert_eq!(i.word_before_cursor(), (10, ""));
    }
}
