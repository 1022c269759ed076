//! Mapping Pixiv tags to Danbooru character names (`tag_character`).
//!
//! The alias table comes from a SQLite `character_tags(id, name, danbooru_post_count,
//! created_at, other_names)` table (as PixivDatasetUtilsForImageScoring builds), or a CSV/JSON
//! file with the same fields. A character matches when its name or any of its comma-separated
//! `other_names` equals a Pixiv tag exactly.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{DatasetError, Result};

/// Cap on a CSV or JSON alias table: 256 MiB (Danbooru lists some 200 000 characters, a
/// few tens of megabytes). It must be a regular file.
pub const MAX_ALIAS_TABLE_BYTES: u64 = 256 << 20;

/// `tag_character` of an artwork with no known character.
pub const ORIGINAL: &str = "オリジナル";

/// One character and its aliases.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CharacterAlias {
    /// Danbooru tag name, e.g. `hatsune_miku`.
    pub name: String,
    /// Comma-separated other names (Pixiv spellings), e.g. `初音ミク,ミク`.
    #[serde(default)]
    pub other_names: Option<String>,
    /// Danbooru post count; breaks ties when two characters share an alias.
    #[serde(default)]
    pub danbooru_post_count: Option<i64>,
}

/// Alias → character name lookup.
#[derive(Debug, Clone, Default)]
pub struct CharacterTable {
    by_alias: HashMap<String, (String, i64)>,
}

impl CharacterTable {
    /// Builds the lookup; when an alias belongs to several characters the one with more
    /// Danbooru posts wins (then the smaller name, so the result does not depend on order).
    pub fn new(aliases: impl IntoIterator<Item = CharacterAlias>) -> Self {
        let mut by_alias: HashMap<String, (String, i64)> = HashMap::new();
        for a in aliases {
            let posts = a.danbooru_post_count.unwrap_or(0);
            let others = a.other_names.as_deref().unwrap_or("");
            let names = std::iter::once(a.name.as_str()).chain(others.split(','));
            for alias in names.map(str::trim).filter(|s| !s.is_empty()) {
                let candidate = (a.name.clone(), posts);
                by_alias
                    .entry(alias.to_string())
                    .and_modify(|cur| {
                        if (posts, std::cmp::Reverse(&a.name)) > (cur.1, std::cmp::Reverse(&cur.0))
                        {
                            *cur = candidate.clone();
                        }
                    })
                    .or_insert(candidate);
            }
        }
        Self { by_alias }
    }

    /// Number of aliases known.
    pub fn len(&self) -> usize {
        self.by_alias.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_alias.is_empty()
    }

    /// Every `(alias, name)` pair, sorted (for storing and fingerprinting).
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> =
            self.by_alias.iter().map(|(a, (n, _))| (a.clone(), n.clone())).collect();
        v.sort();
        v
    }

    /// Rebuilds a table from stored `(alias, name)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self { by_alias: pairs.into_iter().map(|(a, n)| (a, (n, 0))).collect() }
    }

    /// Characters matched by `tags`, in tag order without repeats, comma-joined; [`ORIGINAL`]
    /// when none matches.
    pub fn tag_character<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> String {
        let mut found: Vec<&str> = Vec::new();
        for tag in tags {
            if let Some((name, _)) = self.by_alias.get(tag)
                && !found.contains(&name.as_str())
            {
                found.push(name);
            }
        }
        if found.is_empty() { ORIGINAL.to_string() } else { found.join(",") }
    }

    /// Loads an alias table from `.sqlite3`/`.db`/`.sqlite` (table `character_tags`), `.csv` or
    /// `.json` (an array of objects).
    pub fn load(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let bad = |reason: String| DatasetError::Aliases { path: path.to_path_buf(), reason };
        let aliases: Vec<CharacterAlias> = match ext.as_str() {
            "json" => {
                let text = animescore_fs::read_regular_to_string(path, MAX_ALIAS_TABLE_BYTES)
                    .map_err(|e| DatasetError::io(path, e))?;
                serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?
            }
            "csv" => {
                let bytes = animescore_fs::read_regular(path, MAX_ALIAS_TABLE_BYTES)
                    .map_err(|e| DatasetError::io(path, e))?;
                let mut reader = csv::Reader::from_reader(bytes.as_slice());
                reader
                    .deserialize()
                    .enumerate()
                    .map(|(i, r)| r.map_err(|e| bad(format!("row {}: {e}", i + 2))))
                    .collect::<Result<_>>()?
            }
            "sqlite3" | "sqlite" | "db" => {
                let conn = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .map_err(|e| DatasetError::sqlite(path, e))?;
                let mut stmt = conn
                    .prepare("SELECT name, other_names, danbooru_post_count FROM character_tags")
                    .map_err(|e| DatasetError::sqlite(path, e))?;
                stmt.query_map([], |row| {
                    Ok(CharacterAlias {
                        name: row.get(0)?,
                        other_names: row.get(1)?,
                        danbooru_post_count: row.get(2)?,
                    })
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| DatasetError::sqlite(path, e))?
            }
            other => {
                return Err(bad(format!(
                    "unknown extension `{other}` (expected .sqlite3, .csv or .json)"
                )));
            }
        };
        Ok(Self::new(aliases))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(name: &str, others: &str, posts: i64) -> CharacterAlias {
        CharacterAlias {
            name: name.into(),
            other_names: Some(others.into()),
            danbooru_post_count: Some(posts),
        }
    }

    #[test]
    fn matches_exact_aliases_in_tag_order() {
        let t = CharacterTable::new([
            alias("hatsune_miku", "初音ミク,ミク", 10),
            alias("kagamine_rin", "鏡音リン", 5),
        ]);
        assert_eq!(t.tag_character(["鏡音リン", "初音ミク", "ミク"]), "kagamine_rin,hatsune_miku");
        assert_eq!(t.tag_character(["初音ミクちゃん"]), ORIGINAL);
        assert_eq!(t.tag_character(["hatsune_miku"]), "hatsune_miku");
    }

    #[test]
    fn shared_alias_goes_to_the_bigger_character() {
        let t = CharacterTable::new([alias("a", "x", 1), alias("b", "x", 9)]);
        assert_eq!(t.tag_character(["x"]), "b");
        let t = CharacterTable::new([alias("b", "x", 9), alias("a", "x", 1)]);
        assert_eq!(t.tag_character(["x"]), "b");
    }
}
