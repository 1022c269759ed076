//! Caption files beside images (`IMAGE.txt`, kohya / booru style: tags separated by commas or
//! by line breaks) with the image's tier and `score_NN` (the score rounded to a whole number).
//!
//! **What the tool owns.** The tool writes its two tags as an adjacent pair, tier first:
//! `great, score_87`. Updating a caption removes every such pair (a tier name directly
//! followed by `score_<digits>`) and adds the current one at the end (`append`) or the start
//! (`prepend`). Anything else is the user's and stays as it is, character for character: a
//! lone `masterpiece` or `best`, a `score_9` that is not preceded by a tier name, the line
//! breaks, the spacing, a UTF-8 byte-order mark. So running twice changes nothing, and a new
//! model's scores replace the old ones. `skip-existing` leaves any existing caption alone.
//! Rows without a tier get no caption (a score tag alone could not be told from the user's).
//!
//! **Safety.** A caption is never written through a link, never read from a FIFO, device or
//! folder (those are skipped with the reason), and read only up to [`MAX_CAPTION_BYTES`]. Its
//! extension may not be `json` (gallery-dl's metadata), an image extension, or hold a path
//! separator.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{CurateError, Result};
use animescore_fs::{FileId, Shown};
use animescore_scorefile::{ScoreRow, Tier};

/// Largest caption file read (metadata files are capped at 4 MiB the same way).
pub const MAX_CAPTION_BYTES: u64 = 4 << 20;

/// Extensions a caption may not have: metadata and images.
const RESERVED_EXTENSIONS: [&str; 8] = ["json", "png", "jpg", "jpeg", "webp", "gif", "bmp", "avif"];

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
                "caption mode `{}`: expected append, prepend or skip-existing",
                Shown::text(s)
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

impl CaptionOptions {
    /// Checks the extension: one plain name of ASCII letters, digits, `-` and `_` (no path
    /// separator, no second dot), and not `json` (gallery-dl's metadata, which ingest reads)
    /// or an image extension.
    pub fn validate(&self) -> Result<()> {
        let ext = self.ext.strip_prefix('.').unwrap_or(&self.ext);
        let invalid = |why: &str| {
            Err(CurateError::InvalidInput(format!(
                "--caption-ext `{}`: {why}",
                Shown::text(&self.ext)
            )))
        };
        if ext.is_empty() {
            return invalid("needs an extension such as .txt");
        }
        if !ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return invalid(
                "an extension is letters, digits, `-` and `_` only (no path separator)",
            );
        }
        if RESERVED_EXTENSIONS.iter().any(|r| r.eq_ignore_ascii_case(ext)) {
            return invalid(
                "would replace the images' metadata (.json) or images; use .txt or .caption",
            );
        }
        Ok(())
    }
}

/// What happened to one caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptionChange {
    /// Created or changed.
    Written,
    /// Already up to date, or left alone (`skip-existing`).
    Unchanged,
    /// Not touched, and why (a link, a FIFO, too large, not UTF-8, no tier).
    Skipped(String),
}

/// The caption file of an image: the image's name with its extension replaced.
pub fn caption_path(image: &Path, ext: &str) -> PathBuf {
    image.with_extension(ext.trim_start_matches('.'))
}

/// The tags a row contributes, `[tier, score_NN]`; `None` without a tier.
pub fn caption_tags(row: &ScoreRow) -> Option<[String; 2]> {
    let tier = row.tier?;
    Some([tier.name().to_string(), format!("score_{}", row.score.round() as i64)])
}

/// A caption split into tags (`tags[i]` is a byte range of the text, trimmed) and what lies
/// between them.
struct Tags<'a> {
    text: &'a str,
    spans: Vec<(usize, usize)>,
}

impl<'a> Tags<'a> {
    fn new(text: &'a str) -> Self {
        let mut spans = Vec::new();
        let mut start = 0;
        for (i, c) in text.char_indices().chain([(text.len(), ',')]) {
            if c == ',' || c == '\n' {
                let piece = &text[start..i];
                let trimmed = piece.trim();
                if !trimmed.is_empty() {
                    let from = start + (piece.len() - piece.trim_start().len());
                    spans.push((from, from + trimmed.len()));
                }
                start = i + c.len_utf8();
            }
        }
        Self { text, spans }
    }

