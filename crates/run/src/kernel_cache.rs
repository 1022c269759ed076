//! Where the GPU backends keep compiled kernels and autotune results.
//!
//! CubeCL (under Burn's `cuda`, `vulkan` and `cpu` backends) compiles every kernel on first use
//! and times the candidates of every tuned operation; both results persist in one database per
//! folder. Left alone, CubeCL puts that folder under `target/environment` of the outermost
//! `Cargo.toml` above the working directory (so a run inside any Cargo project writes into that
//! project), and keeps compiled kernels for the process only. Here the folder is the user's
//! cache, `${XDG_CACHE_HOME:-~/.cache}/animescore/kernels` (or `ANIMESCORE_KERNEL_CACHE`, or
//! `--kernel-cache`), and both caches are on, so the second run of a model on a device starts
//! with its kernels compiled and tuned.
//!
//! The configuration must be installed before the first CubeCL device exists:
//! [`DeviceSpec::device`](crate::DeviceSpec::device) does it, once per process, with the choice
//! made by [`set_kernel_cache`] (or the default). A folder that cannot be written, or a database
//! file that is not one, gives one warning and the run continues without a cache. A user's own
//! `cubecl.toml` and `CUBECL_*` variables still apply to everything but the cache settings.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::{Result, RunError};

/// Environment variable naming the kernel cache folder, or `off`.
pub const KERNEL_CACHE_ENV: &str = "ANIMESCORE_KERNEL_CACHE";

/// The file CubeCL keeps its caches in, inside the kernel cache folder.
pub const KERNEL_DATABASE: &str = "default.db";

/// Where compiled kernels and autotune results are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelCache {
    /// In this folder (created when needed).
    Dir(PathBuf),
    /// Nowhere: every process compiles and tunes again.
    Off,
}

impl KernelCache {
    /// `$ANIMESCORE_KERNEL_CACHE` when set, else [`KernelCache::default_dir`].
    pub fn from_env() -> Self {
        match std::env::var_os(KERNEL_CACHE_ENV) {
            Some(value) if value == "off" => Self::Off,
            Some(value) if !value.is_empty() => Self::Dir(PathBuf::from(value)),
            _ => Self::default_dir().map_or(Self::Off, Self::Dir),
        }
    }

    /// `${XDG_CACHE_HOME:-~/.cache}/animescore/kernels`; `None` without a home folder.
    pub fn default_dir() -> Option<PathBuf> {
        animescore_fs::user_cache_dir("kernels")
    }

    /// The folder, when the cache is on.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Self::Dir(dir) => Some(dir),
            Self::Off => None,
        }
    }
}

impl FromStr for KernelCache {
    type Err = RunError;

    /// `off`, or a folder.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" => Err(RunError::InvalidConfig("--kernel-cache needs a folder or `off`".into())),
            "off" => Ok(Self::Off),
            dir => Ok(Self::Dir(PathBuf::from(dir))),
        }
    }
}

/// The choice made before the first device, and what came of it once devices exist.
static CHOICE: Mutex<Option<KernelCache>> = Mutex::new(None);
static INSTALLED: OnceLock<KernelCache> = OnceLock::new();
/// Whether a device of a backend that stores compiled kernels (CUDA, Vulkan) was created.
static STORES_KERNELS: AtomicBool = AtomicBool::new(false);

/// Chooses the kernel cache of this process (default: [`KernelCache::from_env`]). It takes
/// effect at the first GPU device; choosing again after that is an error.
pub fn set_kernel_cache(choice: KernelCache) -> Result<()> {
    if let Some(installed) = INSTALLED.get().filter(|installed| **installed != choice) {
        return Err(RunError::InvalidConfig(format!(
            "the kernel cache is already in use ({installed:?}); it cannot change within a process"
        )));
    }
    *CHOICE.lock().unwrap_or_else(|p| p.into_inner()) = Some(choice);
    Ok(())
}

/// The kernel cache in effect: `None` before the first GPU device of the process, then the
/// folder in use or [`KernelCache::Off`] (also when the chosen folder could not be used).
pub fn kernel_cache_in_use() -> Option<&'static KernelCache> {
    INSTALLED.get()
}

/// Installs the configuration once, before the first CubeCL device; later calls do nothing.
/// `stores_kernels`: whether the device about to be created keeps compiled kernels in the
/// cache (CUDA, Vulkan; not the CPU JIT).
pub(crate) fn install(stores_kernels: bool) -> &'static KernelCache {
    if stores_kernels {
        STORES_KERNELS.store(true, Ordering::Relaxed);
    }
    INSTALLED.get_or_init(|| {
        let chosen = CHOICE.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let usable = match chosen.unwrap_or_else(KernelCache::from_env) {
            KernelCache::Dir(dir) => match check_folder(&dir) {
                Ok(()) => KernelCache::Dir(dir),
                Err(reason) => {
                    tracing::warn!(
                        "kernel cache {}: {reason}; GPU kernels are compiled and tuned again in \
                         every process (choose another folder with --kernel-cache or {KERNEL_CACHE_ENV})",
                        dir.display()
                    );
                    KernelCache::Off
                }
            },
            KernelCache::Off => KernelCache::Off,
        };
        cubecl_config::install(&usable);
        usable
    })
}

