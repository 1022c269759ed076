//! The page's card data: one compact JSON document that the page's script reads.
//!
//! ```text
//! { "card": least card width px, "thumbs": "PAGE-thumbs/" or null (embedded),
//!   "tiers": [names], "dirs": [file:// folder URLs], "tags": [names], "reasons": [texts],
//!   "cards": [[name, score, tier, ai %, sanity level, percentile, [tag, p %, …],
//!              dir, file, explanation, thumbnail], …] }
//! ```
//!
//! Cards come best score first. Repeated text is stored once in a table and cited by index:
//! a card's folder, its tags, a missing thumbnail's reason. `name` is `0` when it is the
//! file's name without extension; `file` is percent-encoded, so `dirs[dir] + file` is the
//! image's URL; `explanation` is `0` or `[dir, file]`; `thumbnail` is `null` (the file of
//! this card in the thumbnail folder), a `data:` URI, or the index of the reason there is
//! none. Names, tags and reasons hold their control and direction-changing characters as
//! visible escapes ([`Shown`]; the page's script does the same for names it takes from file
//! names). Every `<`, `>` and `&` is written as a `\u` escape, so the data cannot end the
//! `<script type="application/json">` block that holds it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use animescore_fs::Shown;
use animescore_scorefile::{ScoreRow, Tier};
use serde_json::{Value, json};

use crate::GalleryOptions;
use crate::html::{file_url, percent_encode};

/// What a card shows as its picture.
#[derive(Debug, Clone, PartialEq)]
pub enum Thumb {
    /// Its file in the thumbnail folder.
    File,
    /// A `data:` URI.
    Embedded(String),
    /// None, and why.
    Missing(String),
}

/// What the page calls a row without a tier.
pub const NO_TIER: &str = "unknown";

/// The tier names of `rows`, best first, `unknown` last when some row has none.
pub fn tiers_present(rows: &[&ScoreRow]) -> Vec<&'static str> {
    let mut tiers: Vec<Option<Tier>> = Tier::ALL.iter().rev().copied().map(Some).collect();
    tiers.push(None);
    tiers.retain(|t| rows.iter().any(|r| r.tier == *t));
    tiers.into_iter().map(|t| t.map_or(NO_TIER, Tier::name)).collect()
}

/// A table of distinct strings, each cited by its index.
#[derive(Default)]
struct Table {
    index: HashMap<String, usize>,
    items: Vec<String>,
}

impl Table {
    fn cite(&mut self, s: &str) -> usize {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        self.items.push(s.to_string());
        self.index.insert(s.to_string(), self.items.len() - 1);
        self.items.len() - 1
    }
}

/// A path as `(folder URL index, percent-encoded file name)`.
fn split(dirs: &mut Table, path: &Path) -> (usize, String, String) {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let file = absolute.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut dir = absolute.parent().map_or_else(|| "file:///".into(), file_url);
    if !dir.ends_with('/') {
        dir.push('/');
    }
    (dirs.cite(&dir), percent_encode(&file), file)
}

/// The card data of `rows` (best first), their thumbnails and explanation pictures, as JSON
/// safe inside a `<script>` element.
pub fn card_data(
    rows: &[&ScoreRow],
    thumbnails: &[Thumb],
    explanations: &[Option<PathBuf>],
    thumbs_prefix: Option<&str>,
    options: &GalleryOptions,
) -> String {
    let tiers = tiers_present(rows);
    let (mut dirs, mut tags, mut reasons) = (Table::default(), Table::default(), Table::default());
    let cards: Vec<Value> = rows
        .iter()
        .zip(thumbnails)
        .zip(explanations)
        .map(|((row, thumb), explanation)| {
            let (dir, file, plain) = split(&mut dirs, Path::new(&row.path));
            let stem = Path::new(&plain).file_stem().map(|s| s.to_string_lossy());
            // Shown: a control character or a direction override in a name is made visible.
            let shown = Shown::text(&row.filename).to_string();
            let name =
                if stem.as_deref() == Some(shown.as_str()) { json!(0) } else { json!(shown) };
            let tier = row.tier.map_or(NO_TIER, Tier::name);
            let tier = tiers.iter().position(|t| *t == tier).unwrap_or(0);
            let top: Vec<Value> = row
                .top_tags
                .iter()
                .flat_map(|(t, p)| {
                    let tag = tags.cite(&Shown::text(t).to_string());
                    [json!(tag), json!((p * 100.0).round() as i64)]
                })
                .collect();
            let why = explanation.as_deref().map_or(json!(0), |p| {
                let (d, f, _) = split(&mut dirs, p);
                json!([d, f])
            });
            let thumb = match thumb {
                Thumb::File => Value::Null,
                Thumb::Embedded(uri) => json!(uri),
                Thumb::Missing(reason) => json!(reasons.cite(&Shown::text(reason).to_string())),
            };
            json!([
                name,
                (row.score * 100.0).round() / 100.0,
                tier,
                row.ai_probability.map(|p| (p * 100.0).round() as i64),
                row.sanity_level,
                row.percentile.map(|p| p.round() as i64),
                top,
                dir,
                file,
                why,
                thumb
            ])
        })
        .collect();
    let data = json!({
        // A card needs about 180 px for its text, whatever the thumbnail size.
        "card": options.thumb_size.clamp(180, 400),
        "thumbs": thumbs_prefix,
        "tiers": tiers,
        "dirs": dirs.items,
        "tags": tags.items,
        "reasons": reasons.items,
        "cards": cards,
    });
    script_safe(&data.to_string())
}

/// JSON text with `<`, `>` and `&` escaped (they only occur inside strings).
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str, filename: &str, score: f64, tier: Option<Tier>) -> ScoreRow {
        ScoreRow {
            path: path.into(),
            filename: filename.into(),
            score,
            ai_probability: Some(0.123),
            sanity_class: Some(0),
            sanity_level: Some(2),
            top_tags: vec![("girl".into(), 0.91), ("</script><b>".into(), 0.5)],
            percentile: Some(87.6),
            tier,
        }
    }

    #[test]
    fn card_data_is_compact_and_script_safe() {
        let rows = [
            row("/pics/a b/1.png", "1", 80.456, Some(Tier::Best)),
            row("/pics/a b/2.png", "other", 20.0, None),
            row("/pics/a b/x\u{202e}gpj.exe", "x\u{202e}gpj", 10.0, None),
        ];
        let rows: Vec<&ScoreRow> = rows.iter().collect();
        let thumbs = [Thumb::File, Thumb::Missing("gone".into()), Thumb::File];
        let none = [None, None, None];
        let json = card_data(&rows, &thumbs, &none, Some("p-thumbs/"), &Default::default());
        assert!(!json.contains('<') && !json.contains('>'), "{json}");
        let data: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(data["tiers"], json!(["best", "unknown"]));
        assert_eq!(data["dirs"], json!(["file:///pics/a%20b/"]), "one folder, cited twice");
        assert_eq!(data["tags"], json!(["girl", "</script><b>"]));
        assert_eq!(
            data["cards"][0],
            json!([0, 80.46, 0, 12, 2, 88, [0, 91, 1, 50], 0, "1.png", 0, null])
        );
        assert_eq!(data["cards"][1][0], json!("other"), "a name that is not the file's");
        assert_eq!(data["cards"][1][2], json!(1));
        assert_eq!(data["cards"][1][10], json!(0));
        assert_eq!(data["reasons"], json!(["gone"]));
        // A direction override in a name is shown, never applied.
        assert_eq!(data["cards"][2][0], json!("x\\u{202e}gpj"));
        assert!(!json.contains('\u{202e}'), "{json}");
    }
}
