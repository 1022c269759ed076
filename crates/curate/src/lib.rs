//! Acting on an animescore score file, with no deep-learning dependency: select rows by
//! score, tier or rank ([`Selection`]); copy, move or link the selected images with their
//! metadata and captions ([`Transfer`]), never overwriting, every action recorded in a
//! manifest ([`ManifestRow`]: what was created, with its identity and content hash) that
//! [`undo`] reverts only while the files still match; write caption files with the tier and
//! score ([`CaptionOptions`]).
//!
//! Score files, manifests and captions are untrusted input: only image files are acted on,
//! tier folders come from the calibrated [`Tier`](animescore_scorefile::Tier) names, captions
//! are never written through links, and undo never removes the last copy of a file.
//!
//! ```no_run
//! use animescore_curate::{CurateOptions, Selection, curate};
//! use animescore_scorefile::Tier;
//! let opts = CurateOptions {
//!     selection: Selection { min_tier: Some(Tier::Great), ..Selection::default() },
//!     dry_run: true,
//!     ..CurateOptions::default()
//! };
//! let report = curate(std::path::Path::new("scores.csv"), &opts, &mut |_| {})?;
//! println!("{} of {} rows selected", report.selected, report.rows);
//! # Ok::<(), animescore_curate::CurateError>(())
//! ```

mod captions;
mod curation;
mod error;
mod manifest;
mod transfer;

pub use captions::{
    CaptionChange, CaptionMode, CaptionOptions, MAX_CAPTION_BYTES, caption_path, caption_tags,
    updated_caption, write_caption,
};
pub use curation::{CurateOptions, CurateReport, Selection, Transfer, companions, curate};
pub use error::{CurateError, Result};
pub use manifest::{MANIFEST_COLUMNS, MAX_MANIFEST_BYTES, ManifestRow, Status, UndoReport, undo};
pub use transfer::TransferKind;
