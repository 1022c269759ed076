//! Fixed-size records per input file, computed once and kept on disk: the storage under the
//! image cache and the feature cache.
//!
//! Layout of a store folder:
//!
//! - `seg-*.u8`: segments of fixed-size slots, appended by each fill;
//! - `index.json`: the commit point — the store format, the settings that decide the slots'
//!   content, the segments with their committed slot counts, and per input file its stamp
//!   ([`FileStamp`]: length, modification time, inode change time, inode), its slot and the
//!   slot's xxh3-64 checksum;
//! - `lock`: held exclusively while a process opens or fills the store.
//!
//! Crash safety: slots are written and synced before the index that names them is replaced
//! (atomically, synced), so a kill at any point leaves an index that names only complete
//! slots. Bytes past a segment's committed count and segments no index names are leftovers
//! of a killed fill; they are never read, and the next fill deletes unnamed segments. A
//! changed input (another stamp: `cp -p`, `rsync -t` and `touch -r` keep the length and the
//! mtime, not the inode change time) is computed again: the stamp is checked on every fill. An
//! index written under other settings is not used.
//!
//! A store is untrusted input: a shared dataset can carry a hostile `.database/cache`.
//!
//! - The folder is a [`ConfinedDir`]: every file is opened by plain name without following
//!   links and must be a regular file; segment names other than `seg-*.u8` are never opened;
//!   a link or FIFO as segment, index or lock is damage, never followed or waited on.
//! - Every slot read is checked against its checksum; a mismatch (a slot edited or damaged
//!   behind our back) is computed again from the input, never served.
//! - Failures are not stored: a store from elsewhere could otherwise hide good inputs.
//! - Damage (an unreadable index, a damaged segment, a cache subfolder that is a link) makes
//!   the store start over or recompute the affected slots, with a warning; a store that cannot
//!   be used at all (a link where a folder belongs that cannot be replaced, a full disk) makes
//!   every slot computed on each read instead. The store never fails the caller.
//! - A store that cannot be written (a read-only dataset whose cache someone else built) is
//!   used read-only: hits are read, misses computed on each read and not stored.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, UNIX_EPOCH};

use animescore_dataset::FileStamp;
use animescore_fs::{ConfinedDir, is_read_only_error};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// Commit the index at least this often while filling, so a kill loses little work.
const COMMIT_EVERY_SECONDS: f64 = 30.0;
/// Version of the store layout; an index of another version starts the store over. 2: stamps
/// with inode change time and inode, a checksum per slot, no stored failures.
const STORE_FORMAT: u32 = 2;
/// Largest `index.json` read (about 5 million entries); a larger one is damage.
pub const MAX_INDEX_BYTES: u64 = 1 << 30;
const INDEX: &str = "index.json";
const LOCK: &str = "lock";

/// Where caches live: a folder the user chose (followed like any path given), and folders
/// below it that belong to the tool and are opened without following links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRoot {
    base: PathBuf,
    below: Vec<String>,
}

impl CacheRoot {
    /// Caches directly in `dir` (e.g. `--cache-dir`).
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Self { base: dir.into(), below: Vec::new() }
    }

    /// Caches in the tool's folder `below` inside `base` (each component a plain name).
    pub fn within(base: impl Into<PathBuf>, below: &[&str]) -> Self {
        Self { base: base.into(), below: below.iter().map(|s| s.to_string()).collect() }
    }

    /// The folder, for messages.
    pub fn path(&self) -> PathBuf {
        self.below.iter().fold(self.base.clone(), |p, c| p.join(c))
    }
}

/// Where a slot is, in `index.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    stamp: FileStamp,
    segment: usize,
    slot: u64,
    xxh3: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Segment {
    file: String,
    slots: u64,
}

/// `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Index {
    format: u32,
    settings: serde_json::Value,
    segments: Vec<Segment>,
    entries: HashMap<String, Entry>,
}

