//! Decode once, train many epochs: resized `u8` RGB images on disk.
//!
//! Full-size illustrations take tens of milliseconds each to decode; an epoch that decodes
//! every original again is bound by the decoder, not the model. The cache keeps each image
//! as it looks after the resize (`size × size × 3` bytes, ~150 KB at 224 px) in a
//! [`SlotStore`], so later epochs read a few hundred kilobytes instead of decoding
//! megabytes. Augmentation runs on these bytes ([`crate::augment::render`]). One folder per
//! preprocessing setting ([`ImageCache::folder_name`]); a changed image, or a cached slot that
//! does not match its checksum, is decoded again; a read-only cache is read, not written (see
//! [`SlotStore`] for what a hostile cache can and cannot do).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use animescore_backbones::{Preprocess, ResizeMode};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::slots::{CacheProgress, CacheRoot, FillStats, RecomputeSlot, SlotStore, Slots};

/// Version of the decode + resize code; a change starts a new folder. 2: reduced-scale JPEG
/// decoding, SIMD bilinear resize, EXIF orientation, transparency on white.
const FORMAT_VERSION: u32 = 2;
/// Images decoded per parallel chunk (bounds memory while filling).
const CHUNK: usize = 64;

/// The resized images of one list of paths, in that order (`size · size · 3` bytes each).
pub type CachedImages = Slots;

/// What decides the cached pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Settings {
    kind: &'static str,
    version: u32,
    size: usize,
    mode: ResizeMode,
    /// The letterbox fill colour comes from the mean.
    mean: [f32; 3],
}

/// An image cache folder for one preprocessing setting.
#[derive(Debug, Clone)]
pub struct ImageCache {
    store: SlotStore,
    preprocess: Preprocess,
}

impl ImageCache {
    /// The cache for `preprocess` under `root` (created on the first fill).
    pub fn new(root: &CacheRoot, preprocess: &Preprocess) -> Self {
        let settings = Self::settings(preprocess);
        let slot_bytes = (preprocess.size * preprocess.size * 3) as u64;
        let store = SlotStore::new(root, Self::folder_name(preprocess), settings, slot_bytes);
        Self { store, preprocess: preprocess.clone() }
    }

    fn settings(p: &Preprocess) -> serde_json::Value {
        let s = Settings {
            kind: "images",
            version: FORMAT_VERSION,
            size: p.size,
            mode: p.mode,
            mean: p.mean,
        };
        serde_json::to_value(s).unwrap_or_default()
    }

    /// `images-<size>px-<mode>-<hash of all settings>`.
    pub fn folder_name(preprocess: &Preprocess) -> String {
        let text = Self::settings(preprocess).to_string();
        let mode = match preprocess.mode {
            ResizeMode::Stretch => "stretch",
            ResizeMode::Letterbox => "letterbox",
        };
        let hash = animescore_fs::stable_hash::<u64>(text.as_bytes()) as u32;
        format!("images-{}px-{mode}-{hash:08x}", preprocess.size)
    }

