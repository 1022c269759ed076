//! Building and updating the index from a dataset folder.
//!
//! Incremental and idempotent: a file whose size, modification time and pairing are unchanged is
//! not even read; a changed file is re-parsed and its row replaced only if its bytes changed.
//! Parsing runs in parallel (rayon); one writer thread commits batches in transactions, so a
//! run killed at any point leaves every committed batch and the next run finishes the job.
//! Unusable inputs are reported (path and reason) and skipped; they never stop the run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;

use crate::characters::CharacterTable;
use crate::db::{DEFAULT_DB_RELATIVE, Database, FileStamp, IllustRow, SourceState};
use crate::error::{DatasetError, Result};
use crate::metadata::{MAX_METADATA_BYTES, PixivMetadata};
use crate::scan::{Pair, ScanResult, scan};

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

/// What parsing one metadata file gave.
enum Parsed {
    /// A row to write.
    Row(Box<IllustRow>),
    /// The bytes are those already indexed (the file was only touched): record the new stamp.
    SameContent { filename: String, stamp: FileStamp },
    /// The file cannot be used.
    Problem(Problem),
}

/// Source bytes a write batch may hold before it is committed, whatever its row count:
/// metadata files with huge tag lists are committed a few at a time.
const BATCH_SOURCE_BYTES: u64 = 16 * 1024 * 1024;

/// Source bytes read but not yet committed, over all parsers and the writer. Parsers wait
/// above it, so memory is bounded however large the files, while thousands of ordinary
/// (kilobyte) files stay in flight and the parsers never wait for a commit. It exceeds the
/// batch bound by more than one file, so a parser waiting for room always leaves the writer
/// a full batch to commit.
const IN_FLIGHT_SOURCE_BYTES: u64 = BATCH_SOURCE_BYTES + 4 * MAX_METADATA_BYTES;

/// Builds or updates the index of `opts.root`.
///
/// Four stages: `scan` the folder, `plan` which files must be read, `parse_candidate`
/// them in parallel, and an `IndexWriter` thread that commits batches. Batches are bounded in
/// rows and in bytes, and parsers wait while too many bytes are read but not yet committed,
/// so memory is bounded by the batch, not by the dataset or the size of its files.
pub fn ingest(opts: &IngestOptions, progress: &dyn IngestProgress) -> Result<IngestReport> {
    let pool = parser_pool(opts)?;
    let db_path = opts.db_path();
    let root = opts.root.as_path();
    // Read everything that can fail before touching the database.
    let given_table = opts.characters.as_deref().map(CharacterTable::load).transpose()?;
    let scanned = scan(root)?;
    let db = Database::open(&db_path)?;

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
    for (path, reason) in scan_problems(&scanned) {
        problem(&mut report, path, reason);
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
    let planned = plan(root, scanned.pairs, &states, &pool);
    for metadata in planned.without_image {
        problem(&mut report, metadata, "metadata without image".into());
    }
    report.unchanged += planned.unchanged;
    progress.advance(planned.unchanged);

    let in_flight = InFlight::new(IN_FLIGHT_SOURCE_BYTES);
    let writer = IndexWriter::new(db, opts.batch_size, progress, &in_flight);
    let (mut db, written) = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Parsed>();
        let writer = scope.spawn(move || writer.run(rx));
        // A send fails only when the writer stopped on an error, returned by `join` below.
        let _ = pool.install(|| {
            planned.candidates.par_iter().try_for_each_with(tx, |tx, c| {
                let state = states.get(&c.pair.base);
                tx.send(parse_candidate(c, state, &table, &in_flight))
            })
        });
        writer
            .join()
            .unwrap_or_else(|_| Err(DatasetError::WriterPanicked { path: db_path.clone() }))
    })?;
    report.added += written.added;
    report.updated += written.updated;
    report.unchanged += written.unchanged;
    // Parsers finish in any order: sort their problems so that reports are reproducible.
    let mut parse_problems = written.problems;
    parse_problems.sort_by(|a, b| a.path.cmp(&b.path));
    report.problems.extend(parse_problems);

    if let Some(hash) = table_changed {
        report.characters_refreshed = db.replace_characters(&table)?;
        db.set_meta(ALIAS_HASH_KEY, &hash)?;
    }
    report.total_rows = db.count()?;
    Ok(report)
}

