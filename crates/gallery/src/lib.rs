//! One self-contained HTML page of scored images, from `animescore predict`'s output.
//!
//! Thumbnails are embedded as downscaled `data:` URIs; score, tier, AI probability and top
//! tags are shown per card; the page sorts by score and filters by tier and score range
//! (also from the URL fragment, e.g. `page.html#tier=great,best&min=60`); a card opens the
//! original image (and its explanation picture, if any) through `file://` links. No server,
//! no network: a Content-Security-Policy forbids any fetch, and allows the page's own script
//! by its hash only (no other inline script can run).

mod error;
mod html;
mod thumbs;

use std::path::{Path, PathBuf};

use animescore_scorefile::{ScoreRow, read_scores};
pub use error::{GalleryError, Result};

/// Settings of [`write_gallery`].
#[derive(Debug, Clone)]
pub struct GalleryOptions {
    /// Longer side of the embedded thumbnails in pixels.
    pub thumb_size: u32,
    /// A folder of `animescore explain` output: a card links to `DIR/<name>.png` if present.
    pub explanations: Option<PathBuf>,
    /// Page title.
    pub title: String,
}

impl Default for GalleryOptions {
    fn default() -> Self {
        Self { thumb_size: 256, explanations: None, title: "animescore gallery".into() }
    }
}

/// What [`write_gallery`] did.
#[derive(Debug, Default)]
pub struct GalleryReport {
    /// Cards on the page.
    pub cards: usize,
    /// Cards without a thumbnail (image missing or unreadable) and why.
    pub missing_images: Vec<(PathBuf, String)>,
    /// Records of the scores file that were skipped (record number, reason).
    pub skipped_rows: Vec<(usize, String)>,
    /// Cards linked to an explanation picture.
    pub explained: usize,
}

/// Largest thumbnail side accepted.
pub const MAX_THUMB_SIZE: u32 = 1024;

/// Reads `scores` (CSV, JSON lines or JSON, with [`animescore_scorefile::read_scores`]) and
/// writes the page to `out` atomically. `out` may not be the score file, an image listed in
/// it or an explanation picture (compared by identity, so a link to one counts too).
pub fn write_gallery(scores: &Path, out: &Path, options: &GalleryOptions) -> Result<GalleryReport> {
    if options.thumb_size == 0 || options.thumb_size > MAX_THUMB_SIZE {
        return Err(GalleryError::InvalidSetting(format!(
            "thumbnail size {} is not in 1..={MAX_THUMB_SIZE}",
            options.thumb_size
        )));
    }
    let guard = animescore_fs::OutputGuard::new(out);
    let refuse = |e: std::io::Error| GalleryError::OutputIsInput(e.to_string());
    guard.check(scores, "the score file").map_err(refuse)?;
    let file = read_scores(scores)?;
    if guard.is_active() {
        for row in &file.rows {
            guard
                .check(Path::new(&row.path), "an image listed in the score file")
                .map_err(refuse)?;
        }
        if let Some(dir) = options.explanations.as_deref().filter(|d| d.is_dir()) {
            guard.check_folder(dir, "a file of the explanations folder").map_err(refuse)?;
        }
    }
    let (html, mut report) = render(&file.rows, options);
    report.skipped_rows = file.skipped;
    animescore_fs::write_atomic(out, html.as_bytes())
        .map_err(|source| GalleryError::Io { path: out.to_path_buf(), source })?;
    Ok(report)
}

/// The page for `rows`, best score first, and what it holds.
pub fn render(rows: &[ScoreRow], options: &GalleryOptions) -> (String, GalleryReport) {
    let mut sorted: Vec<&ScoreRow> = rows.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let explanations: Vec<Option<PathBuf>> = sorted
        .iter()
        .map(|r| {
            let dir = options.explanations.as_ref()?;
            let stem = Path::new(&r.path).file_stem().map(|s| s.to_string_lossy().into_owned())?;
            Some(dir.join(format!("{stem}.png"))).filter(|p| p.is_file())
        })
        .collect();
    let mut report = GalleryReport::default();
    let cards: Vec<html::Card<'_>> = sorted
        .iter()
        .zip(&explanations)
        .map(|(row, explanation)| {
            let path = Path::new(&row.path);
            let thumbnail = thumbs::thumbnail_uri(path, options.thumb_size);
            if let Err(reason) = &thumbnail {
                tracing::warn!("{}: {reason}", path.display());
                report.missing_images.push((path.to_path_buf(), reason.clone()));
            }
            html::Card { row, thumbnail, explanation: explanation.as_deref() }
        })
        .collect();
    report.cards = cards.len();
    report.explained = explanations.iter().flatten().count();
    (html::page(&options.title, options.thumb_size, &cards), report)
}
