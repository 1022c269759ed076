//! `animescore cache`: where each cache we keep is and how much it holds, and clearing one.
//!
//! Clearing removes only entries this tool makes (image and feature cache folders by their
//! name pattern, the kernel database, the known weights files), never anything else that
//! happens to share the folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use animescore_backbones::{PRETRAINED, weights_dir};
use animescore_pipeline::{FeatureCache, ImageCache, default_cache_root};
use animescore_run::{KERNEL_DATABASE, KernelCache, KernelRecords, kernel_records};

/// The kinds of cache, as the command names them.
const KINDS: [&str; 4] = ["images", "features", "kernels", "weights"];

/// The folder the CUDA driver keeps its own compiled code in, inside the kernel cache
/// (`CUDA_CACHE_PATH`, set by `main`).
pub const CUDA_DRIVER_FOLDER: &str = "cuda-driver";

#[derive(clap::Args)]
pub struct CacheCommandArgs {
    /// `list` (every cache, or one) or `clear` (one).
    #[arg(value_parser = ["list", "clear"], default_value = "list")]
    pub action: String,
    /// Which cache: images, features (both per dataset), kernels (GPU) or weights (downloads).
    #[arg(value_parser = KINDS)]
    pub kind: Option<String>,
    /// The dataset whose image and feature caches are meant (`DATASET/.database/cache`).
    #[arg(long, conflicts_with = "cache_dir")]
    pub dataset: Option<PathBuf>,
    /// The image and feature caches under this folder (as given to `train --cache-dir`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Say what `clear` would remove; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One cache: its folder and the entries of it that are ours.
struct Cache {
    kind: &'static str,
    dir: Option<PathBuf>,
    why_none: &'static str,
}

impl Cache {
    fn of(kind: &'static str, args: &CacheCommandArgs, kernels: &KernelCache) -> Self {
        let per_dataset =
            || args.cache_dir.clone().or_else(|| args.dataset.as_deref().map(default_cache_root));
        let (dir, why_none) = match kind {
            "images" | "features" => (per_dataset(), "give --dataset DIR or --cache-dir DIR"),
            "kernels" => (kernels.dir().map(Path::to_path_buf), "off"),
            _ => (weights_dir(), "no home folder"),
        };
        Self { kind, dir, why_none }
    }

    /// The entries of the folder that this kind of cache made.
    fn entries(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.dir else { return Vec::new() };
        let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut entries: Vec<PathBuf> = read
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                name.to_str().is_some_and(|name| is_ours(self.kind, name))
            })
            .map(|e| e.path())
            .collect();
        entries.sort();
        entries
    }
}

/// Whether an entry of a cache folder was made by that kind of cache.
fn is_ours(kind: &str, name: &str) -> bool {
    match kind {
        "images" => ImageCache::is_cache_folder(name),
        "features" => FeatureCache::is_cache_folder(name),
        "kernels" => name.starts_with(KERNEL_DATABASE) || name == CUDA_DRIVER_FOLDER,
        _ => PRETRAINED.iter().any(|w| {
            name == w.file
                || (name.starts_with(&format!(".{}.", w.file)) && name.ends_with(".part"))
        }),
    }
}

pub fn run(args: &CacheCommandArgs, kernels: &KernelCache) -> anyhow::Result<ExitCode> {
    let kinds: Vec<&'static str> = match &args.kind {
        Some(kind) => KINDS.iter().copied().filter(|k| k == kind).collect(),
        None if args.action == "clear" => {
            anyhow::bail!("say which cache to clear: {}", KINDS.join(", "))
        }
        None => KINDS.to_vec(),
    };
    for kind in kinds {
        let cache = Cache::of(kind, args, kernels);
        match args.action.as_str() {
            "clear" => clear(&cache, args.dry_run)?,
            _ => list(&cache),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(cache: &Cache) {
    let Some(dir) = &cache.dir else {
        println!("{:<9} ({})", cache.kind, cache.why_none);
        return;
    };
    let entries = cache.entries();
    println!("{:<9} {}  {}", cache.kind, dir.display(), entries_text(&entries));
    if cache.kind == "kernels"
        && !entries.is_empty()
        && let Some(records) = kernel_records()
    {
        println!("{}", records_text(&records));
    }
}

/// What CubeCL recorded: compilations and tunes, with the slowest compilations.
pub fn records_text(r: &KernelRecords) -> String {
    let mut text = format!(
        "          records of {} sessions: {} kernels compiled in {:.1} s ({:.2} s each), {} \
         loaded from the cache; {} operations tuned in {:.1} s",
        r.sessions,
        r.compiled,
        r.compile_seconds,
        r.compile_seconds / r.compiled.max(1) as f64,
        r.loaded,
        r.tuned,
        r.tune_seconds
    );
    for (kernel, seconds) in &r.slowest {
        text += &format!("\n            {seconds:>7.2} s  {kernel}");
    }
    text
}

fn clear(cache: &Cache, dry_run: bool) -> anyhow::Result<()> {
    let Some(dir) = &cache.dir else {
        anyhow::bail!("{} cache: {}", cache.kind, cache.why_none);
    };
    let entries = cache.entries();
    let what = entries_text(&entries);
    for entry in &entries {
        if dry_run {
            continue;
        }
        // A link among our names is removed as a link; what it points to stays.
        let removed = match std::fs::symlink_metadata(entry) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(entry),
            _ => std::fs::remove_file(entry),
        };
        removed.map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", entry.display()))?;
    }
    let done = if dry_run { "would remove" } else { "removed" };
    println!("{} cache {}: {done} {what}", cache.kind, dir.display());
    Ok(())
}

/// `12 entries, 1.2 GiB`: how many entries and their size together.
fn entries_text(entries: &[PathBuf]) -> String {
    let bytes: u64 = entries.iter().map(|e| size_of(e)).sum();
    let noun = if entries.len() == 1 { "entry" } else { "entries" };
    format!("{} {noun}, {}", entries.len(), human(bytes))
}

/// `1.2 GiB`: the size of a whole folder, for messages.
pub fn size_text(dir: &Path) -> String {
    human(size_of(dir))
}

/// Bytes of a file, or of every file under a folder (links are not followed).
fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|read| read.filter_map(|e| e.ok()).map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

/// `1.2 GiB`, `340.0 KiB`, `12 B`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_are_ours() {
        assert!(is_ours("kernels", "default.db") && is_ours("kernels", "default.db-wal"));
        assert!(is_ours("kernels", CUDA_DRIVER_FOLDER) && !is_ours("kernels", "notes.txt"));
        let weights = PRETRAINED[0].file;
        assert!(is_ours("weights", weights));
        assert!(is_ours("weights", &format!(".{weights}.a1b2c3.part")));
        assert!(!is_ours("weights", "my-model.pth"));
        assert!(!is_ours("images", "holiday-photos") && !is_ours("features", "features"));
        assert_eq!(human(12), "12 B");
        assert_eq!(human(3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
