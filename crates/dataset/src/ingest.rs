//! Building and updating the index from a dataset folder.
//!
//! Incremental and idempotent: a file whose size, modification time and pairing are unchanged is
//! not even read; a changed file is re-parsed and its row replaced only if its bytes changed.
//! Parsing runs in parallel (rayon); one writer thread commits batches in transactions, so a
//! run killed at any point leaves every committed batch and the next run finishes the job.
//! Unusable inputs are reported (path and reason) and skipped; they never stop the run.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::UNIX_EPOCH;

use rayon::prelude::*;

use crate::characters::CharacterTable;
use crate::db::{DEFAULT_DB_RELATIVE, Database, FileStamp, IllustRow, SourceState};
use crate::error::{DatasetError, Result};
use crate::metadata::{MAX_METADATA_BYTES, PixivMetadata};
use crate::scan::{Pair, scan};

const ALIAS_HASH_KEY: &str = "character_aliases_xxh3";

/// Most parser threads `jobs` may ask for (thousands of threads never finish starting).
pub const MAX_JOBS: usize = 512;

/// Settings of one ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The dataset folder.
    pub root: PathBuf,
    /// Index file; default `{root}/.database/metadata.sqlite3`.
    pub db_path: Option<PathBuf>,
    /// Character-alias table (SQLite, CSV or JSON). Without one, the table stored by an earlier
    /// run is reused.
    pub characters: Option<PathBuf>,
    /// Parser threads; default: all cores.
    pub jobs: Option<usize>,
    /// Rows per transaction.
    pub batch_size: usize,
}

impl IngestOptions {
    /// Defaults for `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), db_path: None, characters: None, jobs: None, batch_size: 1000 }
    }

    /// The index file this run writes.
    pub fn db_path(&self) -> PathBuf {
        self.db_path.clone().unwrap_or_else(|| self.root.join(DEFAULT_DB_RELATIVE))
    }
}

/// An input that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// Receives progress from [`ingest`]; the CLI draws a bar with it. All methods are optional.
pub trait IngestProgress: Sync {
    /// Number of metadata files that will be looked at.
    fn start(&self, _total: usize) {}
    /// `n` more files done.
    fn advance(&self, _n: usize) {}
    /// A skipped input (also collected in the report).
    fn problem(&self, _problem: &Problem) {}
}

/// Progress sink that ignores everything.
pub struct NoProgress;
impl IngestProgress for NoProgress {}

/// What an ingest run did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct IngestReport {
    /// The index written.
    pub db_path: PathBuf,
    /// Metadata files found.
    pub scanned: usize,
    /// New rows.
    pub added: usize,
    /// Rows replaced because their file changed.
    pub updated: usize,
    /// Files already indexed as they are.
    pub unchanged: usize,
    /// Rows whose `tag_character` changed because the alias table changed.
    pub characters_refreshed: usize,
    /// Skipped inputs.
    pub problems: Vec<Problem>,
    /// Rows in the index after the run.
    pub total_rows: usize,
}

impl IngestReport {
    /// Number of skipped inputs.
    pub fn skipped(&self) -> usize {
        self.problems.len()
    }
}

enum Outcome {
    Row(Box<IllustRow>, bool),
    Unchanged(String, FileStamp),
    Problem(Problem),
}

