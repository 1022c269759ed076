//! The data layer of animescore: gallery-dl Pixiv metadata, the SQLite index, and what training
//! needs from it (AI/sanity encodings, tag vocabularies, splits), plus a synthetic dataset.
//!
//! ```no_run
//! use animescore_dataset::{IngestOptions, NoProgress, ingest};
//! let report = ingest(&IngestOptions::new("dataset"), &NoProgress)?;
//! println!("{} added, {} skipped", report.added, report.skipped());
//! # Ok::<(), animescore_dataset::DatasetError>(())
//! ```

pub mod characters;
pub mod db;
pub mod encoding;
mod error;
pub mod ingest;
pub mod metadata;
pub mod scan;
pub mod split;
pub mod synth;
pub mod vocab;

pub use characters::{CharacterAlias, CharacterTable, ORIGINAL};
pub use db::{DEFAULT_DB_RELATIVE, Database, IllustRecord, SCHEMA_VERSION};
pub use encoding::{SANITY_LEVELS, is_ai, sanity_class, sanity_level};
pub use error::{DatasetError, Result};
pub use ingest::{IngestOptions, IngestProgress, IngestReport, NoProgress, Problem, ingest};
pub use metadata::{PixivMetadata, Tag};
pub use split::{Split, SplitConfig};
pub use synth::{SynthOptions, SynthReport, generate as synthesize, write_atomic};
pub use vocab::TagVocabulary;
