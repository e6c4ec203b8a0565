//! Browser-side arithmetic that needs no browser, with host tests. (The
//! timeline itself, grouping by day and sender, is the client core's:
//! `confab_client::timeline`.)

/// Byte offset in `s` of the UTF-16 offset `units` (what the DOM reports).
pub fn utf16_to_byte(s: &str, units: usize) -> usize {
    let mut count = 0;
    for (i, c) in s.char_indices() {
        if count >= units {
            return i;
        }
        count += c.len_utf16();
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_offsets_become_byte_offsets() {
        let s = "a🎉é b";
        assert_eq!(utf16_to_byte(s, 0), 0);
        assert_eq!(utf16_to_byte(s, 1), 1);
        assert_eq!(
            utf16_to_byte(s, 3),
            5,
            "the emoji is two UTF-16 units, four bytes"
        );
        assert_eq!(utf16_to_byte(s, 4), 7);
        assert_eq!(utf16_to_byte(s, 99), s.len());
    }
}
