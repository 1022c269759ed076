//! The data layer of animescore: gallery-dl Pixiv metadata, the SQLite index, and what training
//! needs from it (AI/sanity encodings, tag vocabularies, splits), plus a synthetic dataset.
//!
//! ```no_run
//! use animescore_dataset::{IngestOptions, NoProgress, ingest};
//! let report = ingest(&IngestOptions::new("dataset"), &NoProgress)?;
//! println!("{} added, {} skipped", report.added, report.skipped());
//! # Ok::<(), animescore_dataset::DatasetError>(())
//! ```

mod characters;
mod date;
mod db;
mod encoding;
mod error;
mod ingest;
mod metadata;
mod scan;
mod split;
mod synth;
mod vocab;

pub use characters::{CharacterAlias, CharacterTable, MAX_ALIAS_TABLE_BYTES, ORIGINAL};
pub use date::parse_date;
pub use db::{
    BUSY_TIMEOUT, DEFAULT_DB_RELATIVE, Database, FileStamp, IllustRecord, IllustRow,
    SCHEMA_VERSION, TagFilter, UpsertCounts,
};
pub use encoding::{AI_TAG_PATTERNS, SANITY_LEVELS, is_ai, sanity_class, sanity_level};
pub use error::{DatasetError, Result};
pub use ingest::{
    IngestOptions, IngestProgress, IngestReport, MAX_JOBS, NoProgress, Problem, ingest,
};
pub use metadata::{PixivMetadata, Tag};
pub use scan::IMAGE_EXTENSIONS;
pub use split::{Split, SplitConfig};
pub use synth::{MAX_SYNTH_COUNT, SYNTH_ID_OFFSET, SynthOptions, SynthReport, synthesize};
pub use vocab::{TagCounter, TagIndex, TagVocabulary};

/// [`animescore_fs::write_atomic`] with the path in the error: the crates above write their
/// files through it.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    animescore_fs::write_atomic(path, bytes).map_err(|e| DatasetError::io(path, e))
}