/// Just the format, read first to tell an older store from a damaged one.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    format: u32,
}

/// Progress of a fill.
pub trait CacheProgress: Sync {
    /// `todo` images need decoding.
    fn start(&self, _todo: usize) {}
    /// One more image is done.
    fn advance(&self) {}
    /// An input could not be computed.
    fn failed(&self, _path: &Path, _reason: &str) {}
    /// The fill is done.
    fn finish(&self) {}
}

/// A progress sink that ignores everything.
pub struct NoCacheProgress;
impl CacheProgress for NoCacheProgress {}

/// What a fill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FillStats {
    /// Inputs found in the store.
    pub hits: usize,
    /// Inputs computed now and stored.
    pub computed: usize,
    /// Inputs that could not be computed.
    pub failed: usize,
    /// Inputs the store could not keep (read-only or unusable store): computed on each read.
    pub uncached: usize,
}

/// Computes the slots of a chunk of inputs (indices into the fill's paths), one result per
/// index, in order: the slot's bytes, or why it cannot be computed.
pub type ComputeSlots<'a> = dyn Fn(&[usize]) -> Vec<std::result::Result<Vec<u8>, String>> + 'a;

/// Computes one input's slot from its path, on any thread: used when a slot is not stored (a
/// read-only store) or does not match its checksum.
pub type RecomputeSlot =
    Arc<dyn Fn(&Path) -> std::result::Result<Vec<u8>, String> + Send + Sync + 'static>;

/// A store folder whose slots are `slot_bytes` long and computed under `settings`.
#[derive(Debug, Clone)]
pub struct SlotStore {
    root: CacheRoot,
    name: String,
    dir: PathBuf,
    settings: serde_json::Value,
    slot_bytes: u64,
}

/// The slots of one list of paths, in that order, ready to read from any thread.
#[derive(Clone)]
pub struct Slots {
    inner: Arc<SlotsInner>,
    rows: Arc<[usize]>,
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots").field("len", &self.rows.len()).finish_non_exhaustive()
    }
}

/// Where one input's bytes come from.
#[derive(Debug, Clone)]
enum Row {
    /// A stored slot and its checksum.
    Slot { segment: usize, slot: u64, xxh3: u64 },
    /// Not stored: computed on each read.
    Compute,
    /// Cannot be computed.
    Failed(String),
}

struct SlotsInner {
    slot_bytes: u64,
    files: Vec<Option<File>>,
    paths: Vec<PathBuf>,
    rows: Vec<Row>,
    recompute: RecomputeSlot,
    warned: AtomicBool,
}

/// An open store: its folder, whether it may be written, and the lock held.
struct Opened {
    dir: ConfinedDir,
    writable: bool,
    _lock: Option<File>,
}

