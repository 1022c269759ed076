//! Issue 15: a saved scalers file is checked as the command line is (a file with `alpha = 7`
//! or a fitted range with min > max used to be applied).

use animescore_scoring::{Counts, ScoreMethod, Scorer};
use serde_json::Value;

fn fitted() -> Value {
    let counts: Vec<Counts> = (1..50)
        .map(|i| Counts { bookmarks: f64::from(i * 3), views: f64::from(i * 40), uploaded: None })
        .collect();
    let scorer = Scorer::fit(ScoreMethod::WeightedLog { alpha: 0.6 }, &counts).unwrap();
    serde_json::from_str(&scorer.to_json().unwrap()).unwrap()
}

/// Applies `edit` to every object that has `key`.
fn edit_all(v: &mut Value, key: &str, edit: &dyn Fn(&mut serde_json::Map<String, Value>)) {
    match v {
        Value::Object(map) => {
            if map.contains_key(key) {
                edit(map);
            }
            for child in map.values_mut() {
                edit_all(child, key, edit);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| edit_all(c, key, edit)),
        _ => {}
    }
}

#[test]
fn a_saved_scorer_with_values_the_cli_would_reject_is_refused() {
    let good = fitted();
    assert!(Scorer::from_json(&good.to_string()).is_ok());

    let mut alpha = good.clone();
    edit_all(&mut alpha, "alpha", &|m| {
        m.insert("alpha".into(), Value::from(7.0));
    });
    assert_ne!(alpha, good);
    let err = Scorer::from_json(&alpha.to_string()).unwrap_err();
    assert!(err.to_string().contains("alpha"), "{err}");

    let mut swapped = good.clone();
    edit_all(&mut swapped, "min", &|m| {
        let (min, max) = (m["min"].clone(), m["max"].clone());
        m.insert("min".into(), max);
        m.insert("max".into(), min);
    });
    let err = Scorer::from_json(&swapped.to_string()).unwrap_err();
    assert!(err.to_string().contains("min"), "{err}");
}
