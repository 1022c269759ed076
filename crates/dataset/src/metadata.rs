//! gallery-dl's Pixiv metadata (`--write-metadata`), parsed leniently.
//!
//! gallery-dl's output varies with its version and options: tags are plain strings (the default
//! `tags: japanese`) or `{name, translated_name}` objects (`tags: original`), fields come and go,
//! dates can be invalid markers. Anything missing or null becomes `None`; unknown keys are
//! ignored. Only values we cannot trust (a count that is text, negative or fractional, a tag that
//! is a number) reject the record, with the file and the field named.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

use crate::error::{DatasetError, Result};

/// Metadata files above this size are rejected unread: real ones are a few kilobytes.
pub const MAX_METADATA_BYTES: u64 = 4 * 1024 * 1024;
/// Nesting deeper than this is rejected (real files nest three levels).
const MAX_DEPTH: usize = 64;

/// One tag, as gallery-dl wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    /// The Pixiv tag (usually Japanese).
    pub name: String,
    /// Pixiv's translation, when gallery-dl wrote tags as objects and one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translated_name: Option<String>,
}

/// The fields of one metadata file that animescore uses.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PixivMetadata {
    /// Pixiv artwork id.
    pub id: Option<i64>,
    /// Artwork title.
    pub title: Option<String>,
    /// Pixiv's `type` (`illust`, `manga`, `ugoira`).
    pub kind: Option<String>,
    /// Pixiv's `restrict` flag (0 public).
    pub restrict: Option<i64>,
    /// The artist's Pixiv user id.
    pub user_id: Option<i64>,
    /// The artist's display name.
    pub user_name: Option<String>,
    /// The artist's account name.
    pub user_account: Option<String>,
    /// Tags in file order, exactly (commas inside a tag are kept).
    pub tags: Vec<Tag>,
    /// Drawing tools the artist listed.
    pub tools: Vec<String>,
    /// `create_date` converted to UTC.
    pub create_date: Option<NaiveDateTime>,
    /// Pages of the artwork.
    pub page_count: Option<i64>,
    /// Width of the page in pixels.
    pub width: Option<i64>,
    /// Height of the page in pixels.
    pub height: Option<i64>,
    /// Pixiv's content rating: 2 (all ages), 4, 6 (R-18 and above).
    pub sanity_level: Option<i64>,
    /// Pixiv's explicit-content flag (0 none, 1 R-18, 2 R-18G).
    pub x_restrict: Option<i64>,
    /// View count when downloaded.
    pub total_view: Option<i64>,
    /// Bookmark count when downloaded.
    pub total_bookmarks: Option<i64>,
    /// Whether the downloading account bookmarked it.
    pub is_bookmarked: Option<bool>,
    /// Whether the artwork was visible.
    pub visible: Option<bool>,
    /// Whether the downloading account muted it.
    pub is_muted: Option<bool>,
    /// Pixiv's AI flag (2 = AI-generated).
    pub illust_ai_type: Option<i64>,
    /// Pixiv's book layout style.
    pub illust_book_style: Option<i64>,
    /// 0-based page index.
    pub num: Option<i64>,
    /// gallery-dl's `date` (naive UTC); `None` for invalid markers such as `[Invalid DateTime]`.
    pub date: Option<NaiveDateTime>,
    /// gallery-dl's rating text (`General`, `R-18`, …).
    pub rating: Option<String>,
    /// gallery-dl's file-name suffix.
    pub suffix: Option<String>,
    /// gallery-dl's category (`pixiv`).
    pub category: Option<String>,
    /// gallery-dl's subcategory (`artworks`, `user`, …).
    pub subcategory: Option<String>,
    /// The image's download address.
    pub url: Option<String>,
    /// Date taken from the image address.
    pub date_url: Option<String>,
    /// gallery-dl's file name (without extension).
    pub filename: Option<String>,
    /// The downloaded file's extension.
    pub extension: Option<String>,
}