/// Whether `dir` can hold the cache: a folder we can create files in, and no database file in
/// it that is not one.
fn check_folder(dir: &Path) -> std::result::Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the folder ({e})"))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("not a folder (a link or a file)".into());
    }
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::File::create_new(&probe).map_err(|e| format!("cannot write in it ({e})"))?;
    let _ = std::fs::remove_file(&probe);
    check_database(&dir.join(KERNEL_DATABASE))
}

/// A database file, when there is one, must be a regular file starting with SQLite's header
/// (CubeCL's store is SQLite-format).
fn check_database(path: &Path) -> std::result::Result<(), String> {
    const HEADER: &[u8; 16] = b"SQLite format 3\0";
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
        Ok(meta) if !meta.is_file() => {
            return Err(format!("{} is not a regular file", path.display()));
        }
        Ok(meta) if meta.len() == 0 => return Ok(()),
        Ok(_) => {}
    }
    let mut head = [0u8; 16];
    let file = animescore_fs::open_regular(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::Read::read_exact(&mut &file, &mut head)
        .map_err(|_| format!("{} is damaged (shorter than a database header)", path.display()))?;
    if &head != HEADER {
        return Err(format!("{} is damaged (not a database)", path.display()));
    }
    Ok(())
}

/// What the kernel cache holds: compiled kernels and tuned operations, counted over the whole
/// database (compare two snapshots to see what a step added).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelActivity {
    /// Compiled kernels stored (CUDA and Vulkan; `None` on backends that keep compiled kernels
    /// in memory only, such as the CPU JIT).
    pub compiled: Option<u64>,
    /// Tuned operation keys stored.
    pub tuned: u64,
}

impl KernelActivity {
    /// What was added since `earlier`.
    pub fn since(self, earlier: KernelActivity) -> KernelActivity {
        KernelActivity {
            compiled: self
                .compiled
                .zip(earlier.compiled)
                .map(|(now, then)| now.saturating_sub(then)),
            tuned: self.tuned.saturating_sub(earlier.tuned),
        }
    }
}

/// What CubeCL recorded in the kernel cache about its work: compilations and tunes, over
/// the sessions it keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelRecords {
    /// Sessions (processes that compiled or tuned something) kept.
    pub sessions: usize,
    /// Kernels compiled from their definition.
    pub compiled: usize,
    /// Seconds those compilations took, together.
    pub compile_seconds: f64,
    /// Kernels read from the cache instead.
    pub loaded: usize,
    /// The slowest compilations: kernel and seconds, slowest first (at most 10).
    pub slowest: Vec<(String, f64)>,
    /// Operations tuned (each timed every candidate).
    pub tuned: usize,
    /// Seconds the tuning took, together.
    pub tune_seconds: f64,
}

/// The records of the kernel cache in use (installing the configuration first, as a device
/// would); `None` without a CubeCL backend in this build or with the cache off.
pub fn kernel_records() -> Option<KernelRecords> {
    match install(false) {
        KernelCache::Dir(_) => cubecl_config::records(),
        KernelCache::Off => None,
    }
}

/// What the kernel cache holds now; `None` before the first GPU device, or when the cache is
/// off.
pub fn kernel_activity() -> Option<KernelActivity> {
    match INSTALLED.get()? {
        KernelCache::Dir(_) => cubecl_config::activity(STORES_KERNELS.load(Ordering::Relaxed)),
        KernelCache::Off => None,
    }
}

/// The CubeCL side: compiled only with a CubeCL backend.
#[cfg(feature = "cubecl")]
mod cubecl_config {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    use burn::cubecl::records::RecordLevel;

    use std::time::Duration;

    use cubecl_environment::persistence::Database;
    use cubecl_environment::records::{Record, Records};
    use serde::Deserialize;

    use super::{KernelActivity, KernelCache, KernelRecords};

    /// Namespace prefixes of compiled kernels (CUDA, Vulkan); CubeCL's CPU JIT keeps none.
    const KERNEL_NAMESPACES: [&str; 2] = ["cuda/", "vulkan/"];
    const AUTOTUNE_NAMESPACE: &str = "autotune/";
    /// Sessions of compile and tune records kept in the database (bounds its growth).
    const KEEP_SESSIONS: u32 = 8;

