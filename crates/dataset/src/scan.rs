//! Finding metadata files and their images in a gallery-dl dataset folder.
//!
//! gallery-dl writes `{filename}.{original_ext}.json` next to the image; the user's resize step
//! may have changed the image's extension (`28123456_p0.jpg.json` beside `28123456_p0.png`).
//! Files are therefore paired by their base name (everything before the first image or `.json`
//! extension) within one folder, never by a pattern of ids, since newer gallery-dl versions
//! name files `{id}-{hash}_p{num}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use animescore_fs::{EntryKind, VisitedDirs, entry_kind};

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

/// Per folder and base name: the metadata file, and the preferred image with its rank.
type FolderEntry = (Option<PathBuf>, Option<(usize, PathBuf)>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Metadata,
    Image(usize),
}

/// Walks `root` (every non-hidden folder, recursively; `.database` and other dot-folders are
/// skipped) and pairs metadata with images. Linked folders are followed, each folder walked
/// once (by device and inode, so a link cycle ends); only regular files are paired. Output is
/// sorted by base name, so runs are reproducible.
pub fn scan(root: &Path) -> Result<ScanResult> {
    if !root.is_dir() {
        return Err(DatasetError::io(
            root,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let mut result = ScanResult::default();
    let mut found: BTreeMap<String, Pair> = BTreeMap::new();
    let mut visited = VisitedDirs::new();
    if let Ok((_, meta)) = entry_kind(root) {
        visited.first_visit(&meta);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                result.unreadable.push((dir, e.to_string()));
                continue;
            }
        };
        // Per folder: base → (metadata, best image).
        let mut here: BTreeMap<String, FolderEntry> = BTreeMap::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(file_type) = entry.file_type() else { continue };
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                // Non-UTF-8 names cannot be keys in the index.
                result.unreadable.push((path, "file name is not UTF-8".into()));
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let classified = classify(&name);
            // Links are followed: a linked shard folder is walked, a link to a file is read.
            // Plain files (most entries) need no extra stat.
            let followed =
                if file_type.is_file() { Ok((EntryKind::File, None)) } else { kind_of(&path) };
            let kind = match followed {
                Ok((EntryKind::Dir, meta)) => {
                    if meta.is_none_or(|m| visited.first_visit(&m)) {
                        stack.push(path);
                    } else {
                        result.skipped.push((path, "folder already walked (link cycle)".into()));
                    }
                    continue;
                }
                Ok((kind, _)) => kind,
                Err(e) => {
                    if classified.is_some() {
                        result.skipped.push((path, format!("cannot follow: {e}")));
                    }
                    continue;
                }
            };
            if let (EntryKind::Other(what), Some(_)) = (kind, classified) {
                result.skipped.push((path, format!("not a regular file ({what})")));
                continue;
            }
            match classified {
                Some((base, Kind::Metadata)) => {
                    here.entry(base.to_string()).or_default().0 = Some(path)
                }
                Some((base, Kind::Image(rank))) => {
                    let slot = &mut here.entry(base.to_string()).or_default().1;
                    if slot.as_ref().is_none_or(|(r, _)| rank < *r) {
                        *slot = Some((rank, path));
                    }
                }
                None => {}
            }
        }
        for (base, (metadata, image)) in here {
            let image = image.map(|(_, p)| p);
            match metadata {
                None => result.orphan_images.extend(image),
                Some(metadata) => {
                    if let Some(first) = found.get(&base) {
                        result.duplicates.push((metadata, first.metadata.clone()));
                    } else {
                        found.insert(base.clone(), Pair { base, metadata, image });
                    }
                }
            }
        }
    }
    result.pairs = found.into_values().collect();
    result.orphan_images.sort();
    Ok(result)
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
}
