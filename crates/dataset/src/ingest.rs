//! Building and updating the index from a dataset folder.
//!
//! Incremental and idempotent: a file whose size, modification time and pairing are unchanged is
//! not even read; a changed file is re-parsed and its row replaced only if its bytes changed.
//! Parsing runs in parallel (rayon); one writer thread commits batches in transactions, so a
//! run killed at any point leaves every committed batch and the next run finishes the job.
//! Unusable inputs are reported (path and reason) and skipped; they never stop the run.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::Instant;

use rayon::prelude::*;

use crate::characters::CharacterTable;
use crate::db::{DEFAULT_DB_RELATIVE, Database, DerivedColumns, FileStamp, IllustRow, SourceState};
use crate::error::{DatasetError, Result};
use crate::metadata::{MAX_METADATA_BYTES, PixivMetadata};
use crate::scan::{Pair, ScanResult, ensure_folder, scan};

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
#[expect(
    clippy::large_enum_variant,
    reason = "rows are nearly every file: boxing them costs an allocation per file, and the \
              values travel in vectors of a few dozen"
)]
enum Parsed {
    /// A row to write, with the columns computed from it.
    Row(IllustRow, DerivedColumns),
    /// The bytes are those already indexed (the file was only touched): record the new stamp.
    SameContent { filename: String, stamp: FileStamp },
    /// The file cannot be used.
    Problem(Problem),
}

/// Source bytes a write batch may hold before it is committed, whatever its row count:
/// metadata files with huge tag lists are committed a few at a time.
const BATCH_SOURCE_BYTES: u64 = 16 * 1024 * 1024;

/// Source bytes read but not yet committed, over all parsers and the writer. Parsers wait
/// above it, so memory is bounded however large the files (ordinary kilobyte files meet the
/// row bound of the budget first). It exceeds the batch bound by more than one file, so a
/// parser waiting for room always leaves the writer a full batch to commit.
const IN_FLIGHT_SOURCE_BYTES: u64 = BATCH_SOURCE_BYTES + 4 * MAX_METADATA_BYTES;

/// Files a parser hands to the writer at once: one message per file would wake the writer
/// 20 000 times for 20 000 files.
const FILES_PER_MESSAGE: usize = 64;

/// Builds or updates the index of `opts.root`.
///
/// Four stages: `scan` the folder, `plan` which files must be read, `parse_candidate`
/// them in parallel, and an `IndexWriter` thread that commits batches. Batches are bounded in
/// rows and in bytes, and parsers wait while too many rows or bytes are read but not yet
/// committed, so memory is bounded by the batch, not by the dataset or the size of its files.
pub fn ingest(opts: &IngestOptions, progress: &dyn IngestProgress) -> Result<IngestReport> {
    let mut clock = StageClock(Instant::now());
    let pool = parser_pool(opts)?;
    let db_path = opts.db_path();
    let root = opts.root.as_path();
    // Read everything that can fail before touching the database.
    let given_table = opts.characters.as_deref().map(CharacterTable::load).transpose()?;
    ensure_folder(root)?;
    // The walk (on the parser threads) and loading what the index knows are independent.
    let (scanned, db, states) = std::thread::scope(|scope| {
        let walk = scope.spawn(|| pool.install(|| scan(root)));
        let opened = Database::open(&db_path).and_then(|db| {
            let states = db.source_states()?;
            Ok((db, states))
        });
        let scanned = walk.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        opened.and_then(|(db, states)| Ok((scanned?, db, states)))
    })?;
    clock.lap("scan, and load stored identities");

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

    progress.start(scanned.pairs.len());
    let planned = plan(root, scanned.pairs, &states, &pool);
    clock.lap("compare");
    for metadata in planned.without_image {
        problem(&mut report, metadata, "metadata without image".into());
    }
    report.unchanged += planned.unchanged;
    progress.advance(planned.unchanged);

    let (mut db, written) =
        read_parse_and_write(db, &planned.candidates, &table, &pool, opts.batch_size, progress)?;
    clock.lap("read, parse and write");
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
    clock.lap("finish");
    Ok(report)
}

