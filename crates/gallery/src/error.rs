//! Typed errors of the gallery crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can stop a gallery from being written (a bad row or image only skips that card).
#[derive(Debug, Error)]
pub enum GalleryError {
    /// Writing the page failed.
    #[error("{path}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
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
