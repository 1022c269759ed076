//! Property tests for the metadata parser: arbitrary bytes and arbitrary JSON never panic, and
//! well-formed gallery-dl records round-trip every field we store.

use std::path::Path;

use animescore_dataset::PixivMetadata;
use proptest::prelude::*;
use serde_json::{Value, json};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("tags".to_string()),
                    Just("total_view".to_string()),
                    Just("user".to_string()),
                    Just("date".to_string()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = PixivMetadata::parse(Path::new("fuzz.json"), &bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json()) {
        let text = value.to_string();
        let _ = PixivMetadata::parse(Path::new("fuzz.json"), text.as_bytes());
    }

    #[test]
    fn valid_records_round_trip(
        id in 0i64..10_000_000_000,
        views in 0i64..i64::MAX,
        bookmarks in 0i64..i64::MAX,
        tags in prop::collection::vec("[^\u{0}]{1,12}", 0..8),
        as_objects in any::<bool>(),
        sanity in prop::sample::select(vec![2i64, 4, 6, 8]),
    ) {
        let tag_values: Vec<Value> = tags
            .iter()
            .map(|t| if as_objects { json!({"name": t, "translated_name": null}) } else { json!(t) })
            .collect();
        let text = serde_json::to_string_pretty(&json!({
            "id": id, "total_view": views, "total_bookmarks": bookmarks, "tags": tag_values,
            "sanity_level": sanity, "date": "2023-01-02 03:04:05", "series": null, "hash": "x",
        })).unwrap();
        let m = PixivMetadata::parse(Path::new("ok.json"), text.as_bytes()).unwrap();
        prop_assert_eq!(m.id, Some(id));
        prop_assert_eq!(m.total_view, Some(views));
        prop_assert_eq!(m.total_bookmarks, Some(bookmarks));
        prop_assert_eq!(m.sanity_level, Some(sanity));
        let names: Vec<String> = m.tags.iter().map(|t| t.name.clone()).collect();
        prop_assert_eq!(names, tags);
    }
}

#[test]
fn deep_nesting_and_huge_numbers_are_errors_not_panics() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(PixivMetadata::parse(Path::new("deep.json"), deep.as_bytes()).is_err());
    let deep_ok_json = format!("{{\"x\": {}1{}}}", "[".repeat(100), "]".repeat(100));
    assert!(PixivMetadata::parse(Path::new("deep.json"), deep_ok_json.as_bytes()).is_err());
    let dup = br#"{"total_view": 1, "total_view": 2}"#;
    assert_eq!(PixivMetadata::parse(Path::new("dup.json"), dup).unwrap().total_view, Some(2));
}
