//! The single-pass metadata parser against the parser it replaced (a `serde_json::Value` tree
//! per file, then typed access), kept here as the oracle: on arbitrary JSON objects whose keys
//! are the ones we read, with arbitrary values of every kind, both accept the same files with
//! the same records and refuse the same files.

use std::path::Path;

use animescore_dataset::{PixivMetadata, Tag, parse_date};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The previous parser, errors reduced to text (only whether it fails is compared).
mod reference {
    use super::*;

    const MAX_DEPTH: usize = 64;

    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<PixivMetadata, String> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if depth(&value) > MAX_DEPTH {
            return Err("too deep".into());
        }
        let Value::Object(obj) = value else { return Err("not an object".into()) };
        let f = Fields(&obj);
        let user = match obj.get("user") {
            Some(Value::Object(u)) => Some(Fields(u)),
            None | Some(Value::Null) => None,
            Some(_) => return Err("user".into()),
        };
        Ok(PixivMetadata {
            id: f.count("id")?,
            title: f.text("title")?,
            kind: f.text("type")?,
            restrict: f.int("restrict")?,
            user_id: user.as_ref().map(|u| u.int("id")).transpose()?.flatten(),
            user_name: user.as_ref().map(|u| u.text("name")).transpose()?.flatten(),
            user_account: user.as_ref().map(|u| u.text("account")).transpose()?.flatten(),
            tags: f.tags()?,
            tools: f.strings("tools")?,
            create_date: f.text("create_date")?.and_then(|s| parse_date(&s)),
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
            date: f.text("date")?.and_then(|s| parse_date(&s)),
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

    struct Fields<'a>(&'a Map<String, Value>);

    impl Fields<'_> {
        fn get(&self, field: &str) -> Option<&Value> {
            self.0.get(field).filter(|v| !v.is_null())
        }

        fn int(&self, field: &str) -> Result<Option<i64>, String> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| field.to_string()),
                Some(_) => Err(field.into()),
            }
        }

        fn count(&self, field: &str) -> Result<Option<i64>, String> {
            match self.int(field)? {
                Some(v) if v < 0 => Err(field.into()),
                other => Ok(other),
            }
        }

        fn text(&self, field: &str) -> Result<Option<String>, String> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(field.into()),
            }
        }

        fn boolean(&self, field: &str) -> Result<Option<bool>, String> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                    Ok(Some(n.as_i64() == Some(1)))
                }
                Some(_) => Err(field.into()),
            }
        }

        fn strings(&self, field: &str) -> Result<Vec<String>, String> {
            match self.get(field) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(|| field.to_string()))
                    .collect(),
                Some(_) => Err(field.into()),
            }
        }

        fn tags(&self) -> Result<Vec<Tag>, String> {
            let items = match self.get("tags") {
                None => return Ok(Vec::new()),
                Some(Value::Array(items)) => items,
                Some(_) => return Err("tags".into()),
            };
            let mut tags = Vec::new();
            for item in items {
                let tag = match item {
                    Value::String(s) => Tag { name: s.clone(), translated_name: None },
                    Value::Object(o) => {
                        let inner = Fields(o);
                        let name = inner.text("name")?.ok_or("tags[].name")?;
                        Tag { name, translated_name: inner.text("translated_name")? }
                    }
                    _ => return Err("tags[]".into()),
                };
                if !tag.name.is_empty() {
                    tags.push(tag);
                }
            }
            Ok(tags)
        }
    }
}

const KEYS: [&str; 30] = [
    "id",
    "title",
    "type",
    "restrict",
    "user",
    "tags",
    "tools",
    "create_date",
    "page_count",
    "width",
    "height",
    "sanity_level",
    "x_restrict",
    "total_view",
    "total_bookmarks",
    "is_bookmarked",
    "visible",
    "is_muted",
    "illust_ai_type",
    "illust_book_style",
    "num",
    "date",
    "rating",
    "suffix",
    "category",
    "subcategory",
    "url",
    "date_url",
    "filename",
    "extension",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![Just(0i64), Just(1), Just(2), Just(-1), any::<i64>()].prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        prop_oneof![Just(1.5f64), Just(1e20), Just(0.0), any::<f64>()]
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("2023-05-01 12:00:00".to_string()),
            Just("2023-05-01T21:00:00+09:00".to_string()),
            Just("[Invalid DateTime]".to_string()),
            Just(String::new()),
            ".{0,8}",
        ]
        .prop_map(Value::String),
    ]
}

fn member_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
        Just("name".to_string()),
        Just("translated_name".to_string()),
        Just("account".to_string()),
        "[a-z]{1,6}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((member_key(), inner), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A top-level object as text, keys possibly repeated (serde_json's `Map` cannot hold that).
fn document() -> impl Strategy<Value = String> {
    prop::collection::vec((member_key(), value()), 0..12).prop_map(|members| {
        let body: Vec<String> =
            members.iter().map(|(k, v)| format!("{}: {}", Value::String(k.clone()), v)).collect();
        format!("{{{}}}", body.join(", "))
    })
}

fn same_outcome(text: &str) -> Result<(), TestCaseError> {
    let ours = PixivMetadata::parse(Path::new("p.json"), text.as_bytes());
    let theirs = reference::parse(text.as_bytes());
    match (ours, theirs) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", text),
        (Err(_), Err(_)) => {}
        (a, b) => prop_assert!(false, "{text}\nours: {a:?}\nreference: {b:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn agrees_with_the_value_tree_parser(text in document()) {
        same_outcome(&text)?;
    }
}

#[test]
fn agrees_on_the_corpus_and_on_edge_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/metadata");
    let mut texts: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned())
        .collect();
    let nested = |n: usize| format!("{{\"x\": {}1{}}}", "[".repeat(n), "]".repeat(n));
    texts.extend([nested(63), nested(64), nested(200), "[1]".into(), "1".into(), "{".into()]);
    texts.push(r#"{"tags": [{"name": "a", "name": "b"}], "user": {"id": 1, "id": "x"}}"#.into());
    texts.push(r#"{"user": {"id": 1}, "user": null, "id": 1, "id": -1}"#.into());
    for text in texts {
        same_outcome(&text).unwrap();
    }
}