/// A byte budget shared by the parsers (which take) and the writer (which gives back after
/// each commit).
struct InFlight {
    bytes: Mutex<u64>,
    freed: Condvar,
    limit: u64,
}

impl InFlight {
    fn new(limit: u64) -> Self {
        Self { bytes: Mutex::new(0), freed: Condvar::new(), limit }
    }

    /// Waits until `n` more bytes fit (or nothing is in flight: one file always passes).
    fn take(&self, n: u64) -> Permit<'_> {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        while *bytes > 0 && *bytes + n > self.limit {
            bytes = self.freed.wait(bytes).unwrap_or_else(|e| e.into_inner());
        }
        *bytes += n;
        Permit { budget: self, bytes: n }
    }

    fn give_back(&self, n: u64) {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        *bytes = bytes.saturating_sub(n);
        self.freed.notify_all();
    }
}

/// Bytes taken from an [`InFlight`] budget, given back when dropped unless handed to the
/// writer with the row ([`Permit::hand_over`]).
struct Permit<'a> {
    budget: &'a InFlight,
    bytes: u64,
}

impl Permit<'_> {
    /// The writer gives the bytes back once the row is committed.
    fn hand_over(mut self) {
        self.bytes = 0;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.give_back(self.bytes);
        }
    }
}

/// The parser threads, `opts` checked first.
fn parser_pool(opts: &IngestOptions) -> Result<rayon::ThreadPool> {
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
    rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()
        .map_err(|e| DatasetError::InvalidArgument { name: "jobs", reason: e.to_string() })
}

/// Everything the scan left out, as `(path, reason)`.
fn scan_problems(scanned: &ScanResult) -> Vec<(PathBuf, String)> {
    let unreadable =
        scanned.unreadable.iter().map(|(dir, why)| (dir.clone(), format!("cannot read: {why}")));
    let skipped = scanned.skipped.iter().cloned();
    let orphans =
        scanned.orphan_images.iter().map(|image| (image.clone(), "image without metadata".into()));
    let duplicates = scanned.duplicates.iter().map(|(dup, first)| {
        (dup.clone(), format!("same file name already indexed from {}", first.display()))
    });
    unreadable.chain(skipped).chain(orphans).chain(duplicates).collect()
}

/// Which scanned files must be read.
struct Plan {
    /// Files to read: new, moved, or with another stamp.
    candidates: Vec<Candidate>,
    /// Files indexed exactly as they are.
    unchanged: usize,
    /// Metadata files without an image, to report.
    without_image: Vec<PathBuf>,
}

/// Compares each pair with what the index stored about it. The `stat` calls of an unchanged
/// re-run are most of its time: they run on the parser threads.
fn plan(
    root: &Path,
    pairs: Vec<Pair>,
    states: &HashMap<String, SourceState>,
    pool: &rayon::ThreadPool,
) -> Plan {
    let mut plan = Plan { candidates: Vec::new(), unchanged: 0, without_image: Vec::new() };
    let (paired, unpaired): (Vec<Pair>, Vec<Pair>) =
        pairs.into_iter().partition(|p| p.image.is_some());
    plan.without_image = unpaired.into_iter().map(|p| p.metadata).collect();
    let looked_at: Vec<(Candidate, bool)> =
        pool.install(|| paired.into_par_iter().map(|pair| compare(root, pair, states)).collect());
    for (candidate, unchanged) in looked_at {
        if unchanged {
            plan.unchanged += 1;
        } else {
            plan.candidates.push(candidate);
        }
    }
    plan
}

