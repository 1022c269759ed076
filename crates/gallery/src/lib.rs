//! HTML pages of scored images from `animescore predict`'s output, at any size.
//!
//! The page holds compact card data (a JSON data block, [`MAX_PAGE_BYTES_PER_CARD`] at most
//! per card with the page's own markup) and a script that builds only the cards on screen,
//! so 100,000 cards open in seconds. It sorts by score or name and filters by tier and score
//! range over all cards, also from the URL fragment (e.g.
//! `page.html#tier=great,best&min=60`); a card opens the original image (and its explanation
//! picture, if any) through `file://` links.
//!
//! Thumbnails (downscaled JPEG, made in parallel) are embedded as `data:` URIs up to
//! [`EMBED_LIMIT`] cards, one self-contained file; above it they go into a sibling folder,
//! `PAGE-thumbs/` ([`thumbs_dir`]), which travels with the page. No server, no network: the
//! Content-Security-Policy forbids every fetch, and only the page's own script and style
//! (allowed by their SHA-256 hashes) run, so text from a score file cannot become code.

mod base64;
mod cards;
mod error;
mod html;
mod thumbs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use animescore_fs::{OutputGuard, Shown, lies_within};
use animescore_scorefile::{ScoreRow, read_scores};
pub use error::{GalleryError, Result};

/// Where thumbnails go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Embed {
    /// Embedded up to [`EMBED_LIMIT`] cards, a folder above.
    #[default]
    Auto,
    /// Always embedded: one file, however large.
    Always,
    /// Always in the folder beside the page.
    Never,
}

/// Cards up to which `Embed::Auto` embeds the thumbnails (about 10 KB each: a 20 MB page).
pub const EMBED_LIMIT: usize = 2000;

/// What the page's own markup and card data may take per card, thumbnails apart (checked by
/// the tests at 20,000 cards).
pub const MAX_PAGE_BYTES_PER_CARD: usize = 400;

/// Settings of [`write_gallery`].
#[derive(Debug, Clone)]
pub struct GalleryOptions {
    /// Longer side of the thumbnails in pixels (smaller images are not enlarged).
    pub thumb_size: u32,
    /// A folder of `animescore explain` output: a card links to `DIR/<name>.png` if present.
    pub explanations: Option<PathBuf>,
    /// Page title.
    pub title: String,
    /// Embedded thumbnails or a folder of them.
    pub embed: Embed,
}