    /// Whether a folder name is one [`folder_name`](Self::folder_name) makes.
    pub fn is_cache_folder(name: &str) -> bool {
        let Some(rest) = name.strip_prefix("images-") else { return false };
        let parts: Vec<&str> = rest.split('-').collect();
        matches!(parts.as_slice(), [size, "stretch" | "letterbox", hash]
            if is_size(size) && is_hash(hash))
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// Makes sure every path is in the cache (decoding the missing and changed ones in
    /// parallel) and returns a reader in the order of `paths`. `key` names each path in the
    /// index (e.g. relative to the dataset folder, so the folder can move).
    pub fn fill(
        &self,
        paths: &[PathBuf],
        key: impl Fn(&Path) -> String,
        progress: &dyn CacheProgress,
    ) -> Result<(CachedImages, FillStats)> {
        let preprocess = self.preprocess.clone();
        let decode_one: RecomputeSlot = Arc::new(move |path: &Path| {
            preprocess.load_rgb(path).map(image::RgbImage::into_raw).map_err(|e| e.to_string())
        });
        let decode = |indices: &[usize]| -> Vec<std::result::Result<Vec<u8>, String>> {
            indices.par_iter().map(|&i| decode_one(&paths[i])).collect()
        };
        self.store.fill(paths, key, CHUNK, &decode, decode_one.clone(), progress)
    }
}

/// `<digits>px`.
pub(crate) fn is_size(text: &str) -> bool {
    text.strip_suffix("px").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Eight lower-case hexadecimal digits.
pub(crate) fn is_hash(text: &str) -> bool {
    text.len() == 8 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether and where `train` and `eval` keep decoded images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheChoice {
    /// Under the dataset's hidden folder: `<dataset>/.database/cache/`.
    #[default]
    Dataset,
    /// Under another folder (a fast local disk on a cluster, or when the dataset is
    /// read-only).
    Dir(PathBuf),
    /// Decode every image every time.
    Off,
}

/// The default cache root of a dataset folder (image and feature caches).
pub fn default_cache_root(dataset: &Path) -> PathBuf {
    dataset.join(".database").join("cache")
}

/// The cache root of a choice (`None`: caching is off). The dataset's own `cache` folder is
/// the tool's: it and the folders in it are opened without following links, since a shared
/// dataset can carry them; a `--cache-dir` is followed like any path the user gives.
pub fn cache_root(choice: &CacheChoice, dataset: &Path) -> Option<CacheRoot> {
    match choice {
        CacheChoice::Off => None,
        CacheChoice::Dir(dir) => Some(CacheRoot::dir(dir)),
        CacheChoice::Dataset => Some(CacheRoot::within(dataset.join(".database"), &["cache"])),
    }
}

/// Fills the image cache chosen by `choice` for the image files `paths` of `dataset` and
/// returns its reader in that order; `None` when the cache is off. A cache that cannot be
/// written (a read-only dataset) is read where it can be and decodes the rest on every read.
pub fn fill_image_cache(
    choice: &CacheChoice,
    dataset: &Path,
    paths: &[PathBuf],
    preprocess: &Preprocess,
    progress: &dyn CacheProgress,
) -> Result<Option<CachedImages>> {
    let Some(root) = cache_root(choice, dataset) else { return Ok(None) };
    let cache = ImageCache::new(&root, preprocess);
    let key = |p: &Path| p.strip_prefix(dataset).unwrap_or(p).to_string_lossy().into_owned();
    let (images, stats) = cache.fill(paths, key, progress)?;
    tracing::info!(
        "image cache {}: {} cached, {} decoded, {} unreadable",
        cache.dir().display(),
        stats.hits,
        stats.computed,
        stats.failed
    );
    if stats.uncached > 0 {
        tracing::warn!(
            "{} image(s) are not in the image cache {} and cannot be stored there: decoding \
             them every epoch (choose a writable place with --cache-dir)",
            stats.uncached,
            cache.dir().display()
        );
    }
    Ok(Some(images))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slots::NoCacheProgress;

    fn write_png(path: &Path, w: u32, h: u32, seed: u8) {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x as u8).wrapping_mul(seed), (y as u8).wrapping_add(seed), seed])
        });
        img.save(path).unwrap();
    }

    fn setup(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..n)
            .map(|i| {
                let p = dir.path().join(format!("img{i}.png"));
                write_png(&p, 20 + i as u32, 12, i as u8 + 1);
                p
            })
            .collect();
        (dir, paths)
    }

    fn key(dir: &Path) -> impl Fn(&Path) -> String + '_ {
        move |p: &Path| p.strip_prefix(dir).unwrap_or(p).to_string_lossy().into_owned()
    }

    #[test]
    fn cache_folder_names_are_recognised() {
        let p = Preprocess::imagenet(8).with_mode(ResizeMode::Letterbox);
        assert!(ImageCache::is_cache_folder(&ImageCache::folder_name(&p)));
        for other in ["images-8px-letterbox", "images-xpx-letterbox-0123abcd", "photos", ""] {
            assert!(!ImageCache::is_cache_folder(other), "{other}");
        }
    }

    #[test]
    fn serves_the_decoded_pixels_and_reuses_them() {
        let (dir, paths) = setup(5);
        let p = Preprocess::imagenet(8).with_mode(ResizeMode::Letterbox);
        let cache = ImageCache::new(&CacheRoot::dir(dir.path().join("cache")), &p);
        let (images, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!(stats, FillStats { hits: 0, computed: 5, failed: 0, uncached: 0 });
        for (i, path) in paths.iter().enumerate() {
            assert_eq!(images.get(i).unwrap(), p.load_rgb(path).unwrap().into_raw(), "{i}");
        }
        // A second fill decodes nothing; a reordered subset reads the right images.
        let (again, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!(stats, FillStats { hits: 5, computed: 0, failed: 0, uncached: 0 });
        let sub = again.subset(&[3, 1]);
        assert_eq!(sub.get(0).unwrap(), images.get(3).unwrap());
        assert_eq!(sub.get(1).unwrap(), images.get(1).unwrap());
    }

    #[test]
    fn a_changed_image_or_other_size_is_never_served_stale() {
        let (dir, paths) = setup(3);
        let p = Preprocess::imagenet(8);
        let root = CacheRoot::dir(dir.path().join("cache"));
        let cache = ImageCache::new(&root, &p);
        let (before, _) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        // Other content, other length: decoded again.
        write_png(&paths[1], 40, 30, 99);
        let (after, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!((stats.hits, stats.computed), (2, 1));
        assert_ne!(after.get(1).unwrap(), before.get(1).unwrap());
        assert_eq!(after.get(1).unwrap(), p.load_rgb(&paths[1]).unwrap().into_raw());
        // Another size lives in another folder.
        let other = ImageCache::new(&root, &Preprocess::imagenet(6));
        assert_ne!(other.dir(), cache.dir());
        let (small, stats) = other.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!(stats.computed, 3);
        assert_eq!(small.get(0).unwrap().len(), 6 * 6 * 3);
    }

    #[test]
    fn unreadable_images_are_reported_and_never_stored() {
        let (dir, mut paths) = setup(2);
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"not an image").unwrap();
        paths.push(bad.clone());
        let cache =
            ImageCache::new(&CacheRoot::dir(dir.path().join("cache")), &Preprocess::imagenet(8));
        struct Count(std::sync::atomic::AtomicUsize);
        impl CacheProgress for Count {
            fn failed(&self, _: &Path, _: &str) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let count = Count(Default::default());
        let (images, stats) = cache.fill(&paths, key(dir.path()), &count).unwrap();
        assert_eq!(stats.failed, 1);
        assert!(images.failure(2).is_some() && images.get(2).is_err());
        // A failure is not stored (a cache from elsewhere could hide good images): decoded
        // again, and reported again.
        let (images, stats) = cache.fill(&paths, key(dir.path()), &count).unwrap();
        assert_eq!((stats.hits, stats.computed, stats.failed), (2, 0, 1));
        assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(images.failure(2).unwrap().contains("bad.png"));
    }

    #[test]
    fn leftovers_of_a_killed_fill_are_never_read() {
        let (dir, paths) = setup(4);
        let p = Preprocess::imagenet(8);
        let cache = ImageCache::new(&CacheRoot::dir(dir.path().join("cache")), &p);
        cache.fill(&paths[..2], key(dir.path()), &NoCacheProgress).unwrap();
        // A killed fill: a segment that no index names, and an index written half-way.
        let orphan = cache.dir().join("seg-1-1.u8");
        std::fs::write(&orphan, vec![7u8; 8 * 8 * 3 * 2]).unwrap();
        std::fs::write(cache.dir().join(".index.json.tmp-1"), b"{\"half").unwrap();
        let (images, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!((stats.hits, stats.computed), (2, 2));
        assert!(!orphan.exists() && !cache.dir().join(".index.json.tmp-1").exists());
        for (i, path) in paths.iter().enumerate() {
            assert_eq!(images.get(i).unwrap(), p.load_rgb(path).unwrap().into_raw());
        }
        // A committed segment cut short behind our back: its images are decoded again.
        let mut segments: Vec<PathBuf> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "u8"))
            .collect();
        segments.sort();
        let first = &segments[0];
        std::fs::OpenOptions::new().write(true).open(first).unwrap().set_len(10).unwrap();
        let (images, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!((stats.hits, stats.computed), (2, 2));
        assert_eq!(images.get(0).unwrap(), p.load_rgb(&paths[0]).unwrap().into_raw());
        // An unreadable index starts the cache over.
        std::fs::write(cache.dir().join("index.json"), b"garbage").unwrap();
        let (_, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!(stats.computed, 4);
    }

    /// Every image of `paths` as the cache serves it equals a fresh decode.
    fn served_as_decoded(images: &CachedImages, paths: &[PathBuf], p: &Preprocess) {
        for (i, path) in paths.iter().enumerate() {
            assert_eq!(images.get(i).unwrap(), p.load_rgb(path).unwrap().into_raw(), "{i}");
        }
    }

    /// The segment files of a store folder, in name order.
    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "u8"))
            .collect();
        found.sort();
        found
    }

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "{path:?}");
    }

    /// Runs `f` on another thread and fails the test if it takes more than 20 s (a FIFO that
    /// blocks would hang forever).
    fn within_time<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(20)).expect("blocked")
    }

    #[test]
    fn a_slot_edited_behind_the_caches_back_is_decoded_again() {
        let (dir, paths) = setup(3);
        let p = Preprocess::imagenet(8);
        let cache = ImageCache::new(&CacheRoot::dir(dir.path().join("cache")), &p);
        cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        // Same length, other bytes: only the checksum can tell.
        let segment = &segments(cache.dir())[0];
        let mut bytes = std::fs::read(segment).unwrap();
        bytes.iter_mut().for_each(|b| *b = b.wrapping_add(1));
        std::fs::write(segment, &bytes).unwrap();
        let (images, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!(stats.hits, 3, "the stamps still match");
        served_as_decoded(&images, &paths, &p);
    }

    #[test]
    fn an_edit_that_keeps_length_and_mtime_is_decoded_again() {
        let (dir, paths) = setup(2);
        let p = Preprocess::imagenet(8);
        let cache = ImageCache::new(&CacheRoot::dir(dir.path().join("cache")), &p);
        cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        // Another image of the same byte length, the old mtime put back (`cp -p`, `touch -r`).
        let mtime = std::fs::metadata(&paths[0]).unwrap().modified().unwrap();
        let len = std::fs::metadata(&paths[0]).unwrap().len();
        // A smaller picture, zero-padded to the old length (bytes after a PNG's end are
        // ignored by the decoder).
        let candidate = dir.path().join("candidate.png");
        write_png(&candidate, 10, 6, 200);
        let mut other = std::fs::read(&candidate).unwrap();
        assert!(other.len() as u64 <= len, "{} > {len}", other.len());
        other.resize(len as usize, 0);
        std::fs::write(&paths[0], &other).unwrap();
        let file = std::fs::File::options().write(true).open(&paths[0]).unwrap();
        file.set_modified(mtime).unwrap();
        drop(file);
        assert_eq!(std::fs::metadata(&paths[0]).unwrap().len(), len);
        let (images, stats) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        assert_eq!((stats.hits, stats.computed), (1, 1));
        served_as_decoded(&images, &paths, &p);
    }

    #[test]
    fn a_hostile_index_cannot_redirect_reads_or_writes() {
        let (dir, paths) = setup(3);
        let p = Preprocess::imagenet(8);
        let cache = ImageCache::new(&CacheRoot::dir(dir.path().join("cache")), &p);
        cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        let index_path = cache.dir().join("index.json");
        let good: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
        // A file outside the cache holding "pixels" of the right size, named by the index in
        // every way a segment could be misnamed.
        let outside = dir.path().join("outside.u8");
        let planted = vec![9u8; 8 * 8 * 3 * 3];
        std::fs::write(&outside, &planted).unwrap();
        for name in ["../../outside.u8".to_string(), outside.display().to_string(), "..".into()] {
            let mut index = good.clone();
            index["segments"][0]["file"] = serde_json::Value::String(name.clone());
            std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
            let (images, _) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
            served_as_decoded(&images, &paths, &p);
        }
        // A segment that is a link to that file: never read.
        std::fs::write(&index_path, serde_json::to_vec(&good).unwrap()).unwrap();
        let segment = segments(cache.dir())[0].clone();
        std::fs::remove_file(&segment).unwrap();
        std::os::unix::fs::symlink(&outside, &segment).unwrap();
        let (images, _) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        served_as_decoded(&images, &paths, &p);
        // `index.json` linked to a user's file: the file is never written.
        let user = dir.path().join("notes.txt");
        std::fs::write(&user, b"my notes").unwrap();
        std::fs::remove_file(&index_path).unwrap();
        std::os::unix::fs::symlink(&user, &index_path).unwrap();
        let (images, _) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        served_as_decoded(&images, &paths, &p);
        assert_eq!(std::fs::read(&user).unwrap(), b"my notes");
        assert_eq!(std::fs::read(&outside).unwrap(), planted);
        assert!(!std::fs::symlink_metadata(&index_path).unwrap().is_symlink());
    }

    #[test]
    fn a_cache_folder_linked_to_a_users_folder_is_never_written_or_emptied() {
        let (dir, paths) = setup(2);
        let p = Preprocess::imagenet(8);
        // The user's folder holds files with the names the store writes and deletes.
        let user = dir.path().join("photos");
        std::fs::create_dir(&user).unwrap();
        let names = ["seg-1-2.u8", "index.json", "lock", ".index.json.x.tmp", "keep.png"];
        for name in names {
            std::fs::write(user.join(name), name.as_bytes()).unwrap();
        }
        let dataset = dir.path().join("data");
        std::fs::create_dir_all(dataset.join(".database/cache")).unwrap();
        let root = cache_root(&CacheChoice::Dataset, &dataset).unwrap();
        let cache = ImageCache::new(&root, &p);
        // Both the dataset's cache folder and a store folder as links to the user's folder.
        std::os::unix::fs::symlink(&user, cache.dir()).unwrap();
        let (images, _) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        served_as_decoded(&images, &paths, &p);
        std::fs::remove_dir_all(dataset.join(".database/cache")).unwrap();
        std::os::unix::fs::symlink(&user, dataset.join(".database/cache")).unwrap();
        let (images, _) = cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        served_as_decoded(&images, &paths, &p);
        let mut found: Vec<String> = std::fs::read_dir(&user)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        want.sort();
        assert_eq!(found, want);
        for name in names {
            assert_eq!(std::fs::read(user.join(name)).unwrap(), name.as_bytes(), "{name}");
        }
        assert!(cache.dir().join("index.json").is_file(), "a real cache folder now");
    }

    #[test]
    fn fifos_as_segment_index_or_lock_never_block() {
        let (dir, paths) = setup(2);
        let p = Preprocess::imagenet(8);
        let root = CacheRoot::dir(dir.path().join("cache"));
        let cache = ImageCache::new(&root, &p);
        cache.fill(&paths, key(dir.path()), &NoCacheProgress).unwrap();
        for name in ["lock", "index.json", "the first segment"] {
            let path = match name {
                "the first segment" => segments(cache.dir())[0].clone(),
                _ => cache.dir().join(name),
            };
            std::fs::remove_file(&path).unwrap();
            mkfifo(&path);
            let (cache, paths, dir_path, p) =
                (cache.clone(), paths.clone(), dir.path().to_path_buf(), p.clone());
            let images = within_time(move || {
                let (images, _) = cache.fill(&paths, key(&dir_path), &NoCacheProgress).unwrap();
                let served: Vec<Vec<u8>> =
                    (0..paths.len()).map(|i| images.get(i).unwrap()).collect();
                (served, paths, p)
            });
            let (served, paths, p) = images;
            for (i, path) in paths.iter().enumerate() {
                assert_eq!(served[i], p.load_rgb(path).unwrap().into_raw(), "{name} {i}");
            }
        }
    }
}
