//! Finding metadata files and their images in a gallery-dl dataset folder.
//!
//! gallery-dl writes `{filename}.{original_ext}.json` next to the image; the user's resize step
//! may have changed the image's extension (`28123456_p0.jpg.json` beside `28123456_p0.png`).
//! Files are therefore paired by their base name (everything before the first image or `.json`
//! extension) within one folder, never by a pattern of ids, since newer gallery-dl versions
//! name files `{id}-{hash}_p{num}`.

use std::path::{Path, PathBuf};

use animescore_fs::{EntryKind, VisitedDirs, entry_kind};
use rayon::prelude::*;

use crate::error::{DatasetError, Result};

/// Image extensions we pair, in order of preference when several exist for one base name:
/// the formats the models can decode (a `.gif` or `.zip` ugoira is reported as missing its
/// image at ingest rather than failing later in training).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// A metadata file and, if found, its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Base name (`28123456_p0`): the index's primary key.
    pub base: String,
    /// The metadata file.
    pub metadata: PathBuf,
    /// The image, when one with the same base name sits in the same folder.
    pub image: Option<PathBuf>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanResult {
    /// Metadata files with their images (or without, to be reported).
    pub pairs: Vec<Pair>,
    /// Images that have no metadata file.
    pub orphan_images: Vec<PathBuf>,
    /// A second metadata file for a base name already seen in another folder.
    pub duplicates: Vec<(PathBuf, PathBuf)>,
    /// Folders that could not be read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Entries left out on purpose, with the reason: a metadata or image name that is not a
    /// regular file (FIFO, device, dangling link), or a linked folder already walked (a cycle).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Splits a file name into `(base, kind)`: metadata `X.jpg.json` / `X.json` → `(X, Metadata)`,
/// image `X.png` → `(X, Image(rank))`; anything else → `None`.
fn classify(name: &str) -> Option<(&str, Kind)> {
    if let Some(stem) = name.strip_suffix(".json") {
        let base = match stem.rsplit_once('.') {
            Some((b, ext)) if image_rank(ext).is_some() => b,
            _ => stem,
        };
        return (!base.is_empty()).then_some((base, Kind::Metadata));
    }
    let (base, ext) = name.rsplit_once('.')?;
    let rank = image_rank(ext)?;
    (!base.is_empty()).then_some((base, Kind::Image(rank)))
}

fn image_rank(ext: &str) -> Option<usize> {
    IMAGE_EXTENSIONS.iter().position(|e| e.eq_ignore_ascii_case(ext))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Metadata,
    /// An image, by rank in [`IMAGE_EXTENSIONS`] (lower is preferred).
    Image(usize),
}

/// What one folder holds.
#[derive(Default)]
struct Listing {
    /// Metadata files with their preferred images, sorted by base name.
    pairs: Vec<Pair>,
    /// Images without a metadata file.
    orphan_images: Vec<PathBuf>,
    /// A second metadata file for a base name, with the first (as [`ScanResult::duplicates`]).
    duplicates: Vec<(PathBuf, PathBuf)>,
    /// Sub-folders (after following links), with their metadata when a `stat` gave it.
    folders: Vec<(PathBuf, Option<std::fs::Metadata>)>,
    /// Entries left out, with the reason (as [`ScanResult::skipped`]).
    skipped: Vec<(PathBuf, String)>,
    /// Entries whose name cannot be a key (as [`ScanResult::unreadable`]).
    unreadable: Vec<(PathBuf, String)>,
}

/// Walks `root` (every non-hidden folder, recursively; `.database` and other dot-folders are
/// skipped) and pairs metadata with images. Linked folders are followed, each folder walked
/// once (by device and inode, so a link cycle ends); only regular files are paired. Output is
/// sorted by base name, so runs are reproducible.
///
/// Folders are listed in parallel on the current rayon pool, one depth level at a time. Which
/// path to a folder counts, and which of two metadata files with one base name is the first,
/// is decided by depth (shallower first), then by path, so parallelism never changes the
/// result.
pub fn scan(root: &Path) -> Result<ScanResult> {
    ensure_folder(root)?;
    let mut result = ScanResult::default();
    let mut visited = VisitedDirs::new();
    if let Ok((_, meta)) = entry_kind(root) {
        visited.first_visit(&meta);
    }
    let mut pairs = Vec::new();
    let mut level = vec![root.to_path_buf()];
    while !level.is_empty() {
        // One job per folder: folder sizes differ by orders of magnitude, so rayon's default
        // halving left one thread listing the large folders while the other idled.
        let listed: Vec<(PathBuf, std::io::Result<Listing>)> = level
            .into_par_iter()
            .with_max_len(1)
            .map(|dir| {
                let listing = list(&dir);
                (dir, listing)
            })
            .collect();
        let mut next = Vec::new();
        for (dir, listing) in listed {
            let mut listing = match listing {
                Ok(listing) => listing,
                Err(e) => {
                    result.unreadable.push((dir, e.to_string()));
                    continue;
                }
            };
            listing.folders.sort_by(|a, b| a.0.cmp(&b.0));
            for (folder, meta) in listing.folders {
                if meta.is_none_or(|m| visited.first_visit(&m)) {
                    next.push(folder);
                } else {
                    result.skipped.push((folder, "folder already walked (link cycle)".into()));
                }
            }
            result.skipped.extend(listing.skipped);
            result.unreadable.extend(listing.unreadable);
            result.orphan_images.extend(listing.orphan_images);
            result.duplicates.extend(listing.duplicates);
            pairs.extend(listing.pairs);
        }
        level = next;
    }
    keep_first_of_each_base(pairs, &mut result);
    result.orphan_images.par_sort_unstable();
    Ok(result)
}

/// The error of a dataset root that is not a folder.
pub(crate) fn ensure_folder(root: &Path) -> Result<()> {
    if root.is_dir() {
        return Ok(());
    }
    Err(DatasetError::io(
        root,
        std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
    ))
}

/// Lists one folder: its metadata files and images, and its sub-folders.
fn list(dir: &Path) -> std::io::Result<Listing> {
    let mut listing = Listing::default();
    let mut named = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let Ok(file_type) = entry.file_type() else { continue };
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            // Non-UTF-8 names cannot be keys in the index.
            listing.unreadable.push((path, "file name is not UTF-8".into()));
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let classified = classify(name).map(|(base, kind)| (base.to_owned(), kind));
        // Links are followed: a linked shard folder is walked, a link to a file is read.
        // Plain files (most entries) need no extra stat.
        let followed =
            if file_type.is_file() { Ok((EntryKind::File, None)) } else { kind_of(&path) };
        match followed {
            Ok((EntryKind::Dir, meta)) => listing.folders.push((path, meta)),
            Ok((EntryKind::File, _)) => {
                if let Some((base, kind)) = classified {
                    named.push((base, kind, path));
                }
            }
            Ok((EntryKind::Other(what), _)) if classified.is_some() => {
                listing.skipped.push((path, format!("not a regular file ({what})")));
            }
            Ok((EntryKind::Other(_), _)) => {}
            Err(e) if classified.is_some() => {
                listing.skipped.push((path, format!("cannot follow: {e}")));
            }
            Err(_) => {}
        }
    }
    pair_folder(named, &mut listing);
    Ok(listing)
}

