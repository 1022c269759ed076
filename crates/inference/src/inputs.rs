//! Image discovery for `predict`, one file at a time, and `--shard K/N` selection.
//!
//! Folders are walked depth first, each folder's entries in name order, so memory grows with
//! the largest folder and the depth, not with the number of images. Hidden entries (`.x`,
//! such as a dataset's `.database/`) are skipped; files given directly are taken as they are,
//! whatever their extension.
//!
//! A shard is chosen by a hash of the image's path *relative to the input it was found
//! under* (a file given directly: its file name), so the same collection mounted at another
//! place, on another machine, splits the same way. The hash is 64-bit FNV-1a over the
//! relative path's bytes with `/` between components ([`animescore_fs::stable_hash`]); image `i` belongs to shard
//! `hash % N + 1`. FNV-1a is fixed by its definition (no per-process seed, unlike the
//! standard library's hasher), so the split never changes between versions or machines.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use animescore_dataset::IMAGE_EXTENSIONS;
use animescore_fs::{EntryKind, VisitedDirs, entry_kind};

use crate::error::{InferenceError, Result};

/// An image found among the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundImage {
    /// The path as given or found (input folder joined with the relative path).
    pub path: PathBuf,
    /// The path relative to the input it was found under; a file given directly: its name.
    pub relative: PathBuf,
}

/// A folder being walked: its remaining entries, last one next.
struct Frame {
    root: PathBuf,
    pending: Vec<PathBuf>,
}

/// Images of a list of inputs, found lazily (see the module doc). Linked folders are
/// followed and each folder is walked once (by device and inode), so a link cycle ends.
/// Names that are not regular files (a FIFO, a link to a device) are kept: reading them fails
/// without blocking, and the failure is reported with the other unreadable images.
pub struct ImageWalk {
    inputs: std::collections::VecDeque<PathBuf>,
    stack: Vec<Frame>,
    visited: VisitedDirs,
}

impl ImageWalk {
    /// Walks `inputs` in order.
    pub fn new(inputs: &[PathBuf]) -> Self {
        Self {
            inputs: inputs.iter().cloned().collect(),
            stack: Vec::new(),
            visited: VisitedDirs::new(),
        }
    }

    /// Whether `path` is a folder seen for the first time (a folder seen before is a link
    /// cycle or a second link to it: skipped with a warning).
    fn new_folder(&mut self, path: &Path) -> bool {
        match entry_kind(path) {
            Ok((EntryKind::Dir, meta)) if self.visited.first_visit(&meta) => true,
            Ok((EntryKind::Dir, _)) => {
                tracing::warn!("{}: folder already walked (link cycle); skipped", path.display());
                false
            }
            _ => false,
        }
    }

    /// The entries of a folder in reverse name order (the next one last), hidden ones left out.
    fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| InferenceError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
            .collect();
        entries.sort_by(|a, b| b.cmp(a));
        Ok(entries)
    }
}

impl Iterator for ImageWalk {
    type Item = Result<FoundImage>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(frame) = self.stack.last_mut() {
                let Some(path) = frame.pending.pop() else {
                    self.stack.pop();
                    continue;
                };
                let root = frame.root.clone();
                if path.is_dir() {
                    if !self.new_folder(&path) {
                        continue;
                    }
                    match Self::entries(&path) {
                        Ok(pending) => self.stack.push(Frame { root, pending }),
                        Err(e) => return Some(Err(e)),
                    }
                } else if is_image(&path) {
                    let relative =
                        path.strip_prefix(&root).map(Path::to_path_buf).unwrap_or_default();
                    return Some(Ok(FoundImage { path, relative }));
                }
                continue;
            }
            let input = self.inputs.pop_front()?;
            if input.is_dir() {
                if !self.new_folder(&input) {
                    continue;
                }
                match Self::entries(&input) {
                    Ok(pending) => self.stack.push(Frame { root: input, pending }),
                    Err(e) => return Some(Err(e)),
                }
            } else {
                let relative =
                    input.file_name().map(PathBuf::from).unwrap_or_else(|| input.clone());
                return Some(Ok(FoundImage { path: input, relative }));
            }
        }
    }
}

/// Whether a file name has one of the image extensions the dataset reads.
pub fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Image files among `inputs`: files as given, folders searched recursively for image
/// files (hidden folders such as `.database` skipped), in name order (see [`ImageWalk`]).
pub fn collect_images(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    ImageWalk::new(inputs).map(|found| found.map(|f| f.path)).collect()
}

/// The bytes a relative path is hashed as: its components joined by `/`.
fn shard_key(relative: &Path) -> Vec<u8> {
    let mut key = Vec::new();
    for (i, c) in relative.components().enumerate() {
        if i > 0 {
            key.push(b'/');
        }
        key.extend_from_slice(c.as_os_str().as_encoded_bytes());
    }
    key
}

/// `--shard K/N`: the K-th (1-based) of N parts of the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u64,
    /// Number of parts.
    pub count: u64,
}

impl Shard {
    /// Whether an image with this relative path belongs to the shard.
    pub fn contains(&self, relative: &Path) -> bool {
        animescore_fs::stable_hash::<u64>(&shard_key(relative)) % self.count + 1 == self.index
    }
}

impl FromStr for Shard {
    type Err = InferenceError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            InferenceError::InvalidInput(format!(
                "--shard {s}: {why} (expected K/N with 1 <= K <= N)"
            ))
        };
        let (k, n) = s.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let index: u64 = k.trim().parse().map_err(|_| bad("K is not a number"))?;
        let count: u64 = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(bad("out of range"));
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_sorted_lazy_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("in");
        for f in ["b/2.png", "b/1.JPG", "a.png", ".hidden/x.png", "notes.txt", "c/d/e.jpeg"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
        }
        let direct = dir.path().join("direct.gif");
        std::fs::write(&direct, b"").unwrap();
        let found: Vec<FoundImage> =
            ImageWalk::new(&[root.clone(), direct.clone()]).map(Result::unwrap).collect();
        let rel: Vec<String> =
            found.iter().map(|f| f.relative.to_string_lossy().replace('\\', "/")).collect();
        assert_eq!(rel, ["a.png", "b/1.JPG", "b/2.png", "c/d/e.jpeg", "direct.gif"]);
        assert_eq!(found[1].path, root.join("b/1.JPG"));
        assert_eq!(found[4].path, direct);
    }

    #[test]
    fn shards_partition_and_are_stable() {
        // Fixed: the split must never change between versions or machines.
        assert!(!"1/2".parse::<Shard>().unwrap().contains(Path::new("sub/0.png")));
        assert!("2/2".parse::<Shard>().unwrap().contains(Path::new("sub/0.png")));
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for i in 0..300 {
            let rel = PathBuf::from(format!("sub/{i}.png"));
            assert_eq!(shards.iter().filter(|s| s.contains(&rel)).count(), 1);
        }
        let sizes: Vec<usize> = shards
            .iter()
            .map(|s| (0..300).filter(|i| s.contains(Path::new(&format!("sub/{i}.png")))).count())
            .collect();
        assert!(sizes.iter().all(|&n| (70..=130).contains(&n)), "{sizes:?}");
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