    fn tag(&self, i: usize) -> &'a str {
        &self.text[self.spans[i].0..self.spans[i].1]
    }

    /// The text between tag `i` and tag `i + 1`.
    fn gap(&self, i: usize) -> &'a str {
        &self.text[self.spans[i].1..self.spans[i + 1].0]
    }

    /// Whether tags `i` and `i + 1` are a pair this tool wrote.
    fn is_our_pair(&self, i: usize) -> bool {
        i + 1 < self.spans.len()
            && Tier::ALL.iter().any(|t| t.name() == self.tag(i))
            && self
                .tag(i + 1)
                .strip_prefix("score_")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// The new caption text, or `None` to leave the file as it is (see the module documentation).
pub fn updated_caption(
    existing: Option<&str>,
    ours: &[String],
    mode: CaptionMode,
) -> Option<String> {
    let Some(full) = existing else {
        return Some(format!("{}\n", ours.join(", ")));
    };
    if mode == CaptionMode::SkipExisting {
        return None;
    }
    let (bom, text) = match full.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", full),
    };
    let tags = Tags::new(text);
    let mut kept: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < tags.spans.len() {
        if tags.is_our_pair(i) {
            i += 2;
        } else {
            kept.push(i);
            i += 1;
        }
    }
    // One tag per line (no comma between tags): ours go on lines of their own too.
    let by_lines = tags.spans.len() > 1
        && (0..tags.spans.len() - 1)
            .all(|g| tags.gap(g).contains('\n') && !tags.gap(g).contains(','));
    let sep = if by_lines { "\n" } else { ", " };
    let mine = ours.join(sep);
    let lead = tags.spans.first().map_or("", |s| &text[..s.0]);
    let tail = tags.spans.last().map_or(text, |s| &text[s.1..]);
    // The user's tags with the separators they had; where our pair was removed between two
    // kept tags, the separator holding a line break (if any) stays.
    let mut body = String::new();
    for (k, &t) in kept.iter().enumerate() {
        if k > 0 {
            let prev = kept[k - 1];
            let gaps: Vec<&str> = (prev..t).map(|g| tags.gap(g)).collect();
            body.push_str(gaps.iter().find(|g| g.contains('\n')).unwrap_or(&gaps[0]));
        }
        body.push_str(tags.tag(t));
    }
    let tags_text = match (body.is_empty(), mode) {
        (true, _) => mine,
        (false, CaptionMode::Prepend) => format!("{mine}{sep}{body}"),
        (false, _) => format!("{body}{sep}{mine}"),
    };
    let tail = if full.is_empty() { "\n" } else { tail };
    let new = format!("{bom}{lead}{tags_text}{tail}");
    (new != full).then_some(new)
}