impl SlotStore {
    /// The store in the folder `name` (a plain name) under `root`, for slots of `slot_bytes`
    /// computed under `settings`.
    pub fn new(
        root: &CacheRoot,
        name: String,
        settings: serde_json::Value,
        slot_bytes: u64,
    ) -> Self {
        let dir = root.path().join(&name);
        Self { root: root.clone(), name, dir, settings, slot_bytes }
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes sure every path has its slot (computing the missing and changed ones, `chunk`
    /// at a time) and returns a reader in the order of `paths`. `key` names each path in the
    /// index (e.g. relative to the dataset folder, so the folder can move); `recompute`
    /// computes one slot when the store cannot serve it (see the module documentation).
    pub fn fill(
        &self,
        paths: &[PathBuf],
        key: impl Fn(&Path) -> String,
        chunk: usize,
        compute: &ComputeSlots<'_>,
        recompute: RecomputeSlot,
        progress: &dyn CacheProgress,
    ) -> Result<(Slots, FillStats)> {
        let stamps: Vec<Option<FileStamp>> = paths
            .par_iter()
            .map(|p| std::fs::metadata(p).and_then(|m| FileStamp::of(&m)).ok())
            .collect();
        let mut stats = FillStats::default();
        let Some(opened) = self.open() else {
            let rows = (0..paths.len())
                .map(|i| unstamped(&paths[i], &stamps[i]).unwrap_or(Row::Compute))
                .collect();
            return Ok(self.reader(Vec::new(), paths, rows, recompute, stats));
        };
        let mut index = self.read_index(&opened.dir);
        let mut files = self.open_segments(&opened.dir, &mut index);
        if opened.writable {
            remove_leftovers(&opened.dir, &index);
        }
        let keys: Vec<String> = paths.iter().map(|p| key(p)).collect();
        let mut todo = Vec::new();
        for (i, (k, stamp)) in keys.iter().zip(&stamps).enumerate() {
            match (stamp, index.entries.get(k)) {
                (Some(s), Some(e)) if e.stamp == *s => stats.hits += 1,
                (Some(_), _) => todo.push(i),
                (None, _) => {}
            }
        }
        let mut failures = HashMap::new();
        let mut stored = opened.writable;
        if !todo.is_empty() && opened.writable {
            let job = Job { paths, keys: &keys, stamps: &stamps, compute, progress };
            let filled = self.compute_into(&opened.dir, &mut index, &job, &todo, chunk);
            match filled {
                Ok(fill) => {
                    stats.computed += fill.computed;
                    failures = fill.failures;
                    files = self.open_segments(&opened.dir, &mut index);
                }
                // A slot of the wrong size is a bug of the caller, not damage.
                Err(e @ PipelineError::Data(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(
                        "cache {}: cannot store ({e}); computing {} input(s) on every read",
                        self.dir.display(),
                        todo.len()
                    );
                    stored = false;
                }
            }
        }
        stats.failed = failures.len();
        let mut pending = vec![false; paths.len()];
        if !stored {
            todo.iter().for_each(|&i| pending[i] = true);
        }
        let rows = (0..paths.len())
            .map(|i| {
                if let Some(row) = unstamped(&paths[i], &stamps[i]) {
                    return row;
                }
                if let Some(reason) = failures.remove(&i) {
                    return Row::Failed(reason);
                }
                match index.entries.get(&keys[i]) {
                    Some(e) if Some(e.stamp) == stamps[i] && !pending[i] => {
                        Row::Slot { segment: e.segment, slot: e.slot, xxh3: e.xxh3 }
                    }
                    _ => Row::Compute,
                }
            })
            .collect();
        drop(opened);
        Ok(self.reader(files, paths, rows, recompute, stats))
    }

    /// The reader over `rows`, and the stats with the inputs computed on every read counted.
    fn reader(
        &self,
        files: Vec<Option<File>>,
        paths: &[PathBuf],
        rows: Vec<Row>,
        recompute: RecomputeSlot,
        mut stats: FillStats,
    ) -> (Slots, FillStats) {
        stats.uncached = rows.iter().filter(|r| matches!(r, Row::Compute)).count();
        let inner = SlotsInner {
            slot_bytes: self.slot_bytes,
            files,
            paths: paths.to_vec(),
            rows,
            recompute,
            warned: AtomicBool::new(false),
        };
        let order: Arc<[usize]> = (0..paths.len()).collect();
        (Slots { inner: Arc::new(inner), rows: order }, stats)
    }

    /// Opens the folder (rebuilding linked subfolders) and takes the lock: exclusive when the
    /// store can be written, shared (or none) when it is read-only. `None` when the store
    /// cannot be used at all (warned).
    fn open(&self) -> Option<Opened> {
        let mut below: Vec<&str> = self.root.below.iter().map(String::as_str).collect();
        below.push(&self.name);
        let unusable = |e: &dyn std::fmt::Display| {
            tracing::warn!(
                "cache {}: not usable ({e}); computing every input on every read",
                self.dir.display()
            );
            None
        };
        let dir = match ConfinedDir::open(&self.root.base, &below, true) {
            Ok(dir) => dir,
            Err(e) if is_read_only_error(&e) => {
                match ConfinedDir::open(&self.root.base, &below, false) {
                    Ok(dir) => return Some(read_only(dir)),
                    Err(e) => {
                        tracing::info!("no usable cache at {} ({e})", self.dir.display());
                        return None;
                    }
                }
            }
            Err(e) => return unusable(&e),
        };
        for path in dir.replaced() {
            tracing::warn!(
                "{}: not a folder (a link or a file); replaced by an empty cache folder",
                path.display()
            );
        }
        let lock = match dir.open_write(LOCK) {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                // A link, FIFO or folder where the lock belongs: damage, replaced.
                tracing::warn!("{e}; replacing it");
                dir.remove(LOCK).and_then(|()| dir.open_write(LOCK))
            }
            other => other,
        };
        match lock {
            Ok(file) => match file.lock() {
                Ok(()) => Some(Opened { dir, writable: true, _lock: Some(file) }),
                Err(e) => unusable(&e),
            },
            Err(e) if is_read_only_error(&e) => Some(read_only(dir)),
            Err(e) => unusable(&e),
        }
    }

    /// Computes `todo` (indices into `job.paths`) into a new segment, committing as it goes.
    fn compute_into(
        &self,
        dir: &ConfinedDir,
        index: &mut Index,
        job: &Job<'_>,
        todo: &[usize],
        chunk: usize,
    ) -> Result<Filled> {
        job.progress.start(todo.len());
        let name = format!(
            "seg-{}-{}.u8",
            std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            std::process::id()
        );
        let seg_path = dir.display(&name);
        let mut file = dir.create_new(&name).map_err(|e| PipelineError::io(&seg_path, e))?;
        let segment = index.segments.len();
        index.segments.push(Segment { file: name, slots: 0 });
        let mut filled = Filled::default();
        let mut written = 0u64;
        let mut last_commit = Instant::now();
        for indices in todo.chunks(chunk.max(1)) {
            let results = (job.compute)(indices);
            for (&i, result) in indices.iter().zip(results) {
                job.progress.advance();
                let Some(stamp) = job.stamps[i] else { continue };
                match result {
                    Ok(bytes) if bytes.len() as u64 == self.slot_bytes => {
                        file.write_all(&bytes).map_err(|e| PipelineError::io(&seg_path, e))?;
                        let xxh3 = xxhash_rust::xxh3::xxh3_64(&bytes);
                        let entry = Entry { stamp, segment, slot: written, xxh3 };
                        index.entries.insert(job.keys[i].clone(), entry);
                        written += 1;
                        filled.computed += 1;
                    }
                    Ok(bytes) => {
                        return Err(PipelineError::Data(format!(
                            "{}: {} bytes computed for a slot of {}",
                            job.paths[i].display(),
                            bytes.len(),
                            self.slot_bytes
                        )));
                    }
                    Err(reason) => {
                        job.progress.failed(&job.paths[i], &reason);
                        index.entries.remove(&job.keys[i]);
                        filled.failures.insert(i, reason);
                    }
                }
            }
            if last_commit.elapsed().as_secs_f64() > COMMIT_EVERY_SECONDS {
                self.commit(dir, index, segment, written, &file, &seg_path)?;
                last_commit = Instant::now();
            }
        }
        let committed = self.commit(dir, index, segment, written, &file, &seg_path);
        job.progress.finish();
        committed.map(|()| filled)
    }

    /// Syncs the segment, then replaces the index (synced) that names its slots.
    fn commit(
        &self,
        dir: &ConfinedDir,
        index: &mut Index,
        segment: usize,
        slots: u64,
        file: &File,
        path: &Path,
    ) -> Result<()> {
        file.sync_all().map_err(|e| PipelineError::io(path, e))?;
        index.segments[segment].slots = slots;
        let index_path = dir.display(INDEX);
        let text = serde_json::to_vec(index).map_err(|e| PipelineError::format(&index_path, e))?;
        dir.write_atomic(INDEX, &text).map_err(|e| PipelineError::io(&index_path, e))
    }

    /// The committed index, or an empty one when there is none or it is unreadable, damaged
    /// or of another format or settings (then the store starts over; it only ever holds what
    /// can be computed again).
    fn read_index(&self, dir: &ConfinedDir) -> Index {
        let empty = || Index {
            format: STORE_FORMAT,
            settings: self.settings.clone(),
            segments: Vec::new(),
            entries: HashMap::new(),
        };
        let path = dir.display(INDEX);
        let bytes = match dir.open_read(INDEX) {
            Ok((file, meta)) => animescore_fs::read_to_limit(file, meta.len(), MAX_INDEX_BYTES),
            Err(e) => Err(e),
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return empty(),
            Err(e) => {
                tracing::warn!("{}: unusable ({e}); starting the cache over", path.display());
                return empty();
            }
        };
        match serde_json::from_slice::<Header>(&bytes) {
            Ok(h) if h.format != STORE_FORMAT => {
                tracing::info!(
                    "{}: an older cache format; starting the cache over",
                    path.display()
                );
                return empty();
            }
            _ => {}
        }
        match serde_json::from_slice::<Index>(&bytes) {
            Ok(index) if index.settings == self.settings => index,
            Ok(_) => {
                tracing::warn!("{}: other settings; starting the cache over", path.display());
                empty()
            }
            Err(e) => {
                tracing::warn!("{}: unreadable ({e}); starting the cache over", path.display());
                empty()
            }
        }
    }

    /// Opens every segment the index names. A segment that is not a plain `seg-*.u8` name,
    /// not a regular file (a link, a FIFO) or shorter than its committed slots is damaged:
    /// its entries are forgotten (computed again) and it is never read. Entries that point
    /// past their segment's slots are forgotten too.
    fn open_segments(&self, dir: &ConfinedDir, index: &mut Index) -> Vec<Option<File>> {
        let slot_bytes = self.slot_bytes;
        let mut damaged = 0;
        let files: Vec<Option<File>> = index
            .segments
            .iter()
            .map(|s| {
                if !is_segment_name(&s.file) {
                    damaged += 1;
                    return None;
                }
                match dir.open_read(&s.file) {
                    Ok((file, meta)) if meta.len() >= s.slots.saturating_mul(slot_bytes) => {
                        Some(file)
                    }
                    _ => {
                        damaged += 1;
                        None
                    }
                }
            })
            .collect();
        if damaged > 0 {
            tracing::warn!(
                "{}: {damaged} damaged segment(s); computing their inputs again",
                self.dir.display()
            );
        }
        let segments = &index.segments;
        index.entries.retain(|_, e| {
            files.get(e.segment).is_some_and(Option::is_some) && e.slot < segments[e.segment].slots
        });
        files
    }
}

/// A store used read-only: hits are read, misses computed on each read. A shared lock keeps
/// a writer from committing half-way through the reading of the index, when it can be taken.
fn read_only(dir: ConfinedDir) -> Opened {
    tracing::info!(
        "cache {} is read-only: using what it holds, storing nothing",
        dir.path().display()
    );
    let lock = dir.open_read(LOCK).ok().map(|(file, _)| file).filter(|f| f.lock_shared().is_ok());
    Opened { dir, writable: false, _lock: lock }
}

/// The row of an input whose file could not be stat'ed, `None` when it could.
fn unstamped(path: &Path, stamp: &Option<FileStamp>) -> Option<Row> {
    stamp.is_none().then(|| Row::Failed(format!("{}: cannot read file metadata", path.display())))
}

/// Whether `name` is a segment name this store makes: `seg-` and `.u8` around digits and `-`.
fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("seg-")
        .and_then(|rest| rest.strip_suffix(".u8"))
        .is_some_and(|mid| !mid.is_empty() && mid.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
}

/// Deletes segments and temporary files that no committed index names (a killed fill). Only
/// names this store makes are touched, and only as entries of the store's own folder (a link
/// is removed, never followed).
fn remove_leftovers(dir: &ConfinedDir, index: &Index) {
    let Ok(entries) = dir.entries() else { return };
    for (name, _) in entries {
        let Some(name) = name.to_str() else { continue };
        let named = index.segments.iter().any(|s| s.file == name);
        let leftover = (is_segment_name(name) && !named) || name.starts_with(".index.json.");
        if leftover {
            tracing::info!(
                "removing {} (left by an interrupted fill)",
                dir.display(name).display()
            );
            let _ = dir.remove(name);
        }
    }
}

/// One fill's inputs.
struct Job<'a> {
    paths: &'a [PathBuf],
    keys: &'a [String],
    stamps: &'a [Option<FileStamp>],
    compute: &'a ComputeSlots<'a>,
    progress: &'a dyn CacheProgress,
}

/// What [`SlotStore::compute_into`] did: slots stored, and why the others failed.
#[derive(Default)]
struct Filled {
    computed: usize,
    failures: HashMap<usize, String>,
}

impl Slots {
    /// Number of slots.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Why slot `i` could not be computed, if the fill found it could not.
    pub fn failure(&self, i: usize) -> Option<&str> {
        match self.rows.get(i).map(|&r| &self.inner.rows[r]) {
            Some(Row::Failed(reason)) => Some(reason),
            _ => None,
        }
    }

