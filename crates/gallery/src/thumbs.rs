//! Thumbnails: each image decoded (a JPEG at reduced DCT scale), shrunk so that its longer
//! side is at most the size asked (never enlarged) and JPEG-encoded, on every core. They are
//! embedded as `data:` URIs, or written into a thumbnail folder as `B/I.jpg` (card `I` of the
//! page, best score first; `B = I / 1000`, so no folder holds more than 1000 files), the
//! layout the page's script links to.
//!
//! The folder is built beside its final place (`DIR.partial`) and renamed over the old one
//! at the end; a folder is only ever replaced when it holds the marker file that this module
//! writes, so a folder of the user's that happens to have the name is never deleted.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use animescore_backbones::{BackboneError, load_rgb};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use rayon::prelude::*;

use crate::base64;
use crate::cards::Thumb;
use crate::error::{GalleryError, Result};
use crate::{GalleryProgress, THUMBS_MARKER};

/// JPEG quality of the thumbnails.
const QUALITY: u8 = 82;
/// Thumbnails per subfolder.
pub const PER_FOLDER: usize = 1000;

/// A thumbnail's JPEG bytes, its longer side at most `max_side`; the error is the reason only.
pub fn jpeg(path: &Path, max_side: u32) -> Result<Vec<u8>, String> {
    let shrink = |w: u32, h: u32| f64::from(max_side) / f64::from(w.max(h).max(1));
    let image = load_rgb(path, shrink).map_err(|e| match e {
        BackboneError::File { reason, .. } => reason,
        other => other.to_string(),
    })?;
    let (w, h) = image.dimensions();
    let image = if w.max(h) > max_side {
        let scale = f64::from(max_side) / f64::from(w.max(h));
        let side = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
        image::imageops::resize(&image, side(w), side(h), FilterType::Triangle)
    } else {
        image
    };
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, QUALITY)
        .encode_image(&image)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Thumbnails of `paths` as `data:` URIs, in order.
pub fn embedded(paths: &[&Path], max_side: u32, progress: &dyn GalleryProgress) -> Vec<Thumb> {
    progress.start(paths.len());
    paths
        .par_iter()
        .map(|path| {
            let thumb = match jpeg(path, max_side) {
                Ok(bytes) => {
                    Thumb::Embedded(format!("data:image/jpeg;base64,{}", base64::encode(&bytes)))
                }
                Err(reason) => Thumb::Missing(reason),
            };
            progress.advance();
            thumb
        })
        .collect()
}

/// The file of card `index` under a thumbnail folder.
pub fn relative_path(index: usize) -> PathBuf {
    PathBuf::from((index / PER_FOLDER).to_string()).join(format!("{index}.jpg"))
}

/// Writes the thumbnails of `paths` into `dir` (replacing a thumbnail folder written before)
/// and returns what each card got.
pub fn folder(
    paths: &[&Path],
    max_side: u32,
    dir: &Path,
    progress: &dyn GalleryProgress,
) -> Result<Vec<Thumb>> {
    let partial = partial_dir(dir);
    remove_ours(&partial)?;
    fn io(path: &Path) -> impl Fn(std::io::Error) -> GalleryError + '_ {
        move |source| GalleryError::Io { path: path.to_path_buf(), source }
    }
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    let marker = partial.join(THUMBS_MARKER);
    std::fs::write(&marker, b"thumbnails of an animescore gallery page\n").map_err(io(&marker))?;
    for bucket in 0..paths.len().div_ceil(PER_FOLDER) {
        let sub = partial.join(bucket.to_string());
        std::fs::create_dir(&sub).map_err(io(&sub))?;
    }
    progress.start(paths.len());
    let thumbs = paths
        .par_iter()
        .enumerate()
        .map(|(i, path)| {
            let thumb = match jpeg(path, max_side) {
                Ok(bytes) => {
                    let file = partial.join(relative_path(i));
                    std::fs::write(&file, bytes).map_err(io(&file))?;
                    Thumb::File
                }
                Err(reason) => Thumb::Missing(reason),
            };
            progress.advance();
            Ok(thumb)
        })
        .collect::<Result<Vec<Thumb>>>()?;
    remove_ours(dir)?;
    std::fs::rename(&partial, dir).map_err(io(dir))?;
    Ok(thumbs)
}

/// Where the folder `dir` is built before it replaces the old one.
pub fn partial_dir(dir: &Path) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.with_file_name(format!("{name}.partial"))
}

/// Removes `dir` if it is a thumbnail folder of ours; nothing there is fine; anything else
/// there is an error.
fn remove_ours(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(GalleryError::Io { path: dir.to_path_buf(), source }),
        Ok(meta) if meta.is_dir() && dir.join(THUMBS_MARKER).is_file() => {}
        Ok(_) => return Err(GalleryError::NotOurs { path: dir.to_path_buf() }),
    }
    std::fs::remove_dir_all(dir)
        .map_err(|source| GalleryError::Io { path: dir.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoGalleryProgress;
    use image::{Rgb, RgbImage};

    #[test]
    fn thumbnails_shrink_but_never_enlarge() {
        let dir = tempfile::tempdir().unwrap();
        let (big, small) = (dir.path().join("big.png"), dir.path().join("small.png"));
        RgbImage::from_pixel(300, 150, Rgb([200, 10, 10])).save(&big).unwrap();
        RgbImage::from_pixel(20, 10, Rgb([10, 200, 10])).save(&small).unwrap();
        let side = |p: &Path| {
            let img = image::load_from_memory(&jpeg(p, 100).unwrap()).unwrap();
            (img.width(), img.height())
        };
        assert_eq!(side(&big), (100, 50));
        assert_eq!(side(&small), (20, 10));
        assert!(jpeg(&dir.path().join("absent.png"), 100).is_err());
    }

    /// The folder is replaced when it is ours, refused when it is not; a thumbnail that
    /// cannot be made leaves its card without one.
    #[test]
    fn the_folder_is_replaced_only_when_ours() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a.png");
        RgbImage::from_pixel(40, 40, Rgb([1, 2, 3])).save(&image).unwrap();
        let absent = dir.path().join("absent.png");
        let thumbs = dir.path().join("page-thumbs");
        let paths = [image.as_path(), absent.as_path()];
        let made = folder(&paths, 32, &thumbs, &NoGalleryProgress).unwrap();
        assert!(matches!(made[..], [Thumb::File, Thumb::Missing(_)]), "{made:?}");
        assert!(thumbs.join("0/0.jpg").is_file() && !thumbs.join("0/1.jpg").exists());
        std::fs::write(thumbs.join("0/stale.jpg"), b"x").unwrap();
        folder(&paths, 32, &thumbs, &NoGalleryProgress).unwrap();
        assert!(!thumbs.join("0/stale.jpg").exists(), "the old folder is replaced");
        assert!(!dir.path().join("page-thumbs.partial").exists());

        let theirs = dir.path().join("theirs-thumbs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("keep.txt"), b"mine").unwrap();
        let err = folder(&paths, 32, &theirs, &NoGalleryProgress).unwrap_err();
        assert!(matches!(err, GalleryError::NotOurs { .. }), "{err}");
        assert!(theirs.join("keep.txt").is_file(), "a folder that is not ours is kept");
    }
}
