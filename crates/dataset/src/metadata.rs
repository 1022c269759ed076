//! gallery-dl's Pixiv metadata (`--write-metadata`), parsed leniently.
//!
//! gallery-dl's output varies with its version and options: tags are plain strings (the default
//! `tags: japanese`) or `{name, translated_name}` objects (`tags: original`), fields come and go,
//! dates can be invalid markers. Anything missing or null becomes `None`; unknown keys are
//! ignored. Only values we cannot trust (a count that is text, negative or fractional, a tag that
//! is a number) reject the record, with the file and the field named.
//!
//! One pass over the bytes: the keys we read are kept as borrowed [`json::Json`] values, the
//! others skipped; then each field is converted with its own rules. A key that repeats takes its
//! last value, as serde_json's `Value` does.

use std::path::Path;

mod json;

use std::fmt;

use chrono::NaiveDateTime;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::date::parse_date;
use crate::error::{DatasetError, Result};
use json::{Json, Skip, TOO_DEEP, Tree};

/// Metadata files above this size are rejected unread: real ones are a few kilobytes.
pub const MAX_METADATA_BYTES: u64 = 4 * 1024 * 1024;

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
        // One check of the whole file costs less than serde_json's check of each string.
        let text = std::str::from_utf8(bytes).map_err(|e| {
            DatasetError::field(path, "(file)", format!("not UTF-8 (byte {})", e.valid_up_to()))
        })?;
        let mut reader = serde_json::Deserializer::from_str(text);
        let document = Document.deserialize(&mut reader).and_then(|d| reader.end().map(|()| d));
        match document {
            Ok(Some(keys)) => Self::from_keys(path, &keys),
            Ok(None) => Err(DatasetError::field(path, "(file)", "top level is not a JSON object")),
            // The depth limit is ours, raised from inside serde_json: name it as a field error.
            Err(e) if e.to_string().starts_with(TOO_DEEP) => {
                Err(DatasetError::field(path, "(file)", TOO_DEEP))
            }
            Err(e) => Err(DatasetError::Json { path: path.to_path_buf(), message: e.to_string() }),
        }
    }

    fn from_keys(path: &Path, keys: &Keys<'_>) -> Result<Self> {
        let f = |key: Key| Field { path, name: Name::Key(key.name()), value: keys.get(key) };
        let user = f(Key::User).object()?;
        let u = |key: &str, name: &'static str| Field {
            path,
            name: Name::Key(name),
            value: user.and_then(|user| user.get(key)),
        };
        Ok(Self {
            id: f(Key::Id).count()?,
            title: f(Key::Title).text()?,
            kind: f(Key::Type).text()?,
            restrict: f(Key::Restrict).int()?,
            user_id: u("id", "user.id").int()?,
            user_name: u("name", "user.name").text()?,
            user_account: u("account", "user.account").text()?,
            tags: f(Key::Tags).tags()?,
            tools: f(Key::Tools).strings()?,
            create_date: f(Key::CreateDate).date()?,
            page_count: f(Key::PageCount).count()?,
            width: f(Key::Width).count()?,
            height: f(Key::Height).count()?,
            sanity_level: f(Key::SanityLevel).int()?,
            x_restrict: f(Key::XRestrict).int()?,
            total_view: f(Key::TotalView).count()?,
            total_bookmarks: f(Key::TotalBookmarks).count()?,
            is_bookmarked: f(Key::IsBookmarked).boolean()?,
            visible: f(Key::Visible).boolean()?,
            is_muted: f(Key::IsMuted).boolean()?,
            illust_ai_type: f(Key::IllustAiType).int()?,
            illust_book_style: f(Key::IllustBookStyle).int()?,
            num: f(Key::Num).count()?,
            date: f(Key::Date).date()?,
            rating: f(Key::Rating).text()?,
            suffix: f(Key::Suffix).text()?,
            category: f(Key::Category).text()?,
            subcategory: f(Key::Subcategory).text()?,
            url: f(Key::Url).text()?,
            date_url: f(Key::DateUrl).text()?,
            filename: f(Key::Filename).text()?,
            extension: f(Key::Extension).text()?,
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

/// Declares the top-level keys the parser reads, once: the enum and its names.
macro_rules! keys {
    ($($key:ident = $name:literal),* $(,)?) => {
        /// A top-level key the parser reads.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Key { $($key),* }

        impl Key {
            const COUNT: usize = [$($name),*].len();

            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Key::$key),)*
                    _ => None,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $(Key::$key => $name,)*
                }
            }
        }
    };
}