/// Pairs one folder's metadata files (`named`: `(base, kind, path)`) with their preferred
/// images; a second metadata file for one base name is a duplicate of the first by name.
fn pair_folder(mut named: Vec<(String, Kind, PathBuf)>, listing: &mut Listing) {
    // Per base name: metadata first (by file name), then images by preference.
    named.sort_unstable_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
    let mut entries = named.into_iter().peekable();
    while let Some((base, kind, path)) = entries.next() {
        let (mut metadata, mut image) = (None::<PathBuf>, None);
        let mut add = |kind, path| match (kind, &metadata) {
            (Kind::Metadata, None) => metadata = Some(path),
            (Kind::Metadata, Some(first)) => listing.duplicates.push((path, first.clone())),
            (Kind::Image(_), _) => {
                image.get_or_insert(path);
            }
        };
        add(kind, path);
        while let Some((_, kind, path)) = entries.next_if(|(b, _, _)| *b == base) {
            add(kind, path);
        }
        match metadata {
            None => listing.orphan_images.extend(image),
            Some(metadata) => listing.pairs.push(Pair { base, metadata, image }),
        }
    }
}

/// Sorts the pairs of every folder (in walk order) by base name into `result`; a base name
/// already paired in an earlier folder is a duplicate of the first.
fn keep_first_of_each_base(mut pairs: Vec<Pair>, result: &mut ScanResult) {
    // Stable: among pairs with one base name, the first folder's comes first.
    pairs.par_sort_by(|a, b| a.base.cmp(&b.base));
    result.pairs.reserve(pairs.len());
    let mut pairs = pairs.into_iter().peekable();
    while let Some(first) = pairs.next() {
        while let Some(dup) = pairs.next_if(|p| p.base == first.base) {
            result.duplicates.push((dup.metadata, first.metadata.clone()));
        }
        result.pairs.push(first);
    }
}

