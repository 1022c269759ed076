//! Typed errors of the gallery crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can stop a gallery from being written (a bad row or image only skips that card).
#[derive(Debug, Error)]
pub enum GalleryError {
    /// Writing the page or a thumbnail failed.
    #[error("{path}", path = animescore_fs::Shown::path(.path))]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The thumbnail folder's place is taken by something `animescore gallery` did not write.
    #[error(
        "{path}: not a thumbnail folder written by `animescore gallery` (it has no {marker} \
         file); move it away or choose another --out",
        path = animescore_fs::Shown::path(.path),
        marker = crate::THUMBS_MARKER
    )]
    NotOurs {
        /// The folder (or file) in the way.
        path: PathBuf,
    },
    /// The scores file cannot be read at all (unreadable, no header, unknown format).
    #[error(transparent)]
    Scores(#[from] animescore_scorefile::ScoreFileError),
    /// An output that is one of the files the page is made from (the score file, an image
    /// listed in it, an explanation picture).
    #[error("{0}")]
    OutputIsInput(String),
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
}

/// Result with [`GalleryError`].
pub type Result<T, E = GalleryError> = std::result::Result<T, E>;