keys! {
    Id = "id", Title = "title", Type = "type", Restrict = "restrict", User = "user",
    Tags = "tags", Tools = "tools", CreateDate = "create_date", PageCount = "page_count",
    Width = "width", Height = "height", SanityLevel = "sanity_level", XRestrict = "x_restrict",
    TotalView = "total_view", TotalBookmarks = "total_bookmarks",
    IsBookmarked = "is_bookmarked", Visible = "visible", IsMuted = "is_muted",
    IllustAiType = "illust_ai_type", IllustBookStyle = "illust_book_style", Num = "num",
    Date = "date", Rating = "rating", Suffix = "suffix", Category = "category",
    Subcategory = "subcategory", Url = "url", DateUrl = "date_url", Filename = "filename",
    Extension = "extension",
}

/// The values of the keys we read (the last of each, when one repeats).
struct Keys<'de>([Option<Json<'de>>; Key::COUNT]);

impl<'de> Keys<'de> {
    fn get(&self, key: Key) -> Option<&Json<'de>> {
        self.0[key as usize].as_ref()
    }
}

/// Reads a whole file: `Some(keys)` for an object, `None` for any other top-level value.
struct Document;

impl<'de> DeserializeSeed<'de> for Document {
    type Value = Option<Keys<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document {
    type Value = Option<Keys<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        // Values directly under the top-level object are one container deep.
        let (tree, skip) = (Tree { depth: 1 }, Skip { depth: 1 });
        let mut keys = Keys(std::array::from_fn(|_| None));
        while let Some(key) = map.next_key_seed(KeyName)? {
            match key {
                Some(key) => keys.0[key as usize] = Some(map.next_value_seed(tree)?),
                None => map.next_value_seed(skip)?,
            }
        }
        Ok(Some(keys))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Self::Value, A::Error> {
        Skip { depth: 0 }.visit_seq(seq).map(|()| None)
    }

    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
}

/// Reads a top-level key: which of ours it is, or `None` for a key we skip.
struct KeyName;

impl<'de> DeserializeSeed<'de> for KeyName {
    type Value = Option<Key>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyName {
    type Value = Option<Key>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> std::result::Result<Self::Value, E> {
        Ok(Key::from_name(name))
    }
}

/// A field's name in error messages: `total_view`, `tags[3]`, `tags[3].name`.
#[derive(Debug, Clone, Copy)]
enum Name {
    Key(&'static str),
    Item(&'static str, usize),
    Member(&'static str, usize, &'static str),
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Name::Key(key) => f.write_str(key),
            Name::Item(key, i) => write!(f, "{key}[{i}]"),
            Name::Member(key, i, member) => write!(f, "{key}[{i}].{member}"),
        }
    }
}

/// One field's value (`None` when absent) and the conversions of it, with errors that name
/// the file and the field. `null` counts as absent.
#[derive(Clone, Copy)]
struct Field<'a, 'de> {
    path: &'a Path,
    name: Name,
    value: Option<&'a Json<'de>>,
}

impl<'a, 'de> Field<'a, 'de> {
    fn present(&self) -> Option<&'a Json<'de>> {
        self.value.filter(|v| !matches!(v, Json::Null))
    }

    fn error(&self, reason: impl Into<String>) -> DatasetError {
        DatasetError::field(self.path, self.name.to_string(), reason)
    }