    pub(super) fn install(cache: &KernelCache) {
        // The user's cubecl.toml and CUBECL_* variables, then our cache settings on top.
        let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        match cache {
            KernelCache::Dir(dir) => {
                config.environment.path = CacheConfig::Directory(dir.clone());
                config.compilation.cache = true;
                config.autotune.disable_cache = false;
                config.environment.records.keep_sessions = Some(KEEP_SESSIONS);
            }
            KernelCache::Off => {
                // Nothing may land in a Cargo project: no cache, no records, and the location
                // (never opened) is a temporary folder rather than `target/`.
                config.environment.path = CacheConfig::Directory(std::env::temp_dir());
                config.compilation.cache = false;
                config.autotune.disable_cache = true;
                config.throughput.disable_cache = true;
                config.environment.records.level = RecordLevel::Off;
            }
        }
        if !CubeClRuntimeConfig::try_set(config) {
            tracing::warn!(
                "CubeCL was configured before the first device (by another library?): the kernel \
                 cache settings are not applied"
            );
        }
    }

    pub(super) fn activity(stores_kernels: bool) -> Option<KernelActivity> {
        let mut activity = KernelActivity { compiled: stores_kernels.then_some(0), tuned: 0 };
        for summary in burn::cubecl::environment::namespaces() {
            let ns = summary.namespace.as_str();
            if KERNEL_NAMESPACES.iter().any(|p| ns.starts_with(p)) {
                if let Some(compiled) = activity.compiled.as_mut() {
                    *compiled += summary.entries;
                }
            } else if ns.starts_with(AUTOTUNE_NAMESPACE) {
                activity.tuned += summary.entries;
            }
        }
        Some(activity)
    }

    /// The fields we read of cubecl-server's `CompilationRecord` (serde skips the rest).
    #[derive(Deserialize)]
    struct Compilation {
        kernel: String,
        outcome: Outcome,
        duration: Duration,
    }

    #[derive(Deserialize, PartialEq)]
    enum Outcome {
        Compiled,
        Loaded,
        Rekeyed,
    }

    impl Record for Compilation {
        const KIND: &'static str = "compilation";
    }

    /// The fields we read of cubecl-runtime's `TuneRecord`.
    #[derive(Deserialize)]
    struct Tune {
        wall: Duration,
        stored: bool,
    }

    impl Record for Tune {
        const KIND: &'static str = "autotune";
    }

    /// Keeps the list of slowest compilations short.
    const SLOWEST: usize = 10;

    pub(super) fn records() -> Option<KernelRecords> {
        let database = Database::open_active()?;
        let records = Records::new(&database);
        let mut out = KernelRecords { sessions: records.sessions().len(), ..Default::default() };
        let mut compiled: Vec<(String, f64)> = Vec::new();
        for stamped in records.read::<Compilation>() {
            let c = stamped.record;
            match c.outcome {
                Outcome::Compiled => compiled.push((c.kernel, c.duration.as_secs_f64())),
                Outcome::Loaded | Outcome::Rekeyed => out.loaded += 1,
            }
        }
        out.compiled = compiled.len();
        out.compile_seconds = compiled.iter().map(|(_, s)| s).sum();
        compiled.sort_by(|a, b| b.1.total_cmp(&a.1));
        compiled.truncate(SLOWEST);
        out.slowest = compiled;
        for tune in records.read::<Tune>().into_iter().map(|s| s.record).filter(|t| t.stored) {
            out.tuned += 1;
            out.tune_seconds += tune.wall.as_secs_f64();
        }
        Some(out)
    }
}

/// Without a CubeCL backend there is nothing to configure or count.
#[cfg(not(feature = "cubecl"))]
mod cubecl_config {
    use super::{KernelActivity, KernelCache};

    pub(super) fn install(_cache: &KernelCache) {}

    pub(super) fn activity(_stores_kernels: bool) -> Option<KernelActivity> {
        None
    }

    pub(super) fn records() -> Option<super::KernelRecords> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folders_and_off() {
        assert_eq!("off".parse::<KernelCache>().unwrap(), KernelCache::Off);
        assert_eq!("/tmp/k".parse::<KernelCache>().unwrap(), KernelCache::Dir("/tmp/k".into()));
        assert!("".parse::<KernelCache>().is_err());
    }

    #[test]
    fn a_damaged_database_or_a_file_in_place_of_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_folder(dir.path()), Ok(()));
        let db = dir.path().join(KERNEL_DATABASE);
        std::fs::write(&db, b"not a database at all").unwrap();
        assert!(check_folder(dir.path()).unwrap_err().contains("damaged"));
        std::fs::write(&db, b"SQLite format 3\0rest of the page").unwrap();
        assert_eq!(check_folder(dir.path()), Ok(()));
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(check_folder(&file).is_err());
    }

    #[test]
    fn activity_differences_saturate() {
        let before = KernelActivity { compiled: Some(3), tuned: 5 };
        let after = KernelActivity { compiled: Some(10), tuned: 5 };
        assert_eq!(after.since(before), KernelActivity { compiled: Some(7), tuned: 0 });
        let cpu = KernelActivity { compiled: None, tuned: 2 };
        assert_eq!(cpu.since(before).compiled, None);
    }
}