/// Reads and parses `candidates` on `pool` and commits them through one [`IndexWriter`] thread.
fn read_parse_and_write(
    db: Database,
    candidates: &[Candidate<'_>],
    table: &CharacterTable,
    pool: &rayon::ThreadPool,
    batch_size: usize,
    progress: &dyn IngestProgress,
) -> Result<(Database, Written)> {
    let db_path = db.path().to_path_buf();
    // Files: the batch being written and three more, so that parsers keep going while the
    // writer waits on the disk (a WAL checkpoint).
    let files = 4 * batch_size as u64;
    let in_flight = InFlight::new(Load { files, bytes: IN_FLIGHT_SOURCE_BYTES });
    let writer = IndexWriter::new(db, batch_size, progress, &in_flight);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Vec<Parsed>>();
        let writer = scope.spawn(move || writer.run(rx));
        // A send fails only when the writer stopped on an error, returned by `join` below.
        let _ = pool.install(|| {
            candidates.par_chunks(FILES_PER_MESSAGE).try_for_each_with(tx, |tx, chunk| {
                let mut parsed = Vec::with_capacity(chunk.len());
                for c in chunk {
                    // Before waiting for budget, hand over what this parser holds: the
                    // writer may need it to fill the batch whose commit frees the budget.
                    let mut before_waiting = || {
                        let _ = tx.send(std::mem::take(&mut parsed));
                    };
                    let one = parse_candidate(c, table, &in_flight, &mut before_waiting);
                    parsed.push(one);
                }
                tx.send(parsed)
            })
        });
        writer.join().unwrap_or_else(|_| Err(DatasetError::WriterPanicked { path: db_path }))
    })
}

/// Logs at debug level how long each stage took (`animescore -vv ingest` shows it).
struct StageClock(Instant);

impl StageClock {
    fn lap(&mut self, stage: &str) {
        let now = Instant::now();
        tracing::debug!(stage, ms = (now - self.0).as_secs_f64() * 1e3, "ingest stage done");
        self.0 = now;
    }
}

/// Rows and their source bytes, read but not yet committed.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    files: u64,
    bytes: u64,
}

/// A budget of [`Load`] shared by the parsers (which take) and the writer (which gives back
/// after each commit). Bytes bound memory; files bound how far the parsers run ahead of the
/// writer, so that on a machine with few cores they leave it the CPU time it needs rather than
/// finishing early and leaving it a backlog to write alone.
struct InFlight {
    load: Mutex<Load>,
    freed: Condvar,
    limit: Load,
}

impl InFlight {
    fn new(limit: Load) -> Self {
        Self { load: Mutex::new(Load::default()), freed: Condvar::new(), limit }
    }

    fn must_wait(&self, load: &Load, bytes: u64) -> bool {
        load.files > 0
            && (load.bytes + bytes > self.limit.bytes || load.files + 1 > self.limit.files)
    }

    /// Waits until one more file of `bytes` fits (or nothing is in flight: one file always
    /// passes), calling `before_waiting` first if it has to wait.
    fn take(&self, bytes: u64, before_waiting: &mut dyn FnMut()) -> Permit<'_> {
        let mut load = self.load.lock().unwrap_or_else(|e| e.into_inner());
        if self.must_wait(&load, bytes) {
            drop(load);
            before_waiting();
            load = self.load.lock().unwrap_or_else(|e| e.into_inner());
        }
        while self.must_wait(&load, bytes) {
            load = self.freed.wait(load).unwrap_or_else(|e| e.into_inner());
        }
        load.files += 1;
        load.bytes += bytes;
        Permit { budget: self, load: Load { files: 1, bytes } }
    }

    fn give_back(&self, done: Load) {
        let mut load = self.load.lock().unwrap_or_else(|e| e.into_inner());
        load.files = load.files.saturating_sub(done.files);
        load.bytes = load.bytes.saturating_sub(done.bytes);
        self.freed.notify_all();
    }
}

/// A file taken from an [`InFlight`] budget, given back when dropped unless handed to the
/// writer with the row ([`Permit::hand_over`]).
struct Permit<'a> {
    budget: &'a InFlight,
    load: Load,
}

