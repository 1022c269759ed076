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
        let mut counter = TagCounter::default();
        for r in records {
            counter.add(r.tags.iter().map(String::as_str));
        }
        counter.vocabulary(k, min_count)
    }

    /// The `k` most frequent character names (`tag_character`, split on commas), without
    /// [`ORIGINAL`].
    pub fn characters<'a>(
        records: impl IntoIterator<Item = &'a IllustRecord>,
        k: usize,
        min_count: usize,
    ) -> Self {
        let mut counter = TagCounter::default();
        for r in records {
            counter.add(r.tag_character.split(',').filter(|c| !c.is_empty() && *c != ORIGINAL));
        }
        counter.vocabulary(k, min_count)
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
        let mut v = vec![0.0; self.tags.len()];
        for i in self.index().positions(tags) {
            v[i] = 1.0;
        }
        v
    }

    /// A lookup table from tag to position: build it once to encode many records.
    pub fn index(&self) -> TagIndex<'_> {
        TagIndex { positions: self.tags.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect() }
    }
}

/// Positions of tags in a [`TagVocabulary`].
#[derive(Debug, Clone)]
pub struct TagIndex<'a> {
    positions: HashMap<&'a str, usize>,
}

impl TagIndex<'_> {
    /// The sorted, distinct positions of the given tags (unknown tags ignored).
    pub fn positions<'t>(&self, tags: impl IntoIterator<Item = &'t str>) -> Vec<usize> {
        let mut found: Vec<usize> =
            tags.into_iter().filter_map(|t| self.positions.get(t).copied()).collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Counts tags one record at a time, so that a vocabulary can be fitted while the records
/// stream past ([`Database::for_each_record`](crate::Database::for_each_record)): memory is
/// bounded by the number of distinct tags, not by the records.
#[derive(Debug, Clone, Default)]
pub struct TagCounter {
    counts: HashMap<String, usize>,
}

impl TagCounter {
    /// Counts the tags of one record.
    pub fn add<'a>(&mut self, tags: impl IntoIterator<Item = &'a str>) {
        for tag in tags {
            match self.counts.get_mut(tag) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(tag.to_owned(), 1);
                }
            }
        }
    }

    /// The `k` most frequent tags seen at least `min_count` times, most frequent first (ties
    /// broken by name, so the result is deterministic).
    pub fn vocabulary(&self, k: usize, min_count: usize) -> TagVocabulary {
        let mut ranked: Vec<(&str, usize)> = self
            .counts
            .iter()
            .filter(|&(_, &n)| n >= min_count.max(1))
            .map(|(t, &n)| (t.as_str(), n))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        TagVocabulary { tags: ranked.into_iter().take(k).map(|(t, _)| t.to_string()).collect() }
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