/// One pair (with an image) against its stored state: the candidate, and whether it is
/// indexed exactly as it is.
fn compare(root: &Path, pair: Pair, states: &HashMap<String, SourceState>) -> (Candidate, bool) {
    let image_rel = pair.image.as_deref().map(|image| relative(root, image)).unwrap_or_default();
    let metadata_rel = relative(root, &pair.metadata);
    let state = states.get(&pair.base);
    // Only files already indexed are stat'ed here; new ones are stat'ed by the parsers, so
    // each file is stat'ed once.
    let stat_now = state.and_then(|_| stat(&pair.metadata).ok());
    let unchanged = state.zip(stat_now).is_some_and(|(s, stamp)| {
        s.image_path.as_deref() == Some(image_rel.as_str())
            && s.metadata_path.as_deref() == Some(metadata_rel.as_str())
            && s.matches(&stamp)
    });
    (Candidate { pair, image_rel, metadata_rel, stat: stat_now }, unchanged)
}

/// The writer's tally.
#[derive(Default)]
struct Written {
    added: usize,
    updated: usize,
    unchanged: usize,
    problems: Vec<Problem>,
}

/// Receives parsed files and commits them in batches bounded in rows and in source bytes.
struct IndexWriter<'a> {
    db: Database,
    batch_rows: usize,
    progress: &'a dyn IngestProgress,
    in_flight: &'a InFlight,
    rows: Vec<IllustRow>,
    touched: Vec<(String, FileStamp)>,
    pending_bytes: u64,
    written: Written,
}

impl<'a> IndexWriter<'a> {
    fn new(
        db: Database,
        batch_rows: usize,
        progress: &'a dyn IngestProgress,
        in_flight: &'a InFlight,
    ) -> Self {
        Self {
            db,
            batch_rows,
            progress,
            in_flight,
            rows: Vec::new(),
            touched: Vec::new(),
            pending_bytes: 0,
            written: Written::default(),
        }
    }

    fn run(mut self, parsed: mpsc::Receiver<Parsed>) -> Result<(Database, Written)> {
        for item in parsed {
            self.accept(item)?;
        }
        self.commit()?;
        Ok((self.db, self.written))
    }

    fn accept(&mut self, item: Parsed) -> Result<()> {
        match item {
            Parsed::Row(row) => {
                self.pending_bytes += row.source_size.max(0) as u64;
                self.rows.push(*row);
            }
            Parsed::SameContent { filename, stamp } => self.touched.push((filename, stamp)),
            Parsed::Problem(p) => {
                self.progress.problem(&p);
                self.written.problems.push(p);
            }
        }
        self.progress.advance(1);
        let full = self.rows.len() + self.touched.len() >= self.batch_rows;
        if full || self.pending_bytes >= BATCH_SOURCE_BYTES {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if !self.rows.is_empty() {
            let counts = self.db.upsert(&self.rows)?;
            self.written.added += counts.added;
            self.written.updated += counts.updated;
            self.written.unchanged += counts.unchanged;
        }
        if !self.touched.is_empty() {
            self.db.touch_sources(&self.touched)?;
            self.written.unchanged += self.touched.len();
        }
        self.rows.clear();
        self.touched.clear();
        self.in_flight.give_back(self.pending_bytes);
        self.pending_bytes = 0;
        Ok(())
    }
}

/// A metadata file that has to be read: new, moved, or with another size or mtime.
struct Candidate {
    pair: Pair,
    image_rel: String,
    metadata_rel: String,
    /// The file's stamp when the scan already took it.
    stat: Option<FileStamp>,
}

/// Reads and parses one metadata file (bounded read, regular files only), once its size fits
/// the in-flight budget.
fn parse_candidate(
    c: &Candidate,
    state: Option<&SourceState>,
    table: &CharacterTable,
    in_flight: &InFlight,
) -> Parsed {
    let (pair, image_rel) = (&c.pair, c.image_rel.as_str());
    let problem = |reason: String| Parsed::Problem(Problem { path: pair.metadata.clone(), reason });
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
    let permit = in_flight.take(size.max(0) as u64);
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
        return Parsed::SameContent { filename: pair.base.clone(), stamp };
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
    drop(bytes);
    let tag_character = table.tag_character(meta.tags.iter().map(|t| t.name.as_str()));
    // The writer gives the row's `source_size` back after its commit.
    permit.hand_over();
    Parsed::Row(Box::new(IllustRow {
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
    }))
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
