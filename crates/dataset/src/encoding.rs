//! Encodings of the metadata targets: the derived AI flag and the sanity class.

/// Tag substrings that mark an AI illustration in the original's SQL (`LIKE '%…%'`).
pub const AI_TAG_PATTERNS: [&str; 4] = ["AIイラスト", "Diffusion", "Novel", "midjourney"];

/// The original's AI rule: `illust_ai_type = 2` or the comma-joined tags contain one of
/// [`AI_TAG_PATTERNS`], with SQLite `LIKE` semantics (substring, ASCII letters case-insensitive,
/// other characters exact).
pub fn is_ai(illust_ai_type: Option<i64>, tags_joined: &str) -> bool {
    if illust_ai_type == Some(2) {
        return true;
    }
    let haystack = tags_joined.as_bytes();
    AI_TAG_PATTERNS
        .iter()
        .any(|p| haystack.windows(p.len()).any(|window| window.eq_ignore_ascii_case(p.as_bytes())))
}

/// The sanity classes the models predict.
pub const SANITY_LEVELS: [i64; 3] = [2, 4, 6];

/// Class index of a Pixiv `sanity_level`: 2 → 0 (general), 4 → 1 (sensitive), 6 or above → 2
/// (NSFW; later data uses 8 for R-18). Other values (0, odd numbers) have no class.
pub fn sanity_class(level: i64) -> Option<usize> {
    match level {
        2 => Some(0),
        4 => Some(1),
        l if l >= 6 => Some(2),
        _ => None,
    }
}

/// The `sanity_level` a class index stands for.
pub fn sanity_level(class: usize) -> Option<i64> {
    SANITY_LEVELS.get(class).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ai_rule_follows_sqlite_like() {
        assert!(is_ai(Some(2), ""));
        assert!(!is_ai(Some(1), "オリジナル,女の子"));
        assert!(is_ai(Some(0), "a,StableDIFFUSION"));
        assert!(is_ai(None, "NovelAI"));
        assert!(is_ai(None, "aiイラスト"));
        // LIKE folds ASCII only: full-width letters stay distinct.
        assert!(!is_ai(None, "ＡＩイラスト"));
        assert!(is_ai(None, "MidJourney,x"));
    }

    #[test]
    fn sanity_classes() {
        assert_eq!([2, 4, 6, 8, 0].map(sanity_class), [Some(0), Some(1), Some(2), Some(2), None]);
        assert_eq!(sanity_level(1), Some(4));
    }
}
