//! Reading a score file for display (the gallery): lenient where [`crate::read_rows`] is
//! strict, into the same [`ScoreRow`]s.
//!
//! Columns (the contract, [`crate::COLUMNS`]): `path,filename,score,ai_probability,sanity_class,
//! sanity_level,top_tags,percentile,tier`, `top_tags` as `tag:p;tag:p` in CSV. JSON objects
//! have the same keys; `top_tags` may also be an array of `[tag, p]` pairs (and older JSON
//! output calls it `tags`). A row without `path` is looked up as `filename` (with or without
//! an image extension) in the scores file's folder. A bad row is reported and skipped.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::contract::ScoreRow;
use crate::error::{Result, ScoreFileError};
use crate::top_tags::parse_top_tags;

/// Rows of a scores file and the rows that were skipped (1-based record number, reason).
#[derive(Debug, Default)]
pub struct ScoresFile {
    /// Readable rows, in file order.
    pub rows: Vec<ScoreRow>,
    /// Skipped records.
    pub skipped: Vec<(usize, String)>,
}

/// Reads a `.csv`, `.jsonl` or `.json` scores file (a regular file of at most
/// [`MAX_SCORE_FILE_BYTES`](crate::MAX_SCORE_FILE_BYTES)); a bad record is listed in
/// [`ScoresFile::skipped`], not fatal.
pub fn read_scores(path: &Path) -> Result<ScoresFile> {
    let (file, len) = crate::contract::open_score_file(path)?;
    let bytes = animescore_fs::read_to_limit(file, len, crate::MAX_SCORE_FILE_BYTES)
        .map_err(|source| ScoreFileError::io(path, source))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error());
        ScoreFileError::io(path, e)
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let records: Vec<Result<Map<String, Value>, String>> = match ext.as_str() {
        "csv" => csv_records(path, &text)?,
        "jsonl" | "ndjson" => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| object(serde_json::from_str(l).map_err(|e| e.to_string())?))
            .collect(),
        "json" => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => items.into_iter().map(object).collect(),
            Ok(_) => return Err(format_err(path, "expected a JSON array of objects")),
            Err(e) => return Err(format_err(path, &e.to_string())),
        },
        _ => return Err(format_err(path, "expected a .csv, .jsonl or .json file")),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut file = ScoresFile::default();
    for (i, record) in records.into_iter().enumerate() {
        match record.and_then(|r| row(&r, base)) {
            Ok(row) => file.rows.push(row),
            Err(reason) => file.skipped.push((i + 1, reason)),
        }
    }
    Ok(file)
}

fn format_err(path: &Path, reason: &str) -> ScoreFileError {
    ScoreFileError::format(path, reason)
}

fn object(v: Value) -> Result<Map<String, Value>, String> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(format!("expected an object, found {other}")),
    }
}

/// CSV rows as JSON-like objects of strings (empty cells left out).
fn csv_records(path: &Path, text: &str) -> Result<Vec<Result<Map<String, Value>, String>>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| format_err(path, &e.to_string()))?.clone();
    if !header.iter().any(|h| h == "score") {
        return Err(format_err(path, "no `score` column in the header"));
    }
    Ok(reader
        .records()
        .map(|r| {
            let r = r.map_err(|e| e.to_string())?;
            Ok(header
                .iter()
                .zip(r.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect())
        })
        .collect())
}

fn number(r: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match r.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("field `{key}`: `{s}` is not a number")),
        Some(other) => Err(format!("field `{key}`: {other} is not a number")),
    }
}

/// A whole, non-negative number field.
fn whole(r: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match number(r, key)? {
        Some(v) if v.fract() == 0.0 && (0.0..=1e9).contains(&v) => Ok(Some(v as i64)),
        Some(v) => Err(format!("field `{key}`: {v} is not a whole number")),
        None => Ok(None),
    }
}

