//! The contract: [`COLUMNS`], [`ScoreRow`], the strict reader [`read_rows`] and the
//! [`ScoreWriter`]. One row per image, as CSV, JSON lines or a JSON array (by the extension
//! of the file: `.jsonl`/`.ndjson`, `.json`, anything else CSV).
//!
//! CSV and JSON lines are appended and flushed batch by batch, so a killed run keeps every
//! finished batch; reading back drops a truncated last line (the batch in flight), never the
//! file. A JSON array is written to a temporary file beside the target and renamed at the
//! end. A target that is not a regular file (`/dev/null`, a FIFO, `-` for stdout) is written
//! through, never replaced. The output is opened only when the first row is ready, so a run
//! that scores nothing leaves an earlier file as it was.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScoreFileError};
use crate::tier::Tier;
use crate::top_tags::{format_top_tags, parse_top_tags};

/// Columns of the score file, in order (the CSV header; the keys of a JSON row).
pub const COLUMNS: [&str; 9] = [
    "path",
    "filename",
    "score",
    "ai_probability",
    "sanity_class",
    "sanity_level",
    "top_tags",
    "percentile",
    "tier",
];

/// One scored image: what `predict` computes and every reader of a score file gets.
///
/// Values are kept as computed; the file rounds them (score to 2 decimals, AI probability to
/// 4, tag probabilities to 3, percentile to 1). Files of older versions or other tools may
/// lack the optional columns.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    /// The image path as given or found.
    pub path: String,
    /// File name without extension.
    pub filename: String,
    /// Predicted score, 1..100.
    pub score: f64,
    /// Probability of being AI-generated.
    pub ai_probability: Option<f64>,
    /// Sanity class 0..=2.
    pub sanity_class: Option<usize>,
    /// Pixiv sanity level of the class (2, 4, 6).
    pub sanity_level: Option<i64>,
    /// Most likely tags with their probabilities, most likely first (`tag:p;tag:p` in files).
    pub top_tags: Vec<(String, f64)>,
    /// Percentile of the score against the model's calibration.
    pub percentile: Option<f64>,
    /// Tier of the percentile.
    pub tier: Option<Tier>,
}

/// A [`ScoreRow`] as the file spells it.
#[derive(Serialize, Deserialize)]
struct WireRow {
    path: String,
    filename: String,
    score: f64,
    #[serde(default)]
    ai_probability: Option<f64>,
    #[serde(default)]
    sanity_class: Option<usize>,
    #[serde(default)]
    sanity_level: Option<i64>,
    #[serde(default)]
    top_tags: String,
    #[serde(default)]
    percentile: Option<f64>,
    #[serde(default, deserialize_with = "tier_or_empty")]
    tier: Option<Tier>,
}

/// An empty `tier` cell is no tier; anything else must name one.
fn tier_or_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Tier>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) if !text.is_empty() => text.parse().map(Some).map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

impl Serialize for ScoreRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        WireRow {
            path: self.path.clone(),
            filename: self.filename.clone(),
            score: round(self.score, 2),
            ai_probability: self.ai_probability.map(|p| round(p, 4)),
            sanity_class: self.sanity_class,
            sanity_level: self.sanity_level,
            top_tags: format_top_tags(&self.top_tags),
            percentile: self.percentile.map(|p| round(p, 1)),
            tier: self.tier,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ScoreRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let w = WireRow::deserialize(d)?;
        let top_tags = parse_top_tags(&w.top_tags).ok_or_else(|| {
            serde::de::Error::custom(format!("top_tags `{}`: expected tag:p;tag:p", w.top_tags))
        })?;
        Ok(Self {
            path: w.path,
            filename: w.filename,
            score: w.score,
            ai_probability: w.ai_probability,
            sanity_class: w.sanity_class,
            sanity_level: w.sanity_level,
            top_tags,
            percentile: w.percentile,
            tier: w.tier,
        })
    }
}

/// File format of a score file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreFormat {
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    JsonLines,
    /// One JSON array.
    Json,
}