    /// The slots at `rows`, in that order (sharing the open segment files). Rows out of range
    /// are left out.
    pub fn subset(&self, rows: &[usize]) -> Slots {
        let order: Arc<[usize]> = rows.iter().filter_map(|&r| self.rows.get(r).copied()).collect();
        Slots { inner: self.inner.clone(), rows: order }
    }

    /// The bytes of slot `i`: read and checked against its checksum, or computed again from
    /// the input when it is not stored or does not match.
    pub fn get(&self, i: usize) -> std::result::Result<Vec<u8>, String> {
        let inner = &self.inner;
        let r = *self.rows.get(i).ok_or_else(|| format!("no image {i}"))?;
        let path = &inner.paths[r];
        match &inner.rows[r] {
            Row::Failed(reason) => Err(reason.clone()),
            Row::Compute => (inner.recompute)(path),
            &Row::Slot { segment, slot, xxh3 } => {
                let mut buf = vec![0u8; inner.slot_bytes as usize];
                let read = match &inner.files[segment] {
                    Some(file) => file.read_exact_at(&mut buf, slot * inner.slot_bytes),
                    None => Err(std::io::Error::other("segment not open")),
                };
                match read {
                    Ok(()) if xxhash_rust::xxh3::xxh3_64(&buf) == xxh3 => Ok(buf),
                    outcome => {
                        let why = match outcome {
                            Ok(()) => "checksum mismatch".to_string(),
                            Err(e) => e.to_string(),
                        };
                        if !inner.warned.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                "{}: cached slot damaged ({why}); computed again (further \
                                 damage is logged at debug level)",
                                path.display()
                            );
                        } else {
                            tracing::debug!("{}: cached slot damaged ({why})", path.display());
                        }
                        (inner.recompute)(path)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_the_store_makes_are_segments() {
        for good in ["seg-1-2.u8", "seg-17771234-99.u8"] {
            assert!(is_segment_name(good), "{good}");
        }
        for bad in ["../../x", "/etc/passwd", "seg-.u8", "seg-1/../x.u8", "index.json", "seg-a.u8"]
        {
            assert!(!is_segment_name(bad), "{bad}");
        }
    }
}
