//! Fixed-size records per input file, computed once and kept on disk: the storage under the
//! image cache and the feature cache.
//!
//! Layout of a store folder:
//!
//! - `seg-*.u8`: segments of fixed-size slots, appended by each fill;
//! - `index.json`: the commit point — the settings that decide the slots' content, the
//!   segments with their committed slot counts, and per input file its identity (key, byte
//!   length, modification time) and slot, or the reason it could not be computed;
//! - `lock`: held exclusively while a process opens or fills the store.
//!
//! Crash safety: slots are written and synced before the index that names them is replaced
//! (atomically, synced), so a kill at any point leaves an index that names only complete
//! slots. Bytes past a segment's committed count and segments no index names are leftovers
//! of a killed fill; they are never read, and the next fill deletes unnamed segments. A
//! changed input (other length or mtime) is computed again: the identity is checked on every
//! lookup. An index written under other settings is not used.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// Commit the index at least this often while filling, so a kill loses little work.
const COMMIT_EVERY_SECONDS: f64 = 30.0;

/// Which file an entry describes: a change of either means the image changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    len: u64,
    mtime_ns: i64,
}

impl Identity {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let mtime_ns = match meta.modified()?.duration_since(UNIX_EPOCH) {
            // i64 nanoseconds reach the year 2262; serde's flatten cannot read an i128 back.
            Ok(d) => d.as_nanos() as i64,
            Err(e) => -(e.duration().as_nanos() as i64),
        };
        Ok(Self { len: meta.len(), mtime_ns })
    }
}

/// Where an image's pixels are, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Content {
    Slot { segment: usize, slot: u64 },
    Failed { reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    identity: Identity,
    #[serde(flatten)]
    content: Content,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Segment {
    file: String,
    slots: u64,
}

/// `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Index {
    settings: serde_json::Value,
    segments: Vec<Segment>,
    entries: HashMap<String, Entry>,
}

/// Progress of a fill.
pub trait CacheProgress: Sync {
    /// `todo` images need decoding.
    fn start(&self, _todo: usize) {}
    /// One more image is done.
    fn advance(&self) {}
    /// An input could not be computed (reported once: the failure is stored).
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
    /// Inputs computed now.
    pub computed: usize,
    /// Inputs that could not be computed (now or before).
    pub failed: usize,
}

/// Computes the slots of a chunk of inputs (indices into the fill's paths), one result per
/// index, in order: the slot's bytes, or why it cannot be computed.
pub type ComputeSlots<'a> = dyn Fn(&[usize]) -> Vec<std::result::Result<Vec<u8>, String>> + 'a;

/// A store folder whose slots are `slot_bytes` long and computed under `settings`.
#[derive(Debug, Clone)]
pub struct SlotStore {
    dir: PathBuf,
    settings: serde_json::Value,
    slot_bytes: u64,
}

/// The slots of one list of paths, in that order, ready to read from any thread.
#[derive(Debug, Clone)]
pub struct Slots {
    inner: Arc<SlotsInner>,
}

#[derive(Debug)]
struct SlotsInner {
    slot_bytes: u64,
    files: Arc<Vec<File>>,
    /// Per requested path: segment and slot, or why it has no slot.
    slots: Vec<std::result::Result<(usize, u64), String>>,
}