impl ScoreFormat {
    /// By extension: `.json`, `.jsonl` / `.ndjson`, anything else (and stdout) CSV.
    pub fn of_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Self::Json,
            Some("jsonl" | "ndjson") => Self::JsonLines,
            _ => Self::Csv,
        }
    }

    /// Whether rows are appended line by line (resumable after a kill).
    pub fn is_line_based(self) -> bool {
        self != Self::Json
    }
}

/// Where a score file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScoreTarget {
    /// Standard output (`--out -` or no `--out`).
    Stdout,
    /// A file (or a FIFO / device, written through).
    File(PathBuf),
}

impl ScoreTarget {
    /// `-` is stdout.
    pub fn new(path: &Path) -> Self {
        if path == Path::new("-") { Self::Stdout } else { Self::File(path.to_path_buf()) }
    }

    /// Format by the file's extension (CSV on stdout).
    pub fn format(&self) -> ScoreFormat {
        match self {
            Self::Stdout => ScoreFormat::Csv,
            Self::File(p) => ScoreFormat::of_path(p),
        }
    }

    /// The name used in messages.
    pub fn display(&self) -> PathBuf {
        match self {
            Self::Stdout => PathBuf::from("<stdout>"),
            Self::File(p) => p.clone(),
        }
    }

    /// Whether this is an existing file that is not a regular file (FIFO, device).
    pub fn is_special_file(&self) -> bool {
        match self {
            Self::Stdout => false,
            Self::File(p) => std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir()),
        }
    }
}

/// Rows encoded in a format; `first` says whether a JSON array's first row is among them.
fn encode(format: ScoreFormat, rows: &[ScoreRow], first: bool) -> Result<Vec<u8>> {
    let fail = |e: &dyn std::fmt::Display| ScoreFileError::format("score rows", e);
    let mut out = Vec::new();
    match format {
        ScoreFormat::Csv => {
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(&mut out);
            for r in rows {
                w.serialize(r).map_err(|e| fail(&e))?;
            }
            w.flush().map_err(|e| fail(&e))?;
        }
        ScoreFormat::JsonLines | ScoreFormat::Json => {
            for (i, r) in rows.iter().enumerate() {
                if format == ScoreFormat::Json && !(first && i == 0) {
                    out.extend_from_slice(b",\n");
                }
                serde_json::to_writer(&mut out, r).map_err(|e| fail(&e))?;
                if format == ScoreFormat::JsonLines {
                    out.push(b'\n');
                }
            }
        }
    }
    Ok(out)
}

fn csv_header() -> Vec<u8> {
    format!("{}\n", COLUMNS.join(",")).into_bytes()
}

/// What is already in a score file that `--resume` continues.
#[derive(Debug, Default)]
pub struct ExistingRows {
    /// Keys ([`path_key`]) of the `path` of every readable row.
    pub done: HashSet<u128>,
    /// Readable rows.
    pub rows: usize,
    /// Length of the file up to its last complete line (line-based formats).
    pub complete_len: u64,
    /// Bytes of a truncated last line that a resumed run drops.
    pub truncated_tail: u64,
    /// Lines that could not be read (`line number: reason`), kept in the file.
    pub bad: Vec<String>,
}

/// Largest score file read: 2 GiB, about ten million rows. A score file must be a regular
/// file: a link to `/dev/zero` or a FIFO is refused at once, never read or waited on.
pub const MAX_SCORE_FILE_BYTES: u64 = 2 << 30;

/// Opens a score file for reading: a regular file of at most [`MAX_SCORE_FILE_BYTES`], with
/// its length.
pub(crate) fn open_score_file(path: &Path) -> Result<(File, u64)> {
    let (file, meta) =
        animescore_fs::open_regular_with_metadata(path).map_err(|e| ScoreFileError::io(path, e))?;
    if meta.len() > MAX_SCORE_FILE_BYTES {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} bytes, larger than the {MAX_SCORE_FILE_BYTES}-byte limit", meta.len()),
        );
        return Err(ScoreFileError::io(path, e));
    }
    Ok((file, meta.len()))
}

/// Key of a path in [`ExistingRows::done`]: the 128-bit stable hash of its text.
pub fn path_key(path: &str) -> u128 {
    animescore_fs::stable_hash(path.as_bytes())
}

