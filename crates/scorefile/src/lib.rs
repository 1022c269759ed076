//! The score file that `animescore predict` writes and `curate` and the gallery read: one
//! row per image with the columns [`COLUMNS`]
//! (`path,filename,score,ai_probability,sanity_class,sanity_level,top_tags,percentile,tier`),
//! as CSV, JSON lines or a JSON array. No Burn dependency.
//!
//! - Writing: [`ScoreWriter`] appends and flushes batch by batch (resumable after a kill);
//!   [`encode_all`] / [`sort_file`] for whole files.
//! - Reading the contract: [`read_rows`] yields [`ScoreRow`]s of this version and says what
//!   `--resume` continues ([`ExistingRows`]).
//! - Reading for display: [`read_scores`] also accepts older JSON output and files with
//!   fewer columns, and resolves image paths against the file's folder.
//! - Tiers: [`Tier`] names and the [`TierCuts`] between them.
//!
//! ```no_run
//! use animescore_scorefile::{ScoreFileError, read_rows};
//! let found = read_rows(std::path::Path::new("scores.csv"), |row| {
//!     println!("{:>6.2} {}", row.score, row.path);
//!     Ok::<_, ScoreFileError>(())
//! })?;
//! println!("{} rows, {} unreadable", found.rows, found.bad.len());
//! # Ok::<(), ScoreFileError>(())
//! ```

mod contract;
mod error;
mod lenient;
mod tier;
mod top_tags;

pub use contract::{
    COLUMNS, ExistingRows, MAX_SCORE_FILE_BYTES, ScoreFormat, ScoreRow, ScoreTarget, ScoreWriter,
    WriteMode, encode_all, path_key, read_rows, sort_best_first, sort_file,
};
pub use error::{Result, ScoreFileError};
pub use lenient::{ScoresFile, read_scores};
pub use tier::{DEFAULT_CUTS, Tier, TierCuts};
pub use top_tags::parse_top_tags;