impl Permit<'_> {
    /// The writer gives the file back once the row is committed.
    fn hand_over(mut self) {
        self.load = Load::default();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.load.files > 0 {
            self.budget.give_back(self.load);
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
struct Plan<'s> {
    /// Files to read: new, moved, or with another stamp.
    candidates: Vec<Candidate<'s>>,
    /// Files indexed exactly as they are.
    unchanged: usize,
    /// Metadata files without an image, to report.
    without_image: Vec<PathBuf>,
}

/// Compares each pair with what the index stored about it. The `stat` calls of an unchanged
/// re-run are most of its time: they run on the parser threads.
fn plan<'s>(
    root: &Path,
    pairs: Vec<Pair>,
    states: &'s HashMap<String, SourceState>,
    pool: &rayon::ThreadPool,
) -> Plan<'s> {
    let mut plan = Plan { candidates: Vec::new(), unchanged: 0, without_image: Vec::new() };
    let (paired, unpaired): (Vec<Pair>, Vec<Pair>) =
        pairs.into_iter().partition(|p| p.image.is_some());
    plan.without_image = unpaired.into_iter().map(|p| p.metadata).collect();
    let looked_at: Vec<Option<Candidate<'s>>> =
        pool.install(|| paired.into_par_iter().map(|pair| compare(root, pair, states)).collect());
    let total = looked_at.len();
    plan.candidates = looked_at.into_iter().flatten().collect();
    plan.unchanged = total - plan.candidates.len();
    plan
}

/// One pair (with an image) against its stored state: `None` when it is indexed exactly as it
/// is, else the candidate to read.
fn compare<'s>(
    root: &Path,
    pair: Pair,
    states: &'s HashMap<String, SourceState>,
) -> Option<Candidate<'s>> {
    let image_rel = pair.image.as_deref().map_or(Cow::Borrowed(""), |image| relative(root, image));
    let metadata_rel = relative(root, &pair.metadata);
    let state = states.get(&pair.base);
    // Only files already indexed are stat'ed here; the parsers take the stamp of the file they
    // open.
    let unchanged = state.is_some_and(|s| {
        s.image_path.as_deref() == Some(&*image_rel)
            && s.metadata_path.as_deref() == Some(&*metadata_rel)
            && stat(&pair.metadata).is_ok_and(|stamp| s.matches(&stamp))
    });
    if unchanged {
        return None;
    }
    let (image_rel, metadata_rel) = (image_rel.into_owned(), metadata_rel.into_owned());
    Some(Candidate { pair, image_rel, metadata_rel, state })
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
    rows: Vec<(IllustRow, DerivedColumns)>,
    touched: Vec<(String, FileStamp)>,
    pending: Load,
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
            pending: Load::default(),
            written: Written::default(),
        }
    }

    fn run(mut self, parsed: mpsc::Receiver<Vec<Parsed>>) -> Result<(Database, Written)> {
        for item in parsed.into_iter().flatten() {
            self.accept(item)?;
        }
        self.commit()?;
        Ok((self.db, self.written))
    }

    fn accept(&mut self, item: Parsed) -> Result<()> {
        match item {
            Parsed::Row(row, derived) => {
                self.pending.files += 1;
                self.pending.bytes += row.source_size.max(0) as u64;
                self.rows.push((row, derived));
            }
            Parsed::SameContent { filename, stamp } => self.touched.push((filename, stamp)),
            Parsed::Problem(p) => {
                self.progress.problem(&p);
                self.written.problems.push(p);
            }
        }
        self.progress.advance(1);
        let full = self.rows.len() + self.touched.len() >= self.batch_rows;
        if full || self.pending.bytes >= BATCH_SOURCE_BYTES {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if !self.rows.is_empty() {
            let counts = self.db.upsert_derived(&self.rows)?;
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
        self.in_flight.give_back(self.pending);
        self.pending = Load::default();
        Ok(())
    }
}

/// A metadata file that has to be read: new, moved, or with another size or mtime.
struct Candidate<'s> {
    pair: Pair,
    image_rel: String,
    metadata_rel: String,
    /// What the index stored for its base name, if anything.
    state: Option<&'s SourceState>,
}