/// What the caption file at `path` holds: `Ok(None)` when there is none, `Err(reason)` when it
/// must be left alone. Only a regular file (not a link) is read, at most
/// [`MAX_CAPTION_BYTES`], without blocking.
fn existing_caption(path: &Path) -> Result<std::result::Result<Option<String>, String>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) => return Err(CurateError::io(path, e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Ok(Err("is a link; captions are never written through links".into()));
        }
        Ok(m) if !m.is_file() => {
            let what = animescore_fs::file_type_name(&m.file_type());
            return Ok(Err(format!("is a {what}, not a regular file")));
        }
        Ok(_) => {}
    }
    match animescore_fs::read_regular(path, MAX_CAPTION_BYTES) {
        Ok(bytes) => Ok(String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "is not UTF-8 text; left as it is".to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Ok(Err(format!("is larger than {MAX_CAPTION_BYTES} bytes; left as it is")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(Err(e.to_string())),
        Err(e) => Err(CurateError::io(path, e)),
    }
}

/// Writes or updates the caption of a row's image (nothing on a dry run; the change that
/// would be made is returned all the same).
pub fn write_caption(
    row: &ScoreRow,
    opts: &CaptionOptions,
    dry_run: bool,
) -> Result<CaptionChange> {
    opts.validate()?;
    let Some(ours) = caption_tags(row) else {
        return Ok(CaptionChange::Skipped(
            "no tier in the score file (the caption tags are a tier and a score)".into(),
        ));
    };
    let image = Path::new(&row.path);
    let path = caption_path(image, &opts.ext);
    let same = path == image || FileId::of(&path).is_some_and(|id| FileId::of(image) == Some(id));
    if same {
        return Ok(CaptionChange::Skipped("the caption file would be the image itself".into()));
    }
    let existing = match existing_caption(&path)? {
        Ok(existing) => existing,
        Err(reason) => return Ok(CaptionChange::Skipped(reason)),
    };
    match updated_caption(existing.as_deref(), &ours, opts.mode) {
        None => Ok(CaptionChange::Unchanged),
        Some(_) if dry_run => Ok(CaptionChange::Written),
        Some(text) => {
            let written = match existing {
                Some(_) => animescore_fs::replace_file(&path, text.as_bytes()),
                None => animescore_fs::write_new(&path, text.as_bytes()),
            };
            match written {
                Ok(()) => Ok(CaptionChange::Written),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Ok(CaptionChange::Skipped("appeared while it was written; left alone".into()))
                }
                Err(e) => Err(CurateError::io(&path, e)),
            }
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

    fn ours(tier: &str, score: u32) -> Vec<String> {
        vec![tier.into(), format!("score_{score}")]
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

    /// The user's own tier words, score tags, line breaks, spacing and byte-order mark survive
    /// byte for byte; only the adjacent pair the tool writes is replaced.
    #[test]
    fn only_the_tools_pair_is_replaced() {
        let append = CaptionMode::Append;
        let prepend = CaptionMode::Prepend;
        let cases: [(&str, CaptionMode, &str); 7] = [
            (
                "masterpiece, best quality, 1girl,best, good, score_40\n",
                append,
                "masterpiece, best quality, 1girl,best, great, score_87\n",
            ),
            ("score_9, score_8_up, 1girl", append, "score_9, score_8_up, 1girl, great, score_87"),
            ("\u{feff}1girl, solo\n", append, "\u{feff}1girl, solo, great, score_87\n"),
            ("1girl\nsolo\nsmile\n", append, "1girl\nsolo\nsmile\ngreat\nscore_87\n"),
            (
                "1girl, solo, low, score_20\nA girl in a field, smiling.\n",
                prepend,
                "great, score_87, 1girl, solo\nA girl in a field, smiling.\n",
            ),
            ("good,score_3,  blue sky ", append, "blue sky, great, score_87 "),
            ("", append, "great, score_87\n"),
        ];
        for (before, mode, after) in cases {
            let new = updated_caption(Some(before), &ours("great", 87), mode);
            assert_eq!(new.as_deref().unwrap_or(before), after, "{before:?}");
            let again = updated_caption(Some(after), &ours("great", 87), mode);
            assert_eq!(again, None, "twice: {after:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_fifos_huge_files_and_reserved_extensions_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a.png");
        std::fs::write(&image, b"png").unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, b"secret notes\n").unwrap();
        let caption = dir.path().join("a.txt");
        std::os::unix::fs::symlink(&outside, &caption).unwrap();
        let r = row(&image, 50.0, Tier::Good);
        let opts = CaptionOptions { ext: ".txt".into(), mode: CaptionMode::Append };
        let change = write_caption(&r, &opts, false).unwrap();
        assert!(
            matches!(&change, CaptionChange::Skipped(why) if why.contains("link")),
            "{change:?}"
        );
        assert_eq!(std::fs::read(&outside).unwrap(), b"secret notes\n");

        std::fs::remove_file(&caption).unwrap();
        let c = std::ffi::CString::new(caption.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let change = write_caption(&r, &opts, false).unwrap();
        assert!(
            matches!(&change, CaptionChange::Skipped(why) if why.contains("FIFO")),
            "{change:?}"
        );

        std::fs::remove_file(&caption).unwrap();
        let huge = vec![b'a'; MAX_CAPTION_BYTES as usize + 1];
        std::fs::write(&caption, &huge).unwrap();
        let change = write_caption(&r, &opts, false).unwrap();
        assert!(
            matches!(&change, CaptionChange::Skipped(why) if why.contains("larger")),
            "{change:?}"
        );
        assert_eq!(std::fs::metadata(&caption).unwrap().len(), huge.len() as u64);

        for ext in [".json", "JSON", ".png", "../x", "a/b", ".", "t.txt", "x\\y"] {
            let opts = CaptionOptions { ext: ext.into(), mode: CaptionMode::Append };
            assert!(opts.validate().is_err(), "{ext}");
            assert!(write_caption(&r, &opts, false).is_err(), "{ext}");
        }
        assert_eq!(std::fs::read(&image).unwrap(), b"png");
    }
}
