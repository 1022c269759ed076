//! Tag vocabularies for the multi-label tag head.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::characters::ORIGINAL;
use crate::db::IllustRecord;

/// An ordered list of tags; a tag's position is its label index.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TagVocabulary {
    /// The tags, most frequent first.
    pub tags: Vec<String>,
}

impl TagVocabulary {
    /// The `k` most frequent Pixiv tags with at least `min_count` artworks (ties broken by
    /// name, so the result is deterministic).
    pub fn top_k<'a>(
        records: impl IntoIterator<Item = &'a IllustRecord>,
        k: usize,
        min_count: usize,
    ) -> Self {
        Self::from_counts(
            records.into_iter().flat_map(|r| r.tags.iter().map(String::as_str)),
            k,
            min_count,
        )
    }

    /// The `k` most frequent character names (`tag_character`, split on commas), without
    /// [`ORIGINAL`].
    pub fn characters<'a>(
        records: impl IntoIterator<Item = &'a IllustRecord>,
        k: usize,
        min_count: usize,
    ) -> Self {
        Self::from_counts(
            records
                .into_iter()
                .flat_map(|r| r.tag_character.split(','))
                .filter(|c| !c.is_empty() && *c != ORIGINAL),
            k,
            min_count,
        )
    }

    fn from_counts<'a>(items: impl Iterator<Item = &'a str>, k: usize, min_count: usize) -> Self {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for item in items {
            *counts.entry(item).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> =
            counts.into_iter().filter(|&(_, n)| n >= min_count.max(1)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        Self { tags: ranked.into_iter().take(k).map(|(t, _)| t.to_string()).collect() }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether there is no label.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Multi-hot vector of the given tags (unknown tags ignored).
    pub fn encode<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> Vec<f32> {
        let index: HashMap<&str, usize> =
            self.tags.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
        let mut v = vec![0.0; self.tags.len()];
        for t in tags {
            if let Some(&i) = index.get(t) {
                v[i] = 1.0;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tags: &[&str], character: &str) -> IllustRecord {
        IllustRecord {
            filename: "1_p0".into(),
            id: Some(1),
            image_path: None,
            bookmarks: Some(1),
            views: Some(1),
            date: None,
            sanity_level: Some(2),
            illust_ai_type: Some(0),
            ai_flag: false,
            tags: tags.iter().map(|s| s.to_string()).collect(),
            tag_character: character.into(),
        }
    }

    #[test]
    fn top_k_is_by_frequency_then_name() {
        let rs = [rec(&["b", "a"], ORIGINAL), rec(&["b", "c"], "miku,rin"), rec(&["a"], "miku")];
        let v = TagVocabulary::top_k(&rs, 2, 1);
        assert_eq!(v.tags, ["a", "b"]);
        assert_eq!(v.encode(["b", "zzz"]), [0.0, 1.0]);
        assert_eq!(TagVocabulary::characters(&rs, 10, 1).tags, ["miku", "rin"]);
        assert_eq!(TagVocabulary::top_k(&rs, 10, 2).tags, ["a", "b"]);
    }
}