/// Builds or updates the index of `opts.root`.
pub fn ingest(opts: &IngestOptions, progress: &dyn IngestProgress) -> Result<IngestReport> {
    if opts.batch_size == 0 {
        return Err(DatasetError::InvalidArgument {
            name: "batch_size",
            reason: "must be at least 1".into(),
        });
    }
    if let Some(jobs) = opts.jobs.filter(|&j| j > MAX_JOBS) {
        return Err(DatasetError::InvalidArgument {
            name: "jobs",
            reason: format!("{jobs} threads is above the limit of {MAX_JOBS}"),
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()
        .map_err(|e| DatasetError::InvalidArgument { name: "jobs", reason: e.to_string() })?;
    let db_path = opts.db_path();
    let root = opts.root.as_path();
    // Read everything that can fail before touching the database.
    let given_table = opts.characters.as_deref().map(CharacterTable::load).transpose()?;
    let scanned = scan(root)?;
    let mut db = Database::open(&db_path)?;

    let mut report = IngestReport {
        db_path: db_path.clone(),
        scanned: scanned.pairs.len(),
        ..Default::default()
    };
    let problem = |report: &mut IngestReport, path: PathBuf, reason: String| {
        let p = Problem { path, reason };
        progress.problem(&p);
        report.problems.push(p);
    };
    for (dir, why) in scanned.unreadable {
        problem(&mut report, dir, format!("cannot read: {why}"));
    }
    for (path, why) in scanned.skipped {
        problem(&mut report, path, why);
    }
    for image in scanned.orphan_images {
        problem(&mut report, image, "image without metadata".into());
    }
    for (dup, first) in scanned.duplicates {
        problem(
            &mut report,
            dup,
            format!("same file name already indexed from {}", first.display()),
        );
    }

    let (table, table_changed) = match given_table {
        Some(t) => {
            let hash = alias_fingerprint(&t);
            let changed = db.meta(ALIAS_HASH_KEY)?.as_deref() != Some(hash.as_str());
            (t, changed.then_some(hash))
        }
        None => (db.stored_characters()?.unwrap_or_default(), None),
    };

    let states = db.source_states()?;
    progress.start(scanned.pairs.len());
    let mut candidates: Vec<Candidate> = Vec::new();
    for pair in scanned.pairs {
        let Some(image) = &pair.image else {
            problem(&mut report, pair.metadata.clone(), "metadata without image".into());
            progress.advance(1);
            continue;
        };
        let image_rel = relative(root, image);
        let metadata_rel = relative(root, &pair.metadata);
        let state = states.get(&pair.base);
        // Only files already indexed are stat'ed here; new ones are stat'ed by the parallel
        // readers, so each file is stat'ed once.
        let stat_now = state.and_then(|_| stat(&pair.metadata).ok());
        let unchanged = state.zip(stat_now).is_some_and(|(s, stamp)| {
            s.image_path.as_deref() == Some(image_rel.as_str())
                && s.metadata_path.as_deref() == Some(metadata_rel.as_str())
                && s.matches(&stamp)
        });
        if unchanged {
            report.unchanged += 1;
            progress.advance(1);
        } else {
            candidates.push(Candidate { pair, image_rel, metadata_rel, stat: stat_now });
        }
    }

    let (tx, rx) = mpsc::sync_channel::<Vec<Outcome>>(2);
    let writer_result = std::thread::scope(|scope| {
        let writer = scope.spawn(|| -> Result<Database> {
            for batch in rx {
                let mut rows = Vec::new();
                let mut touched = Vec::new();
                for outcome in batch {
                    match outcome {
                        Outcome::Row(row, _) => rows.push(*row),
                        Outcome::Unchanged(f, stamp) => touched.push((f, stamp)),
                        Outcome::Problem(_) => {}
                    }
                }
                db.upsert(&rows)?;
                db.touch_sources(&touched)?;
            }
            Ok(db)
        });
        for chunk in candidates.chunks(opts.batch_size) {
            let outcomes: Vec<Outcome> = pool.install(|| {
                chunk.par_iter().map(|c| read_one(c, states.get(&c.pair.base), &table)).collect()
            });
            for outcome in &outcomes {
                match outcome {
                    Outcome::Row(_, true) => report.added += 1,
                    Outcome::Row(_, false) => report.updated += 1,
                    Outcome::Unchanged(..) => report.unchanged += 1,
                    Outcome::Problem(p) => {
                        progress.problem(p);
                        report.problems.push(p.clone());
                    }
                }
            }
            progress.advance(chunk.len());
            if tx.send(outcomes).is_err() {
                // The writer stopped on an error; it is returned below.
                break;
            }
        }
        drop(tx);
        writer.join().unwrap_or_else(|_| {
            Err(DatasetError::InvalidArgument {
                name: "writer",
                reason: "database writer thread panicked".into(),
            })
        })
    });
    let mut db = writer_result?;

    if let Some(hash) = table_changed {
        report.characters_refreshed = db.replace_characters(&table)?;
        db.set_meta(ALIAS_HASH_KEY, &hash)?;
    }
    report.total_rows = db.count()?;
    Ok(report)
}

/// A metadata file that has to be read: new, moved, or with another size or mtime.
struct Candidate {
    pair: Pair,
    image_rel: String,
    metadata_rel: String,
    /// The file's stamp when the scan already took it.
    stat: Option<FileStamp>,
}

fn read_one(c: &Candidate, state: Option<&SourceState>, table: &CharacterTable) -> Outcome {
    let (pair, image_rel) = (&c.pair, c.image_rel.as_str());
    let problem = |reason: String| {
        Outcome::Problem(crate::ingest::Problem { path: pair.metadata.clone(), reason })
    };
    let stamp = match c.stat.map_or_else(|| stat(&pair.metadata), Ok) {
        Ok(s) => s,
        Err(e) => return problem(e.to_string()),
    };
    let size = stamp.size;
    if size as u64 > MAX_METADATA_BYTES {
        return problem(format!(
            "{size} bytes is larger than the {MAX_METADATA_BYTES}-byte limit for metadata"
        ));
    }
    // The size above is what the file claims (0 for a link to /dev/zero): the read itself is
    // capped, and only regular files are opened (a FIFO would block forever).
    let bytes = match animescore_fs::read_regular(&pair.metadata, MAX_METADATA_BYTES) {
        Ok(b) => b,
        Err(e) => return problem(format!("cannot read: {e}")),
    };
    let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
    if let Some(s) = state
        && s.hash.as_deref() == Some(hash.as_str())
        && s.image_path.as_deref() == Some(image_rel)
    {
        return Outcome::Unchanged(pair.base.clone(), stamp);
    }
    let meta = match PixivMetadata::parse(&pair.metadata, &bytes) {
        Ok(m) => m,
        Err(DatasetError::Field { field, reason, .. }) => {
            return problem(format!("field `{field}`: {reason}"));
        }
        Err(DatasetError::Json { message, .. }) => {
            return problem(format!("invalid JSON: {message}"));
        }
        Err(e) => return problem(e.to_string()),
    };
    let tag_character = table.tag_character(meta.tags.iter().map(|t| t.name.as_str()));
    let row = IllustRow {
        filename: pair.base.clone(),
        meta,
        tag_character,
        image_path: Some(image_rel.to_string()),
        metadata_path: c.metadata_rel.clone(),
        source_size: stamp.size,
        source_mtime_ns: stamp.mtime_ns,
        source_hash: hash,
        source_ctime_ns: stamp.ctime_ns,
        source_inode: stamp.inode,
    };
    Outcome::Row(Box::new(row), state.is_none())
}

fn stat(path: &Path) -> std::io::Result<FileStamp> {
    let meta = std::fs::metadata(path)?;
    let mtime_ns =
        meta.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    let (ctime_ns, inode) = change_time_and_inode(&meta);
    Ok(FileStamp { size: meta.len() as i64, mtime_ns, ctime_ns, inode })
}

#[cfg(unix)]
fn change_time_and_inode(meta: &std::fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.ctime().saturating_mul(1_000_000_000).saturating_add(meta.ctime_nsec()),
        meta.ino() as i64,
    )
}

/// Elsewhere there is no inode change time: the identity falls back to size and mtime.
#[cfg(not(unix))]
fn change_time_and_inode(_meta: &std::fs::Metadata) -> (i64, i64) {
    (0, 0)
}

/// `path` relative to `root`, with `/` separators (portable across machines).
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn alias_fingerprint(table: &CharacterTable) -> String {
    let mut bytes = Vec::new();
    for (alias, name) in table.pairs() {
        bytes.extend_from_slice(alias.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}