/// Reads every row of a score file, calling `each` in file order. Unreadable rows are
/// listed, not fatal; a truncated last line is not read (see [`ExistingRows`]). An error of
/// `each` stops the reading and is returned.
pub fn read_rows<E: From<ScoreFileError>>(
    path: &Path,
    mut each: impl FnMut(ScoreRow) -> Result<(), E>,
) -> Result<ExistingRows, E> {
    let format = ScoreFormat::of_path(path);
    let (mut file, len) = open_score_file(path)?;
    let mut found = ExistingRows::default();
    if !format.is_line_based() {
        let rows: Vec<ScoreRow> = serde_json::from_reader(BufReader::new(file.take(len)))
            .map_err(|e| ScoreFileError::format(path, e))?;
        found.rows = rows.len();
        for r in rows {
            found.done.insert(path_key(&r.path));
            each(r)?;
        }
        return Ok(found);
    }
    found.complete_len =
        complete_length(&mut file, len).map_err(|e| ScoreFileError::io(path, e))?;
    found.truncated_tail = len - found.complete_len;
    file.seek(SeekFrom::Start(0)).map_err(|e| ScoreFileError::io(path, e))?;
    let complete = BufReader::new(file.take(found.complete_len));
    let mut add = |row: ScoreRow, found: &mut ExistingRows| {
        found.done.insert(path_key(&row.path));
        found.rows += 1;
        each(row)
    };
    match format {
        ScoreFormat::Csv => {
            let mut reader = csv::Reader::from_reader(complete);
            let header = reader.headers().map_err(|e| ScoreFileError::format(path, e))?;
            if found.complete_len > 0 && !header.iter().eq(COLUMNS) {
                return Err(ScoreFileError::format(
                    path,
                    format!(
                        "not a score file of this version: columns `{}`, expected `{}`",
                        header.iter().collect::<Vec<_>>().join(","),
                        COLUMNS.join(",")
                    ),
                )
                .into());
            }
            for (i, row) in reader.deserialize::<ScoreRow>().enumerate() {
                match row {
                    Ok(row) => add(row, &mut found)?,
                    Err(e) => found.bad.push(format!("row {}: {e}", i + 1)),
                }
            }
        }
        _ => {
            for (i, line) in complete.lines().enumerate() {
                let line = line.map_err(|e| ScoreFileError::io(path, e))?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<ScoreRow>(&line) {
                    Ok(row) => add(row, &mut found)?,
                    Err(e) => found.bad.push(format!("line {}: {e}", i + 1)),
                }
            }
        }
    }
    Ok(found)
}