impl PixivMetadata {
    /// Parses one metadata file's bytes; `path` only labels errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            DatasetError::field(path, "(file)", format!("not UTF-8 (byte {})", e.valid_up_to()))
        })?;
        // serde_json's own recursion limit (128) guards the parser; we check depth again below
        // so that absurd nesting inside an ignored key is reported rather than kept.
        let value: Value = serde_json::from_str(text)
            .map_err(|e| DatasetError::Json { path: path.to_path_buf(), message: e.to_string() })?;
        if depth(&value) > MAX_DEPTH {
            return Err(DatasetError::field(
                path,
                "(file)",
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let Value::Object(obj) = value else {
            return Err(DatasetError::field(path, "(file)", "top level is not a JSON object"));
        };
        let f = Fields { path, obj: &obj };
        let user = match obj.get("user") {
            Some(Value::Object(u)) => Some(u),
            None | Some(Value::Null) => None,
            Some(other) => return Err(f.wrong("user", "an object", other)),
        };
        let uf = user.map(|u| Fields { path, obj: u });
        Ok(Self {
            id: f.count("id")?,
            title: f.text("title")?,
            kind: f.text("type")?,
            restrict: f.int("restrict")?,
            user_id: uf.as_ref().map(|u| u.int("id")).transpose()?.flatten(),
            user_name: uf.as_ref().map(|u| u.text("name")).transpose()?.flatten(),
            user_account: uf.as_ref().map(|u| u.text("account")).transpose()?.flatten(),
            tags: f.tags()?,
            tools: f.strings("tools")?,
            create_date: f.date("create_date")?,
            page_count: f.count("page_count")?,
            width: f.count("width")?,
            height: f.count("height")?,
            sanity_level: f.int("sanity_level")?,
            x_restrict: f.int("x_restrict")?,
            total_view: f.count("total_view")?,
            total_bookmarks: f.count("total_bookmarks")?,
            is_bookmarked: f.boolean("is_bookmarked")?,
            visible: f.boolean("visible")?,
            is_muted: f.boolean("is_muted")?,
            illust_ai_type: f.int("illust_ai_type")?,
            illust_book_style: f.int("illust_book_style")?,
            num: f.count("num")?,
            date: f.date("date")?,
            rating: f.text("rating")?,
            suffix: f.text("suffix")?,
            category: f.text("category")?,
            subcategory: f.text("subcategory")?,
            url: f.text("url")?,
            date_url: f.text("date_url")?,
            filename: f.text("filename")?,
            extension: f.text("extension")?,
        })
    }

    /// Tag names joined with commas, as the original's `tags` column (lossy when a tag itself
    /// contains a comma: see `tags_json` in the index for the exact list).
    pub fn tags_joined(&self) -> String {
        join_tags(self.tags.iter().map(|t| t.name.as_str()))
    }

    /// The derived AI flag of the original's rule.
    pub fn is_ai(&self) -> bool {
        crate::encoding::is_ai(self.illust_ai_type, &self.tags_joined())
    }
}

/// Joins tag names with commas.
pub fn join_tags<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(",")
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed access to one JSON object's fields, with errors naming the file and field.
struct Fields<'a> {
    path: &'a Path,
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn wrong(&self, field: &str, expected: &str, found: &Value) -> DatasetError {
        let shown: String = found.to_string().chars().take(40).collect();
        DatasetError::field(
            self.path,
            field,
            format!("expected {expected}, found {} ({shown})", type_name(found)),
        )
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn int(&self, field: &str) -> Result<Option<i64>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None if n.is_f64() => {
                    Err(self.wrong(field, "an integer", &Value::Number(n.clone())))
                }
                None => Err(DatasetError::field(self.path, field, format!("{n} is out of range"))),
            },
            Some(other) => Err(self.wrong(field, "an integer", other)),
        }
    }

    /// A non-negative integer (counts, sizes, ids, page numbers).
    fn count(&self, field: &str) -> Result<Option<i64>> {
        match self.int(field)? {
            Some(v) if v < 0 => {
                Err(DatasetError::field(self.path, field, format!("{v} is negative")))
            }
            other => Ok(other),
        }
    }

    fn text(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // Numbers where text is expected (e.g. `suffix: 0`) are harmless: keep their text.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.wrong(field, "a string", other)),
        }
    }

    fn boolean(&self, field: &str) -> Result<Option<bool>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Some(n.as_i64() == Some(1)))
            }
            Some(other) => Err(self.wrong(field, "a boolean", other)),
        }
    }

    /// A date: `YYYY-MM-DD HH:MM:SS` (naive UTC) or ISO-8601 with an offset (converted to UTC).
    /// Text that is no date (gallery-dl's `[Invalid DateTime]`) is treated as missing.
    fn date(&self, field: &str) -> Result<Option<NaiveDateTime>> {
        Ok(self.text(field)?.and_then(|s| parse_date(&s)))
    }

    fn strings(&self, field: &str) -> Result<Vec<String>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.wrong(&format!("{field}[{i}]"), "a string", other)),
                })
                .collect(),
            Some(other) => Err(self.wrong(field, "an array", other)),
        }
    }

    fn tags(&self) -> Result<Vec<Tag>> {
        let items = match self.get("tags") {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(self.wrong("tags", "an array", other)),
        };
        let mut tags = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = format!("tags[{i}]");
            let tag = match item {
                Value::String(s) => Tag { name: s.clone(), translated_name: None },
                Value::Object(o) => {
                    let inner = Fields { path: self.path, obj: o };
                    let name = inner.text("name")?.ok_or_else(|| {
                        DatasetError::field(self.path, format!("{field}.name"), "missing")
                    })?;
                    let translated_name = inner.text("translated_name")?;
                    Tag { name, translated_name }
                }
                other => {
                    return Err(self.wrong(
                        &field,
                        "a string or a {name, translated_name} object",
                        other,
                    ));
                }
            };
            // Empty tags carry nothing and would create empty vocabulary entries.
            if !tag.name.is_empty() {
                tags.push(tag);
            }
        }
        Ok(tags)
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` (naive UTC) or RFC 3339 with an offset (to naive UTC).
pub fn parse_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    // Naive forms: ours, Python's `str(datetime)` (with microseconds) and ISO without offset.
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Some(d);
        }
    }
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_utc())
}

/// Formats a date as the index stores it: `YYYY-MM-DD HH:MM:SS`.
pub fn format_date(d: &NaiveDateTime) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PixivMetadata> {
        PixivMetadata::parse(Path::new("x.json"), text.as_bytes())
    }

    #[test]
    fn tags_as_strings_or_objects() {
        let a = parse(r#"{"tags": ["オリジナル", "a,b"]}"#).unwrap();
        assert_eq!(a.tags[1].name, "a,b");
        assert_eq!(a.tags_joined(), "オリジナル,a,b");
        let b = parse(r#"{"tags": [{"name": "少女", "translated_name": "girl"}, {"name": "x", "translated_name": null}]}"#)
            .unwrap();
        assert_eq!(b.tags[0].translated_name.as_deref(), Some("girl"));
        assert_eq!(b.tags[1], Tag { name: "x".into(), translated_name: None });
    }

    #[test]
    fn dates_in_every_form() {
        let m =
            parse(r#"{"date": "2023-05-01 12:00:00", "create_date": "2023-05-01T21:00:00+09:00"}"#)
                .unwrap();
        assert_eq!(m.date, m.create_date);
        let m = parse(r#"{"date": "[Invalid DateTime]", "create_date": null}"#).unwrap();
        assert_eq!((m.date, m.create_date), (None, None));
        let m = parse(
            r#"{"date": "2023-05-01 12:00:00.250000", "create_date": "2023-05-01T12:00:00"}"#,
        )
        .unwrap();
        assert_eq!(m.date.unwrap().and_utc().timestamp_millis() % 1000, 250);
        assert_eq!(m.create_date.unwrap().to_string(), "2023-05-01 12:00:00");
        let m = parse(r#"{"date": "[Invalid DateTime]", "create_date": null}"#).unwrap();
        assert_eq!((m.date, m.create_date), (None, None));
    }

    #[test]
    fn missing_null_and_unknown_keys_are_fine() {
        let m = parse(r#"{"id": 5, "series": null, "hash": "abc", "count": 3, "total_view": 0}"#)
            .unwrap();
        assert_eq!((m.id, m.total_view, m.total_bookmarks), (Some(5), Some(0), None));
    }

    #[test]
    fn bad_values_name_the_field() {
        for (text, field) in [
            (r#"{"total_view": "many"}"#, "total_view"),
            (r#"{"total_bookmarks": -1}"#, "total_bookmarks"),
            (r#"{"total_view": 1.5}"#, "total_view"),
            (r#"{"total_view": 99999999999999999999}"#, "total_view"),
            (r#"{"tags": ["a", 3]}"#, "tags[1]"),
            (r#"{"user": 3}"#, "user"),
        ] {
            match parse(text) {
                Err(DatasetError::Field { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(parse("{\"id\": 1"), Err(DatasetError::Json { .. })));
        assert!(matches!(parse("[1]"), Err(DatasetError::Field { .. })));
        assert!(matches!(
            PixivMetadata::parse(Path::new("x"), b"{\"t\": \"\xff\"}"),
            Err(DatasetError::Field { .. })
        ));
        assert!(parse("\u{feff}{\"id\": 1}").is_ok());
    }
}
