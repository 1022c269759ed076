//! Caption files beside images (`IMAGE.txt`, kohya / booru style: comma-separated tags) with
//! the image's tier and `score_NN` (the score rounded to a whole number).
//!
//! Tags this module owns are the tier names and `score_<digits>`; updating a caption removes
//! those and adds the current ones (at the end: `append`, at the start: `prepend`), leaving
//! every other tag as it was, so running twice changes nothing and a new model's scores
//! replace the old ones. `skip-existing` leaves any existing caption file alone.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{CurateError, Result};
use animescore_scorefile::{ScoreRow, Tier};

/// How an existing caption is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionMode {
    /// Our tags at the end.
    Append,
    /// Our tags at the start.
    Prepend,
    /// Only images without a caption file get one.
    SkipExisting,
}

impl FromStr for CaptionMode {
    type Err = CurateError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "append" => Ok(Self::Append),
            "prepend" => Ok(Self::Prepend),
            "skip-existing" => Ok(Self::SkipExisting),
            _ => Err(CurateError::InvalidInput(format!(
                "caption mode `{s}`: expected append, prepend or skip-existing"
            ))),
        }
    }
}

/// `--caption-ext` and `--caption-mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionOptions {
    /// Extension of the caption file, with or without the dot (`.txt`).
    pub ext: String,
    /// How an existing caption is treated.
    pub mode: CaptionMode,
}

/// What happened to one caption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionChange {
    /// Created or changed.
    Written,
    /// Already up to date, or left alone (`skip-existing`).
    Unchanged,
}

/// The caption file of an image: the image's name with its extension replaced.
pub fn caption_path(image: &Path, ext: &str) -> PathBuf {
    image.with_extension(ext.trim_start_matches('.'))
}

/// The tags a row contributes: its tier (when it has one) and `score_NN`.
pub fn caption_tags(row: &ScoreRow) -> Vec<String> {
    let tier = row.tier.map(|t| t.name().to_string());
    tier.into_iter().chain([format!("score_{}", row.score.round() as i64)]).collect()
}

fn is_ours(tag: &str) -> bool {
    tag.parse::<Tier>().is_ok()
        || tag
            .strip_prefix("score_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The new caption text, or `None` to leave the file as it is.
pub fn updated_caption(
    existing: Option<&str>,
    ours: &[String],
    mode: CaptionMode,
) -> Option<String> {
    let Some(text) = existing else {
        return Some(format!("{}\n", ours.join(", ")));
    };
    if mode == CaptionMode::SkipExisting {
        return None;
    }
    let others = text.split(',').map(str::trim).filter(|t| !t.is_empty() && !is_ours(t));
    let tags: Vec<&str> = match mode {
        CaptionMode::Prepend => ours.iter().map(String::as_str).chain(others).collect(),
        _ => others.chain(ours.iter().map(String::as_str)).collect(),
    };
    let newline = if text.ends_with('\n') || text.is_empty() { "\n" } else { "" };
    let new = format!("{}{newline}", tags.join(", "));
    (new != text).then_some(new)
}

/// Writes or updates the caption of a row's image (nothing on a dry run; the change that
/// would be made is returned all the same).
pub fn write_caption(
    row: &ScoreRow,
    opts: &CaptionOptions,
    dry_run: bool,
) -> Result<CaptionChange> {
    let path = caption_path(Path::new(&row.path), &opts.ext);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CurateError::io(&path, e)),
    };
    match updated_caption(existing.as_deref(), &caption_tags(row), opts.mode) {
        None => Ok(CaptionChange::Unchanged),
        Some(_) if dry_run => Ok(CaptionChange::Written),
        Some(text) => {
            animescore_fs::write_atomic(&path, text.as_bytes())
                .map_err(|e| CurateError::io(&path, e))?;
            Ok(CaptionChange::Written)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &Path, score: f64, tier: Tier) -> ScoreRow {
        ScoreRow {
            path: path.to_string_lossy().into_owned(),
            filename: "x".into(),
            score,
            ai_probability: Some(0.1),
            sanity_class: Some(0),
            sanity_level: Some(2),
            top_tags: Vec::new(),
            percentile: Some(50.0),
            tier: Some(tier),
        }
    }

    #[test]
    fn captions_are_idempotent_in_every_mode() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a.png");
        let caption = dir.path().join("a.txt");
        let r = row(&image, 87.4, Tier::Great);
        for mode in [CaptionMode::Append, CaptionMode::Prepend, CaptionMode::SkipExisting] {
            std::fs::write(&caption, "1girl, solo, good, score_12\n").unwrap();
            let opts = CaptionOptions { ext: ".txt".into(), mode };
            let first = write_caption(&r, &opts, false).unwrap();
            let after_first = std::fs::read_to_string(&caption).unwrap();
            let second = write_caption(&r, &opts, false).unwrap();
            assert_eq!(second, CaptionChange::Unchanged, "{mode:?}");
            assert_eq!(std::fs::read_to_string(&caption).unwrap(), after_first, "{mode:?}");
            let expected = match mode {
                CaptionMode::Append => "1girl, solo, great, score_87\n",
                CaptionMode::Prepend => "great, score_87, 1girl, solo\n",
                CaptionMode::SkipExisting => "1girl, solo, good, score_12\n",
            };
            assert_eq!(after_first, expected, "{mode:?}");
            assert_eq!(first == CaptionChange::Written, mode != CaptionMode::SkipExisting);
        }
        // A missing caption is created in every mode; a dry run writes nothing.
        std::fs::remove_file(&caption).unwrap();
        let opts = CaptionOptions { ext: "txt".into(), mode: CaptionMode::SkipExisting };
        assert_eq!(write_caption(&r, &opts, true).unwrap(), CaptionChange::Written);
        assert!(!caption.exists());
        write_caption(&r, &opts, false).unwrap();
        assert_eq!(std::fs::read_to_string(&caption).unwrap(), "great, score_87\n");
        // A new score replaces the old tags.
        let opts = CaptionOptions { ext: ".txt".into(), mode: CaptionMode::Append };
        write_caption(&row(&image, 12.0, Tier::Worst), &opts, false).unwrap();
        assert_eq!(std::fs::read_to_string(&caption).unwrap(), "worst, score_12\n");
    }
}