/// Length of a file up to and including its last newline (0 without one).
fn complete_length(file: &mut File, len: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let mut buf = vec![0; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// How a [`ScoreWriter`] starts its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the target (at the first row).
    Fresh,
    /// Continue a line-based file after its complete lines (its header kept).
    Append {
        /// Length kept; a truncated last line beyond it is cut off.
        keep: u64,
    },
    /// A JSON array: copy the existing file's rows first.
    CarryJson,
}

/// The open output.
struct Open {
    sink: Box<dyn Write>,
    /// A JSON array's temporary file, renamed over the target at the end.
    temp: Option<PathBuf>,
}

/// Writes score rows batch by batch (see the module doc).
pub struct ScoreWriter {
    target: ScoreTarget,
    format: ScoreFormat,
    mode: WriteMode,
    open: Option<Open>,
    rows: usize,
}

impl ScoreWriter {
    /// A writer that opens `target` at the first row.
    pub fn new(target: ScoreTarget, mode: WriteMode) -> Self {
        let format = target.format();
        Self { target, format, mode, open: None, rows: 0 }
    }

    /// Rows written by this writer.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn io(&self, e: std::io::Error) -> ScoreFileError {
        ScoreFileError::io(self.target.display(), e)
    }

    fn open(&mut self) -> Result<Open> {
        let (sink, temp, header): (Box<dyn Write>, Option<PathBuf>, bool) = match &self.target {
            ScoreTarget::Stdout => (Box::new(std::io::stdout()), None, true),
            ScoreTarget::File(path) if self.target.is_special_file() => {
                let f = OpenOptions::new().write(true).open(path).map_err(|e| self.io(e))?;
                (Box::new(f), None, true)
            }
            ScoreTarget::File(path) if self.format == ScoreFormat::Json => {
                let temp = temp_beside(path);
                let f = File::create(&temp).map_err(|e| ScoreFileError::io(&temp, e))?;
                (Box::new(std::io::BufWriter::new(f)), Some(temp), true)
            }
            ScoreTarget::File(path) => match self.mode {
                WriteMode::Append { keep } if keep > 0 => {
                    let f = OpenOptions::new().write(true).open(path).map_err(|e| self.io(e))?;
                    f.set_len(keep).map_err(|e| self.io(e))?;
                    let f = OpenOptions::new().append(true).open(path).map_err(|e| self.io(e))?;
                    (Box::new(f), None, false)
                }
                _ => (Box::new(File::create(path).map_err(|e| self.io(e))?), None, true),
            },
        };
        let mut open = Open { sink, temp };
        match self.format {
            ScoreFormat::Csv if header => {
                open.sink.write_all(&csv_header()).map_err(|e| self.io(e))?
            }
            ScoreFormat::Json => {
                open.sink.write_all(b"[\n").map_err(|e| self.io(e))?;
                if let (WriteMode::CarryJson, ScoreTarget::File(path)) = (self.mode, &self.target) {
                    let mut carried = Vec::new();
                    read_rows(path, |r| {
                        carried.push(r);
                        Ok::<_, ScoreFileError>(())
                    })?;
                    let bytes = encode(self.format, &carried, true)?;
                    open.sink.write_all(&bytes).map_err(|e| self.io(e))?;
                    self.rows += carried.len();
                }
            }
            _ => {}
        }
        Ok(open)
    }

    /// Opens the output now rather than at the first row: a fresh line-based file is emptied
    /// and gets its header (and is flushed). Lets a caller record what is about to be written
    /// after the old content is gone and before any new row is in.
    pub fn begin(&mut self) -> Result<()> {
        if self.open.is_none() {
            let mut open = self.open()?;
            open.sink.flush().map_err(|e| self.io(e))?;
            self.open = Some(open);
        }
        Ok(())
    }

    /// Appends rows and flushes them to the file.
    pub fn write(&mut self, rows: &[ScoreRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.begin()?;
        let bytes = encode(self.format, rows, self.rows == 0)?;
        let target = self.target.display();
        let open =
            self.open.as_mut().ok_or_else(|| ScoreFileError::format(&target, "output not open"))?;
        let io = |e| ScoreFileError::io(&target, e);
        open.sink.write_all(&bytes).map_err(io)?;
        if self.format.is_line_based() {
            open.sink.flush().map_err(io)?;
        }
        self.rows += rows.len();
        Ok(())
    }

    /// Ends the output: closes a JSON array and renames its temporary file over the target.
    /// Returns whether anything was written (nothing written: the target is untouched).
    pub fn finish(mut self) -> Result<bool> {
        let Some(mut open) = self.open.take() else { return Ok(false) };
        let target = self.target.display();
        let io = |e| ScoreFileError::io(&target, e);
        if self.format == ScoreFormat::Json {
            open.sink.write_all(b"\n]\n").map_err(io)?;
        }
        open.sink.flush().map_err(io)?;
        drop(open.sink);
        if let (Some(temp), ScoreTarget::File(path)) = (open.temp, &self.target) {
            std::fs::rename(&temp, path).map_err(|e| ScoreFileError::io(path, e))?;
        }
        Ok(true)
    }
}

impl Drop for ScoreWriter {
    fn drop(&mut self) {
        // An unfinished JSON array (an error stopped the run) leaves no temporary file.
        if let Some(temp) = self.open.as_ref().and_then(|o| o.temp.as_ref()) {
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// A hidden temporary name beside `path`.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("scores");
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Rewrites a finished score file sorted by score, best first (holds every row in memory).
pub fn sort_file(path: &Path) -> Result<ExistingRows> {
    let mut rows = Vec::new();
    let found = read_rows(path, |r| {
        rows.push(r);
        Ok::<_, ScoreFileError>(())
    })?;
    sort_best_first(&mut rows);
    let bytes = encode_all(ScoreFormat::of_path(path), &rows)?;
    animescore_fs::write_atomic(path, &bytes).map_err(|e| ScoreFileError::io(path, e))?;
    Ok(found)
}

/// Best score first; ties by path, so the order is reproducible.
pub fn sort_best_first(rows: &mut [ScoreRow]) {
    rows.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.path.cmp(&b.path)));
}

/// Rows encoded as a whole file of `format`.
pub fn encode_all(format: ScoreFormat, rows: &[ScoreRow]) -> Result<Vec<u8>> {
    let mut bytes = match format {
        ScoreFormat::Csv => csv_header(),
        ScoreFormat::Json => b"[\n".to_vec(),
        ScoreFormat::JsonLines => Vec::new(),
    };
    bytes.extend(encode(format, rows, true)?);
    if format == ScoreFormat::Json {
        bytes.extend_from_slice(b"\n]\n");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> ScoreRow {
        ScoreRow {
            path: format!("in/{i}.png"),
            filename: i.to_string(),
            score: 10.0 + i as f64,
            ai_probability: Some(0.25),
            sanity_class: Some(0),
            sanity_level: Some(2),
            top_tags: vec![("a".into(), 0.9), ("b".into(), 0.6)],
            percentile: Some(50.0),
            tier: Some(Tier::Good),
        }
    }

    fn read_all(path: &Path) -> (Vec<ScoreRow>, ExistingRows) {
        let mut rows = Vec::new();
        let found = read_rows(path, |r| {
            rows.push(r);
            Ok::<_, ScoreFileError>(())
        })
        .unwrap();
        (rows, found)
    }

    /// Every format: rows written in two batches read back equal; a line-based file cut in
    /// a row keeps its complete rows and is continued; a JSON array carries its rows over.
    #[test]
    fn write_cut_resume_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<ScoreRow> = (0..5).map(row).collect();
        for name in ["s.csv", "s.jsonl", "s.json"] {
            let path = dir.path().join(name);
            let mut w = ScoreWriter::new(ScoreTarget::File(path.clone()), WriteMode::Fresh);
            w.write(&all[..2]).unwrap();
            w.write(&all[2..]).unwrap();
            assert!(w.finish().unwrap());
            let (rows, found) = read_all(&path);
            assert_eq!(rows, all, "{name}");
            assert!(found.done.contains(&path_key("in/3.png")));

            let text = std::fs::read_to_string(&path).unwrap();
            let mode = if ScoreFormat::of_path(&path).is_line_based() {
                // Cut inside the fourth row.
                let cut = text.match_indices('\n').nth(if name.ends_with("csv") { 3 } else { 2 });
                std::fs::write(&path, &text[..cut.unwrap().0 + 5]).unwrap();
                let (rows, found) = read_all(&path);
                assert_eq!(rows, all[..3], "{name}");
                assert_eq!(found.truncated_tail, 4, "{name}");
                WriteMode::Append { keep: found.complete_len }
            } else {
                std::fs::write(&path, encode_all(ScoreFormat::Json, &all[..3]).unwrap()).unwrap();
                WriteMode::CarryJson
            };
            let mut w = ScoreWriter::new(ScoreTarget::File(path.clone()), mode);
            w.write(&all[3..]).unwrap();
            w.finish().unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name}");
        }
        // Nothing written: the target stays as it was; a foreign CSV is refused.
        let path = dir.path().join("old.csv");
        std::fs::write(&path, "filename,score\nx,1\n").unwrap();
        let w = ScoreWriter::new(ScoreTarget::File(path.clone()), WriteMode::Fresh);
        assert!(!w.finish().unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "filename,score\nx,1\n");
        let err = read_rows(&path, |_| Ok::<_, ScoreFileError>(())).unwrap_err().to_string();
        assert!(err.contains("not a score file of this version"), "{err}");
    }
}
