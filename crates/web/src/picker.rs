//! The emoji picker's data: categories, search and the recently used list,
//! from the same `emojis` crate as `:shortcode:` completion.

use emojis::{Emoji, Group, SkinTone};

/// Categories in the picker, with a label and the emoji on their tab.
pub const GROUPS: [(Group, &str, &str); 9] = [
    (Group::SmileysAndEmotion, "Smileys & emotion", "😀"),
    (Group::PeopleAndBody, "People & body", "👋"),
    (Group::AnimalsAndNature, "Animals & nature", "🐱"),
    (Group::FoodAndDrink, "Food & drink", "🍕"),
    (Group::TravelAndPlaces, "Travel & places", "✈️"),
    (Group::Activities, "Activities", "⚽"),
    (Group::Objects, "Objects", "💡"),
    (Group::Symbols, "Symbols", "❤️"),
    (Group::Flags, "Flags", "🏁"),
];

/// How many recently used emoji are remembered.
pub const RECENT_MAX: usize = 24;

fn plain(e: &&'static Emoji) -> bool {
    e.skin_tone().is_none_or(|t| t == SkinTone::Default)
}

/// The emoji of a category, without skin-tone variants.
pub fn group(g: Group) -> Vec<&'static Emoji> {
    g.emojis().filter(plain).collect()
}

/// Emoji whose name or a shortcode contains every word of `query`,
/// shortcode-prefix matches first.
pub fn search(query: &str, max: usize) -> Vec<&'static Emoji> {
    let words: Vec<String> = query
        .split_whitespace()
        .map(|w| w.trim_matches(':').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<(bool, &'static Emoji)> = emojis::iter()
        .filter(plain)
        .filter(|e| {
            let name = e.name().to_lowercase();
            words.iter().all(|w| {
                name.contains(w.as_str()) || e.shortcodes().any(|c| c.contains(w.as_str()))
            })
        })
        .map(|e| (!e.shortcodes().any(|c| c.starts_with(words[0].as_str())), e))
        .collect();
    found.sort_by_key(|(later, _)| *later);
    found.into_iter().map(|(_, e)| e).take(max).collect()
}

/// The recently used list (stored as the emoji joined by spaces) with `used`
/// moved to the front.
pub fn remember(stored: &str, used: &str) -> String {
    let mut list: Vec<&str> = vec![used];
    list.extend(stored.split(' ').filter(|e| !e.is_empty() && *e != used));
    list.truncate(RECENT_MAX);
    list.join(" ")
}

pub fn recent(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_emoji_and_no_skin_tone_variants() {
        for (g, label, _) in GROUPS {
            let all = group(g);
            assert!(all.len() > 20, "{label}: {}", all.len());
            assert!(all.iter().all(plain), "{label}");
        }
        let people = group(Group::PeopleAndBody);
        assert_eq!(
            people.iter().filter(|e| e.name() == "waving hand").count(),
            1
        );
    }

    #[test]
    fn search_finds_by_name_and_shortcode() {
        let tada = search("tada", 5);
        assert_eq!(tada.first().map(|e| e.as_str()), Some("🎉"));
        let cat = search("cat face", 50);
        assert!(cat.iter().any(|e| e.as_str() == "🐱"), "{cat:?}");
        assert!(search(":thumbsup:", 5).iter().any(|e| e.as_str() == "👍"));
        assert!(search("   ", 5).is_empty());
        assert!(search("no such emoji at all", 5).is_empty());
    }

    #[test]
    fn recently_used_moves_to_the_front_and_is_bounded() {
        let s = remember("", "🎉");
        let s = remember(&s, "👍");
        let s = remember(&s, "🎉");
        assert_eq!(recent(&s), ["🎉", "👍"]);
        let mut s = String::new();
        for e in emojis::iter().take(40) {
            s = remember(&s, e.as_str());
        }
        assert_eq!(recent(&s).len(), RECENT_MAX);
    }
}
