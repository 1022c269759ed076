//! Acting on an animescore score file, with no deep-learning dependency: select rows by
//! score, tier or rank ([`Selection`]); copy, move or link the selected images with their
//! metadata and captions ([`Transfer`]), never overwriting, every action recorded in a
//! manifest that [`undo`] reverts; write caption files with the tier and score
//! ([`CaptionOptions`]).
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

pub use captions::{
    CaptionChange, CaptionMode, CaptionOptions, caption_path, caption_tags, updated_caption,
    write_caption,
};
pub use curation::{
    CurateOptions, CurateReport, ManifestRow, Selection, Status, Transfer, TransferKind,
    UndoReport, companions, curate, undo,
};
pub use error::{CurateError, Result};