    fn wrong(&self, expected: &str, found: &Json<'_>) -> DatasetError {
        let shown: String = found.to_value().to_string().chars().take(40).collect();
        self.error(format!("expected {expected}, found {} ({shown})", found.type_name()))
    }

    fn int(self) -> Result<Option<i64>> {
        match self.present() {
            None => Ok(None),
            Some(Json::Int(i)) => Ok(Some(*i)),
            Some(Json::UInt(u)) => match i64::try_from(*u) {
                Ok(i) => Ok(Some(i)),
                Err(_) => Err(self.error(format!("{u} is out of range"))),
            },
            Some(other) => Err(self.wrong("an integer", other)),
        }
    }

    /// A non-negative integer (counts, sizes, ids, page numbers).
    fn count(self) -> Result<Option<i64>> {
        match self.int()? {
            Some(v) if v < 0 => Err(self.error(format!("{v} is negative"))),
            other => Ok(other),
        }
    }

    fn text(self) -> Result<Option<String>> {
        match self.present() {
            None => Ok(None),
            Some(Json::Str(s)) => Ok(Some(s.to_string())),
            // Numbers where text is expected (e.g. `suffix: 0`) are harmless: keep their text.
            Some(number @ (Json::Int(_) | Json::UInt(_) | Json::Float(_))) => {
                Ok(json::number_text(number))
            }
            Some(other) => Err(self.wrong("a string", other)),
        }
    }

    fn boolean(self) -> Result<Option<bool>> {
        match self.present() {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(Json::Int(i @ (0 | 1))) => Ok(Some(*i == 1)),
            Some(Json::UInt(u @ (0 | 1))) => Ok(Some(*u == 1)),
            Some(other) => Err(self.wrong("a boolean", other)),
        }
    }

    /// A date: `YYYY-MM-DD HH:MM:SS` (naive UTC) or ISO-8601 with an offset (converted to UTC).
    /// Text that is no date (gallery-dl's `[Invalid DateTime]`) is treated as missing.
    fn date(self) -> Result<Option<NaiveDateTime>> {
        match self.present() {
            Some(Json::Str(s)) => Ok(parse_date(s)),
            _ => Ok(self.text()?.and_then(|s| parse_date(&s))),
        }
    }

    /// An object (`None` when absent).
    fn object(self) -> Result<Option<&'a Json<'de>>> {
        match self.present() {
            None => Ok(None),
            Some(object @ Json::Object(_)) => Ok(Some(object)),
            Some(other) => Err(self.wrong("an object", other)),
        }
    }

    fn array(self) -> Result<&'a [Json<'de>]> {
        match self.present() {
            None => Ok(&[]),
            Some(Json::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong("an array", other)),
        }
    }

    /// The field's name with `[i]` (and `.member`) appended.
    fn item(&self, i: usize, member: Option<&'static str>) -> Name {
        let Name::Key(key) = self.name else { return self.name };
        member.map_or(Name::Item(key, i), |m| Name::Member(key, i, m))
    }

    fn strings(self) -> Result<Vec<String>> {
        let items = self.array()?;
        let mut strings = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Json::Str(s) => strings.push(s.to_string()),
                other => {
                    return Err(Field { name: self.item(i, None), ..self }.wrong("a string", other));
                }
            }
        }
        Ok(strings)
    }

    fn tags(self) -> Result<Vec<Tag>> {
        let items = self.array()?;
        let mut tags = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let member = |name: &'static str| Field {
                path: self.path,
                name: self.item(i, Some(name)),
                value: item.get(name),
            };
            let tag = match item {
                Json::Str(s) => Tag { name: s.to_string(), translated_name: None },
                Json::Object(_) => Tag {
                    name: member("name").text()?.ok_or_else(|| member("name").error("missing"))?,
                    translated_name: member("translated_name").text()?,
                },
                other => {
                    return Err(Field { name: self.item(i, None), ..self }
                        .wrong("a string or a {name, translated_name} object", other));
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