fn text<'a>(r: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn row(r: &Map<String, Value>, base: &Path) -> Result<ScoreRow, String> {
    let score = number(r, "score")?.ok_or("field `score` is missing")?;
    if !score.is_finite() {
        return Err(format!("field `score`: {score} is not finite"));
    }
    let filename = text(r, "filename").map(str::to_string);
    let path = match (text(r, "path"), &filename) {
        (Some(p), _) => resolve(Path::new(p), base),
        (None, Some(name)) => find_by_name(name, base),
        (None, None) => return Err("neither `path` nor `filename` is given".into()),
    };
    let filename = filename.unwrap_or_else(|| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let top_tags = match r.get("top_tags").or_else(|| r.get("tags")) {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => tags(v)?,
    };
    let tier =
        text(r, "tier").map(str::parse).transpose().map_err(|e| format!("field `tier`: {e}"))?;
    Ok(ScoreRow {
        path: path.to_string_lossy().into_owned(),
        filename,
        score,
        ai_probability: number(r, "ai_probability")?,
        sanity_class: whole(r, "sanity_class")?.map(|v| v as usize),
        sanity_level: whole(r, "sanity_level")?,
        top_tags,
        percentile: number(r, "percentile")?,
        tier,
    })
}

/// A relative path as given if it exists from here, otherwise relative to the scores file.
fn resolve(p: &Path, base: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() { p.to_path_buf() } else { base.join(p) }
}

/// `filename` in the scores file's folder, as is or with an image extension.
fn find_by_name(name: &str, base: &Path) -> PathBuf {
    let plain = base.join(name);
    if plain.is_file() {
        return plain;
    }
    ["png", "jpg", "jpeg", "webp", "PNG", "JPG", "JPEG"]
        .iter()
        .map(|ext| base.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
        .unwrap_or(plain)
}

/// `tag:p;tag:p`, `[[tag, p], …]` or `[{"tag": t, "p": p}, …]`.
fn tags(v: &Value) -> Result<Vec<(String, f64)>, String> {
    let bad = || format!("field `top_tags`: cannot read {v}");
    match v {
        Value::String(s) => parse_top_tags(s).ok_or_else(bad),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => Ok((
                    pair[0].as_str().ok_or_else(bad)?.to_string(),
                    pair[1].as_f64().ok_or_else(bad)?,
                )),
                Value::Object(o) => Ok((
                    o.get("tag").and_then(Value::as_str).ok_or_else(bad)?.to_string(),
                    o.get("p").and_then(Value::as_f64).ok_or_else(bad)?,
                )),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_jsonl_and_json_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"").unwrap();
        let csv = "filename,score,ai_probability,sanity_class,sanity_level,top_tags,percentile,tier\n\
                   a,71.5,0.1,0,2,girl:0.9;a:b:0.6,80.0,great\n\
                   b,not-a-number,,,,,,\n";
        let csv_path = dir.path().join("s.csv");
        std::fs::write(&csv_path, csv).unwrap();
        let from_csv = read_scores(&csv_path).unwrap();
        assert_eq!(from_csv.rows.len(), 1);
        assert_eq!(from_csv.skipped.len(), 1);
        assert!(from_csv.skipped[0].1.contains("score"), "{:?}", from_csv.skipped);
        let row = &from_csv.rows[0];
        assert_eq!(Path::new(&row.path), dir.path().join("a.png"));
        assert_eq!(row.top_tags, vec![("girl".into(), 0.9), ("a:b".into(), 0.6)]);

        let jsonl = r#"{"path":"a.png","filename":"a","score":71.5,"ai_probability":0.1,"sanity_class":0,"sanity_level":2,"top_tags":"girl:0.9;a:b:0.6","percentile":80.0,"tier":"great"}"#;
        let jsonl_path = dir.path().join("s.jsonl");
        std::fs::write(&jsonl_path, format!("{jsonl}\n\n")).unwrap();
        assert_eq!(read_scores(&jsonl_path).unwrap().rows, from_csv.rows);

        let json = r#"[{"path":"a.png","filename":"a","score":71.5,"ai_probability":0.1,"sanity_class":0,"sanity_level":2,"tags":[["girl",0.9],["a:b",0.6]],"percentile":80.0,"tier":"great"}, 3]"#;
        let json_path = dir.path().join("s.json");
        std::fs::write(&json_path, json).unwrap();
        let from_json = read_scores(&json_path).unwrap();
        assert_eq!(from_json.rows, from_csv.rows);
        assert_eq!(from_json.skipped.len(), 1);

        let txt = dir.path().join("s.txt");
        std::fs::write(&txt, "x").unwrap();
        assert!(read_scores(&txt).is_err());
    }
}
