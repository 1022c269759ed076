//! A borrowed JSON tree for the few keys the metadata parser reads, and a skip for the rest.
//!
//! `serde_json::Value` allocates every key and every string of a file, and most of a gallery-dl
//! file is either copied once more into the record or not read at all. Here strings borrow from
//! the file unless they hold escapes, objects are small vectors (the last of repeated keys wins,
//! as in `Value`), and values under keys nobody reads are skipped without being kept. Both count
//! nesting, so absurd depth is an error wherever it is.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Nesting deeper than this is rejected (real files nest three levels).
pub(crate) const MAX_DEPTH: usize = 64;
/// The error message of [`MAX_DEPTH`]; the parser recognises it in serde_json's errors.
pub(crate) const TOO_DEEP: &str = "nested deeper than 64 levels";

/// One JSON value, its strings borrowed from the source where possible.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'de> {
    Null,
    Bool(bool),
    /// serde_json reports negative integers as `i64`, others as `u64`, and integers beyond
    /// `u64` as floats.
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'de, str>),
    Array(Vec<Json<'de>>),
    Object(Vec<(Cow<'de, str>, Json<'de>)>),
}

impl<'de> Json<'de> {
    /// The value of `key` in an object (the last one when the key repeats); `None` for other
    /// kinds of value.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'de>> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The kind of value, for error messages ("expected a string, found a number").
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) | Json::UInt(_) | Json::Float(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The owned `serde_json` value (only to show a bad value in an error message).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::UInt(u) => Value::from(*u),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Str(s) => Value::String(s.to_string()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => {
                Value::Object(members.iter().map(|(k, v)| (k.to_string(), v.to_value())).collect())
            }
        }
    }
}

/// A number written as JSON writes it (`1.5`, `1e20`, `12`): serde_json's formatting, so the
/// text of a number read where a string was expected is what `Value` would give.
pub(crate) fn number_text(json: &Json<'_>) -> Option<String> {
    match json {
        Json::Int(i) => Some(i.to_string()),
        Json::UInt(u) => Some(u.to_string()),
        Json::Float(f) => {
            Some(serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string()))
        }
        _ => None,
    }
}

/// One level deeper than `depth`, or the [`TOO_DEEP`] error.
fn enter<E: de::Error>(depth: usize) -> Result<usize, E> {
    if depth >= MAX_DEPTH { Err(E::custom(TOO_DEEP)) } else { Ok(depth + 1) }
}

/// Reads a value into a [`Json`] tree; `depth` is the number of containers around it.
#[derive(Clone, Copy)]
pub(crate) struct Tree {
    pub(crate) depth: usize,
}

impl<'de> DeserializeSeed<'de> for Tree {
    type Value = Json<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tree {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Json<'de>, E> {
        Ok(Json::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Json<'de>, E> {
        Ok(Json::UInt(u))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Json<'de>, E> {
        Ok(Json::Float(f))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let inner = Tree { depth: enter(self.depth)? };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let inner = Tree { depth: enter(self.depth)? };
        let mut members = Vec::new();
        while let Some(key) = map.next_key_seed(Text)? {
            members.push((key, map.next_value_seed(inner)?));
        }
        Ok(Json::Object(members))
    }
}

/// Reads a string (an object's key), borrowed when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

/// Reads past a value without keeping it, counting its nesting; `depth` as in [`Tree`].
#[derive(Clone, Copy)]
pub(crate) struct Skip {
    pub(crate) depth: usize,
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = Skip { depth: enter(self.depth)? };
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = Skip { depth: enter(self.depth)? };
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> serde_json::Result<Json<'_>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let json = Tree { depth: 0 }.deserialize(&mut de)?;
        de.end()?;
        Ok(json)
    }

    fn skip(text: &str) -> serde_json::Result<()> {
        let mut de = serde_json::Deserializer::from_str(text);
        Skip { depth: 0 }.deserialize(&mut de)?;
        de.end()
    }

    #[test]
    fn the_tree_is_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 1.5, 1e300, 99999999999999999999, "x\n", null, true],
                       "b": {"c": {}}, "a": "again", "é": "ß"}"#;
        let ours = tree(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours.to_value(), value);
        assert_eq!(ours.get("a"), Some(&Json::Str("again".into())), "the last key wins");
        assert!(matches!(ours.get("é"), Some(Json::Str(Cow::Borrowed("ß")))));
    }

    #[test]
    fn the_depth_limit_holds_for_kept_and_skipped_values() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(tree(&nested(MAX_DEPTH)).is_ok());
        assert!(skip(&nested(MAX_DEPTH)).is_ok());
        for err in
            [tree(&nested(MAX_DEPTH + 1)).unwrap_err(), skip(&nested(MAX_DEPTH + 1)).unwrap_err()]
        {
            assert!(err.to_string().starts_with(TOO_DEEP), "{err}");
        }
        assert!(TOO_DEEP.contains(&MAX_DEPTH.to_string()));
    }

    #[test]
    fn numbers_print_as_serde_json_prints_them() {
        for text in ["12", "-3", "1.5", "1e20", "18446744073709551615", "1e400"] {
            let value: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(_) => continue,
            };
            assert_eq!(number_text(&tree(text).unwrap()).as_deref(), Some(&*value.to_string()));
        }
    }
}
