//! Typed errors of the gallery crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can stop a gallery from being written (a bad row or image only skips that card).
#[derive(Debug, Error)]
pub enum GalleryError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The scores file cannot be read at all (no header, unknown format).
    #[error("{path}: {reason}", path = .path.display())]
    Format {
        /// The scores file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// Writing the page failed.
    #[error(transparent)]
    Dataset(#[from] animescore_dataset::DatasetError),
}

/// Result with [`GalleryError`].
pub type Result<T, E = GalleryError> = std::result::Result<T, E>;