impl SlotStore {
    /// The store in `dir`, for slots of `slot_bytes` computed under `settings`.
    pub fn new(dir: PathBuf, settings: serde_json::Value, slot_bytes: u64) -> Self {
        Self { dir, settings, slot_bytes }
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes sure every path has its slot (computing the missing and changed ones, `chunk`
    /// at a time) and returns a reader in the order of `paths`. `key` names each path in the
    /// index (e.g. relative to the dataset folder, so the folder can move).
    pub fn fill(
        &self,
        paths: &[PathBuf],
        key: impl Fn(&Path) -> String,
        chunk: usize,
        compute: &ComputeSlots<'_>,
        progress: &dyn CacheProgress,
    ) -> Result<(Slots, FillStats)> {
        std::fs::create_dir_all(&self.dir).map_err(|e| PipelineError::io(&self.dir, e))?;
        let lock_path = self.dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| PipelineError::io(&lock_path, e))?;
        lock.lock().map_err(|e| PipelineError::io(&lock_path, e))?;

        let mut index = self.read_index();
        self.remove_leftovers(&index);
        let keys: Vec<String> = paths.iter().map(|p| key(p)).collect();
        let identities: Vec<Option<Identity>> =
            paths.par_iter().map(|p| Identity::of(p).ok()).collect();
        let mut stats = FillStats::default();
        let mut todo = Vec::new();
        for (i, (k, id)) in keys.iter().zip(&identities).enumerate() {
            match (id, index.entries.get(k)) {
                (Some(id), Some(e)) if e.identity == *id => {
                    stats.hits += 1;
                    if matches!(e.content, Content::Failed { .. }) {
                        stats.failed += 1;
                    }
                }
                (Some(_), _) => todo.push(i),
                (None, _) => {}
            }
        }
        if !todo.is_empty() {
            let job = Job { paths, keys: &keys, identities: &identities, compute, progress };
            self.compute_into(&mut index, &job, &todo, chunk.max(1), &mut stats)?;
        }
        let slots = self.open_reader(&index, paths, &keys, &identities)?;
        drop(lock);
        Ok((slots, stats))
    }

    /// Computes `todo` (indices into `job.paths`) into a new segment, committing as it goes.
    fn compute_into(
        &self,
        index: &mut Index,
        job: &Job<'_>,
        todo: &[usize],
        chunk: usize,
        stats: &mut FillStats,
    ) -> Result<()> {
        job.progress.start(todo.len());
        let name = format!(
            "seg-{}-{}.u8",
            std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            std::process::id()
        );
        let seg_path = self.dir.join(&name);
        let mut file = File::create_new(&seg_path).map_err(|e| PipelineError::io(&seg_path, e))?;
        let segment = index.segments.len();
        index.segments.push(Segment { file: name, slots: 0 });
        let mut written = 0u64;
        let mut last_commit = Instant::now();
        for indices in todo.chunks(chunk) {
            let results = (job.compute)(indices);
            for (&i, result) in indices.iter().zip(results) {
                job.progress.advance();
                let Some(identity) = job.identities[i] else { continue };
                let content = match result {
                    Ok(bytes) if bytes.len() as u64 == self.slot_bytes => {
                        file.write_all(&bytes).map_err(|e| PipelineError::io(&seg_path, e))?;
                        written += 1;
                        stats.computed += 1;
                        Content::Slot { segment, slot: written - 1 }
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
                        stats.failed += 1;
                        Content::Failed { reason }
                    }
                };
                index.entries.insert(job.keys[i].clone(), Entry { identity, content });
            }
            if last_commit.elapsed().as_secs_f64() > COMMIT_EVERY_SECONDS {
                self.commit(index, segment, written, &file, &seg_path)?;
                last_commit = Instant::now();
            }
        }
        let committed = self.commit(index, segment, written, &file, &seg_path);
        job.progress.finish();
        committed
    }

    /// Syncs the segment, then replaces the index (synced) that names its slots.
    fn commit(
        &self,
        index: &mut Index,
        segment: usize,
        slots: u64,
        file: &File,
        path: &Path,
    ) -> Result<()> {
        file.sync_all().map_err(|e| PipelineError::io(path, e))?;
        index.segments[segment].slots = slots;
        let text =
            serde_json::to_vec(index).map_err(|e| PipelineError::format(self.index_path(), e))?;
        write_synced(&self.index_path(), &text)
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// The committed index, or an empty one when there is none or it is unreadable (then the
    /// store starts over; it only ever holds what can be computed again).
    fn read_index(&self) -> Index {
        let empty = || Index {
            settings: self.settings.clone(),
            segments: Vec::new(),
            entries: HashMap::new(),
        };
        let path = self.index_path();
        let Ok(bytes) = std::fs::read(&path) else { return empty() };
        match serde_json::from_slice::<Index>(&bytes) {
            Ok(index) if index.settings == self.settings => self.drop_short_segments(index),
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

    /// Forgets the entries of segments shorter than their committed slots (a file truncated
    /// or deleted behind our back), so they are computed again.
    fn drop_short_segments(&self, mut index: Index) -> Index {
        let slot_bytes = self.slot_bytes;
        let short: Vec<usize> = index
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let len = std::fs::metadata(self.dir.join(&s.file)).map_or(0, |m| m.len());
                len < s.slots * slot_bytes
            })
            .map(|(i, _)| i)
            .collect();
        if !short.is_empty() {
            tracing::warn!(
                "{}: {} damaged segment(s); decoding their images again",
                self.dir.display(),
                short.len()
            );
            index.entries.retain(|_, e| !matches!(e.content, Content::Slot { segment, .. } if short.contains(&segment)));
        }
        index
    }

    /// Deletes segments and temporary files that no committed index names (a killed fill).
    fn remove_leftovers(&self, index: &Index) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let named = index.segments.iter().any(|s| s.file == name);
            let leftover = (name.starts_with("seg-") && !named) || name.starts_with(".index.json.");
            if leftover {
                tracing::info!("removing {} (left by an interrupted fill)", path.display());
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    fn open_reader(
        &self,
        index: &Index,
        paths: &[PathBuf],
        keys: &[String],
        identities: &[Option<Identity>],
    ) -> Result<Slots> {
        let mut files = Vec::with_capacity(index.segments.len());
        for s in &index.segments {
            let path = self.dir.join(&s.file);
            files.push(File::open(&path).map_err(|e| PipelineError::io(&path, e))?);
        }
        let slots = paths
            .iter()
            .zip(keys)
            .zip(identities)
            .map(|((path, key), id)| match (id, index.entries.get(key)) {
                (None, _) => Err(format!("{}: cannot read file metadata", path.display())),
                (Some(id), Some(e)) if e.identity == *id => match &e.content {
                    Content::Slot { segment, slot } => Ok((*segment, *slot)),
                    Content::Failed { reason } => Err(reason.clone()),
                },
                (Some(_), _) => {
                    Err(format!("{}: changed while the cache was filled", path.display()))
                }
            })
            .collect();
        Ok(Slots {
            inner: Arc::new(SlotsInner {
                slot_bytes: self.slot_bytes,
                files: Arc::new(files),
                slots,
            }),
        })
    }
}

/// One fill's inputs.
struct Job<'a> {
    paths: &'a [PathBuf],
    keys: &'a [String],
    identities: &'a [Option<Identity>],
    compute: &'a ComputeSlots<'a>,
    progress: &'a dyn CacheProgress,
}

impl Slots {
    /// Number of slots.
    pub fn len(&self) -> usize {
        self.inner.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.inner.slots.is_empty()
    }

    /// Why slot `i` could not be computed, if it could not.
    pub fn failure(&self, i: usize) -> Option<&str> {
        match self.inner.slots.get(i) {
            Some(Err(reason)) => Some(reason),
            _ => None,
        }
    }

    /// The slots at `rows`, in that order (sharing the open segment files).
    pub fn subset(&self, rows: &[usize]) -> Slots {
        let slots = rows
            .iter()
            .map(|&r| {
                self.inner.slots.get(r).cloned().unwrap_or_else(|| Err(format!("no image {r}")))
            })
            .collect();
        let inner = SlotsInner {
            slot_bytes: self.inner.slot_bytes,
            files: self.inner.files.clone(),
            slots,
        };
        Slots { inner: Arc::new(inner) }
    }

    /// The bytes of slot `i`.
    pub fn get(&self, i: usize) -> std::result::Result<Vec<u8>, String> {
        let inner = &self.inner;
        let (segment, slot) = inner.slots.get(i).ok_or_else(|| format!("no image {i}"))?.clone()?;
        let mut buf = vec![0u8; inner.slot_bytes as usize];
        inner.files[segment]
            .read_exact_at(&mut buf, slot * inner.slot_bytes)
            .map_err(|e| format!("cache read: {e}"))?;
        Ok(buf)
    }
}

/// Writes a file so that after a crash it holds either the old or the new content in full.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    animescore_fs::write_atomic(path, bytes).map_err(|e| PipelineError::io(path, e))
}