/// [`entry_kind`] with the metadata as an option, to share a type with the no-stat fast path.
fn kind_of(path: &Path) -> std::io::Result<(EntryKind, Option<std::fs::Metadata>)> {
    entry_kind(path).map(|(kind, meta)| (kind, Some(meta)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify("28_p0.jpg.json"), Some(("28_p0", Kind::Metadata)));
        assert_eq!(classify("28_p0.json"), Some(("28_p0", Kind::Metadata)));
        assert_eq!(classify("1-abc_p2.PNG"), Some(("1-abc_p2", Kind::Image(0))));
        assert_eq!(classify("notes.txt"), None);
        assert_eq!(classify(".json"), None);
    }

    #[test]
    fn pairs_by_base_name_across_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("28");
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::create_dir_all(dir.path().join(".database")).unwrap();
        for f in [
            "28_p0.jpg.json",
            "28_p0.png",
            "28_p0.jpg",
            "28_p1.png.json",
            "29_p0.png",
            ".hidden.json",
        ] {
            std::fs::write(shard.join(f), b"").unwrap();
        }
        std::fs::write(dir.path().join(".database/x_p0.json"), b"").unwrap();
        let r = scan(dir.path()).unwrap();
        assert_eq!(r.pairs.len(), 2);
        assert_eq!(r.pairs[0].image.as_deref(), Some(shard.join("28_p0.png").as_path()));
        assert_eq!(r.pairs[1].image, None);
        assert_eq!(r.orphan_images, vec![shard.join("29_p0.png")]);
    }

    #[test]
    fn a_base_name_seen_twice_keeps_the_first_in_path_order_and_reports_the_others() {
        let dir = tempfile::tempdir().unwrap();
        for shard in ["a", "b"] {
            std::fs::create_dir_all(dir.path().join(shard)).unwrap();
        }
        // Two metadata files for one base name in one folder, and the same name in another.
        for f in ["a/7_p0.jpg.json", "a/7_p0.png.json", "a/7_p0.png", "b/7_p0.json", "b/7_p0.png"] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        for _ in 0..3 {
            let r = scan(dir.path()).unwrap();
            assert_eq!(r.pairs.len(), 1);
            assert_eq!(r.pairs[0].metadata, dir.path().join("a/7_p0.jpg.json"));
            let first = dir.path().join("a/7_p0.jpg.json");
            let mut dups = r.duplicates.clone();
            dups.sort();
            assert_eq!(
                dups,
                [
                    (dir.path().join("a/7_p0.png.json"), first.clone()),
                    (dir.path().join("b/7_p0.json"), first)
                ]
            );
        }
    }
}