impl Default for GalleryOptions {
    fn default() -> Self {
        Self {
            thumb_size: 256,
            explanations: None,
            title: "animescore gallery".into(),
            embed: Embed::Auto,
        }
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
    /// The thumbnail folder, when the thumbnails are not embedded.
    pub thumbs_dir: Option<PathBuf>,
    /// Size of the page in bytes.
    pub page_bytes: usize,
}

/// Progress of the thumbnails, called from several threads.
pub trait GalleryProgress: Sync {
    /// `total` thumbnails are about to be made.
    fn start(&self, _total: usize) {}
    /// One more is done (or failed).
    fn advance(&self) {}
}

/// No progress display.
pub struct NoGalleryProgress;

impl GalleryProgress for NoGalleryProgress {}

/// The file in a thumbnail folder that says `animescore gallery` wrote it (only such a
/// folder is ever replaced).
const THUMBS_MARKER: &str = ".animescore-gallery";

/// Largest thumbnail side accepted.
pub const MAX_THUMB_SIZE: u32 = 1024;

/// The thumbnail folder of a page: `PAGE-thumbs` beside `PAGE.html`.
pub fn thumbs_dir(page: &Path) -> PathBuf {
    let stem = page.file_stem().map_or_else(|| "gallery".into(), |s| s.to_string_lossy());
    page.with_file_name(format!("{stem}-thumbs"))
}

/// Reads `scores` (CSV, JSON lines or JSON, with [`animescore_scorefile::read_scores`]) and
/// writes the page to `out` atomically, its thumbnails embedded or into [`thumbs_dir`] as
/// `options.embed` says. `out` may not be the score file, an image listed in it or an
/// explanation picture (compared by identity, so a link to one counts too), and no input may
/// lie in the thumbnail folder, which is replaced.
pub fn write_gallery(
    scores: &Path,
    out: &Path,
    options: &GalleryOptions,
    progress: &dyn GalleryProgress,
) -> Result<GalleryReport> {
    if options.thumb_size == 0 || options.thumb_size > MAX_THUMB_SIZE {
        return Err(GalleryError::InvalidSetting(format!(
            "thumbnail size {} is not in 1..={MAX_THUMB_SIZE}",
            options.thumb_size
        )));
    }
    // Before reading: a page that is the score file would not parse as one.
    OutputGuard::new(out)
        .check(scores, "the score file")
        .map_err(|e| GalleryError::OutputIsInput(e.to_string()))?;
    let file = read_scores(scores)?;
    let mut rows: Vec<&ScoreRow> = file.rows.iter().collect();
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
    let embed = match options.embed {
        Embed::Auto => rows.len() <= EMBED_LIMIT,
        Embed::Always => true,
        Embed::Never => false,
    };
    let paths: Vec<&Path> = rows.iter().map(|r| Path::new(&r.path)).collect();
    refuse_inputs_as_outputs(out, scores, &paths, options, !embed)?;
    let (thumbnails, folder) = if embed {
        (thumbs::embedded(&paths, options.thumb_size, progress), None)
    } else {
        let dir = thumbs_dir(out);
        (thumbs::folder(&paths, options.thumb_size, &dir, progress)?, Some(dir))
    };
    let explanations: Vec<Option<PathBuf>> =
        rows.iter().map(|r| explanation(options.explanations.as_deref(), r)).collect();
    let mut report = GalleryReport {
        cards: rows.len(),
        skipped_rows: file.skipped,
        explained: explanations.iter().flatten().count(),
        thumbs_dir: folder.clone(),
        ..GalleryReport::default()
    };
    for (path, thumbnail) in paths.iter().zip(&thumbnails) {
        if let cards::Thumb::Missing(reason) = thumbnail {
            tracing::warn!("{}: {}", Shown::path(path), Shown::text(reason));
            report.missing_images.push((path.to_path_buf(), reason.clone()));
        }
    }
    let prefix = folder.as_deref().map(|dir| {
        let name = dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        format!("{}/", html::percent_encode(&name))
    });
    let data = cards::card_data(&rows, &thumbnails, &explanations, prefix.as_deref(), options);
    let page = html::page(&options.title, &cards::tiers_present(&rows), &data);
    report.page_bytes = page.len();
    animescore_fs::write_atomic(out, page.as_bytes())
        .map_err(|source| GalleryError::Io { path: out.to_path_buf(), source })?;
    Ok(report)
}

/// Refuses a page that is one of its inputs (a listed image, an explanation picture: by
/// identity) and, when the thumbnails go into a folder, any of those that lies in
/// the thumbnail folder or its `.partial` twin, which are replaced.
fn refuse_inputs_as_outputs(
    out: &Path,
    scores: &Path,
    images: &[&Path],
    options: &GalleryOptions,
    thumbs_folder: bool,
) -> Result<()> {
    let guard = OutputGuard::new(out);
    let refuse = |e: std::io::Error| GalleryError::OutputIsInput(e.to_string());
    let explanations = options.explanations.as_deref().filter(|d| d.is_dir());
    if guard.is_active() {
        for image in images {
            guard.check(image, "an image listed in the score file").map_err(refuse)?;
        }
        if let Some(dir) = explanations {
            guard.check_folder(dir, "a file of the explanations folder").map_err(refuse)?;
        }
    }
    if !thumbs_folder {
        return Ok(());
    }
    // Folders, not files: one check per distinct folder (100,000 images sit in a few).
    let folders: BTreeSet<&Path> = images
        .iter()
        .map(|p| p.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        .chain(scores.parent().filter(|p| !p.as_os_str().is_empty()))
        .chain(explanations)
        .collect();
    let dir = thumbs_dir(out);
    let partial = thumbs::partial_dir(&dir);
    for folder in folders {
        for replaced in [&dir, &partial] {
            if lies_within(folder, replaced) {
                return Err(GalleryError::OutputIsInput(format!(
                    "refusing to write {}: the thumbnail folder is replaced, and the input \
                     folder {} lies in it (choose another --out)",
                    Shown::path(replaced),
                    Shown::path(folder)
                )));
            }
        }
    }
    Ok(())
}

/// The explanation picture of a row in `dir`, if there is one.
fn explanation(dir: Option<&Path>, row: &ScoreRow) -> Option<PathBuf> {
    let stem = Path::new(&row.path).file_stem()?.to_string_lossy().into_owned();
    Some(dir?.join(format!("{stem}.png"))).filter(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// The thumbnail folder (and its `.partial` twin) is replaced as a whole: a page whose
    /// images lie in it is refused before anything is written, even when the folder is a
    /// thumbnail folder of ours.
    #[test]
    fn no_input_lies_in_the_thumbnail_folder() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("page.html");
        for folder in [thumbs_dir(&page), thumbs::partial_dir(&thumbs_dir(&page))] {
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(THUMBS_MARKER), b"").unwrap();
            let image = folder.join("a.png");
            RgbImage::from_pixel(8, 8, Rgb([9, 9, 9])).save(&image).unwrap();
            let scores = dir.path().join("scores.csv");
            std::fs::write(&scores, format!("path,score\n{},50\n", image.display())).unwrap();
            let options = GalleryOptions { embed: Embed::Never, ..GalleryOptions::default() };
            let err = write_gallery(&scores, &page, &options, &NoGalleryProgress).unwrap_err();
            assert!(matches!(err, GalleryError::OutputIsInput(_)), "{err}");
            assert!(err.to_string().contains("lies in it"), "{err}");
            assert!(image.is_file() && !page.exists(), "nothing written, nothing removed");
            // Embedded thumbnails leave the folder alone: the same page is fine.
            let options = GalleryOptions { embed: Embed::Always, ..options };
            write_gallery(&scores, &page, &options, &NoGalleryProgress).unwrap();
            assert!(image.is_file());
            std::fs::remove_file(&page).unwrap();
            std::fs::remove_dir_all(&folder).unwrap();
        }
    }
}