/// Reads and parses one metadata file (bounded read, regular files only), once its size fits
/// the in-flight budget (`before_waiting` runs if it must wait for it).
fn parse_candidate(
    c: &Candidate<'_>,
    table: &CharacterTable,
    in_flight: &InFlight,
    before_waiting: &mut dyn FnMut(),
) -> Parsed {
    let (pair, image_rel) = (&c.pair, c.image_rel.as_str());
    let problem = |reason: String| Parsed::Problem(Problem { path: pair.metadata.clone(), reason });
    // Only regular files are opened (a FIFO would block forever); the stamp is that of the
    // open file, so it identifies the bytes read below.
    let (file, stamp) = match animescore_fs::open_regular_with_metadata(&pair.metadata)
        .and_then(|(file, meta)| Ok((file, FileStamp::of(&meta)?)))
    {
        Ok(opened) => opened,
        Err(e) => return problem(format!("cannot read: {e}")),
    };
    let size = stamp.size;
    if size as u64 > MAX_METADATA_BYTES {
        return problem(format!(
            "{size} bytes is larger than the {MAX_METADATA_BYTES}-byte limit for metadata"
        ));
    }
    let permit = in_flight.take(size.max(0) as u64, before_waiting);
    // The size above is what the file claims (0 for a link to /dev/zero): the read is capped.
    let bytes = match animescore_fs::read_to_limit(file, size as u64, MAX_METADATA_BYTES) {
        Ok(b) => b,
        Err(e) => return problem(format!("cannot read: {e}")),
    };
    let hash = hex16(xxhash_rust::xxh3::xxh3_64(&bytes));
    if let Some(s) = c.state
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
    let mut row = IllustRow {
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
    let derived = DerivedColumns::of(&row);
    // The writer binds the lists as their encoded columns: free them here, on the thread
    // that allocated them, rather than on the one writer thread.
    row.meta.tags = Vec::new();
    row.meta.tools = Vec::new();
    Parsed::Row(row, derived)
}

/// `hash` as 16 lowercase hex digits (`format!("{hash:016x}")`, without the formatting
/// machinery: once per file).
fn hex16(hash: u64) -> String {
    (0..16).rev().map(|nibble| HEX_DIGITS[(hash >> (4 * nibble)) as usize & 0xf] as char).collect()
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn stat(path: &Path) -> std::io::Result<FileStamp> {
    FileStamp::of(&std::fs::metadata(path)?)
}

/// `path` relative to `root`, with `/` separators (portable across machines).
fn relative<'p>(root: &Path, path: &'p Path) -> Cow<'p, str> {
    if let Some(rest) = plain_rest(root, path) {
        return Cow::Borrowed(rest);
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    Cow::Owned(parts.join("/"))
}

/// On Unix, what follows `root`'s bytes in `path` when it is plain UTF-8 names joined by `/`,
/// as the scan builds them: the answer of [`relative`] without splitting both paths into
/// components, twice per file.
fn plain_rest<'p>(root: &Path, path: &'p Path) -> Option<&'p str> {
    if !cfg!(unix) {
        return None;
    }
    let root = root.as_os_str().as_encoded_bytes();
    let rest = path.as_os_str().as_encoded_bytes().strip_prefix(root)?;
    let rest = if root.ends_with(b"/") { rest } else { rest.strip_prefix(b"/")? };
    let rest = std::str::from_utf8(rest).ok()?;
    rest.split('/').all(|c| !c.is_empty() && c != "." && c != "..").then_some(rest)
}

fn alias_fingerprint(table: &CharacterTable) -> String {
    let mut bytes = Vec::new();
    for (alias, name) in table.pairs() {
        bytes.extend_from_slice(alias.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
    }
    hex16(xxhash_rust::xxh3::xxh3_64(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_print_as_format_prints_them() {
        for hash in [0, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(hex16(hash), format!("{hash:016x}"));
        }
    }

    #[test]
    fn relative_paths_take_the_plain_path_or_the_general_one_alike() {
        for (root, path, expected) in [
            ("data", "data/10/1_p0.json", "10/1_p0.json"),
            ("data/", "data/10/1_p0.json", "10/1_p0.json"),
            ("/", "/x.json", "x.json"),
            ("data", "data/./10/x.json", "10/x.json"),
            ("data", "data//10/x.json", "10/x.json"),
            ("./data", "./data/é/x.json", "é/x.json"),
            ("data", "other/x.json", "other/x.json"),
        ] {
            assert_eq!(relative(Path::new(root), Path::new(path)), expected, "{root} {path}");
        }
    }
}
