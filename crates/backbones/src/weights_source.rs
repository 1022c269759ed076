//! Where the file of a `--weights` argument comes from: a path, a file in the weights folder, or
//! a torchvision name (`resnet50:imagenet`, see [`crate::pretrained`]) that is downloaded once
//! into the weights folder and checked against its SHA-256 every time it is used.
//!
//! A download goes to a unique temporary file in the weights folder (`.FILE.XXXXXX.part`), is
//! hashed as it arrives, and is fsynced and renamed into place only when its digest matches. So
//! a partial or wrong file is never used nor left behind under the real name, and concurrent
//! downloads of the same file each end with the same verified file (the last rename wins, with
//! identical bytes). A cached file that no longer matches is deleted, then downloaded again
//! unless offline.
//!
//! Every download is bounded: at most the file's known size (a preset's
//! [`PretrainedWeights::max_bytes`](crate::PretrainedWeights::max_bytes); an announced length
//! above it fails before a byte is written, a body without a length is cut off there), an
//! overall [`deadline`](WeightsSource::deadline), and a [minimum
//! rate](WeightsSource::min_bytes_per_second) over each [window](WeightsSource::rate_window):
//! a mirror that trickles a byte every few seconds fails within a window. A cached file larger
//! than the known size is deleted unhashed (a planted sparse file is not read for minutes).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::BackboneError;
use crate::pretrained::{Checksum, parse_pretrained_name};

/// Environment variable naming the weights folder.
pub const WEIGHTS_ENV: &str = "ANIMESCORE_WEIGHTS";
/// Environment variable replacing torchvision's download host (a URL prefix; the file name is
/// appended), for air-gapped sites and tests.
pub const MIRROR_ENV: &str = "ANIMESCORE_WEIGHTS_MIRROR";
/// Environment variable that, set to `1`/`true`/`yes`, forbids any network access.
pub const OFFLINE_ENV: &str = "ANIMESCORE_OFFLINE";
/// Where torchvision serves its weight files.
pub const TORCHVISION_URL: &str = "https://download.pytorch.org/models";

/// A leftover `.part` file older than this belongs to a download that died (killed process).
#[cfg(feature = "download")]
const STALE_PART_AGE: Duration = Duration::from_secs(24 * 3600);

/// The weights folder: `$ANIMESCORE_WEIGHTS` if set, else
/// `$XDG_CACHE_HOME/animescore/weights`, else `~/.cache/animescore/weights`.
pub fn weights_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(WEIGHTS_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    animescore_fs::user_cache_dir("weights")
}

/// Resolves a `--weights` argument with the settings of the environment ([`WeightsSource::
/// from_env`]), without a progress display.
pub fn resolve_weights(spec: impl AsRef<Path>) -> Result<PathBuf, BackboneError> {
    WeightsSource::from_env().resolve(spec, &NoDownloadProgress)
}

/// Receives the progress of a download (the CLI draws a bar).
pub trait DownloadProgress {
    /// A download of `url` begins; `bytes` is its announced length.
    fn start(&self, _url: &str, _bytes: Option<u64>) {}
    /// `bytes` more arrived.
    fn advance(&self, _bytes: u64) {}
    /// The download ended (successfully or not).
    fn finish(&self) {}
}

/// No progress display.
pub struct NoDownloadProgress;

impl DownloadProgress for NoDownloadProgress {}

/// Where weight files are looked up and downloaded from.
#[derive(Debug, Clone)]
pub struct WeightsSource {
    /// The weights folder (`None`: no home folder to derive it from).
    pub dir: Option<PathBuf>,
    /// URL prefix the file name is appended to.
    pub mirror: String,
    /// Never touch the network.
    pub offline: bool,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest wait for the response headers, and then for each read of the body: a stalled
    /// server fails the download instead of hanging it.
    pub stall_timeout: Duration,
    /// Longest a whole download may take (default one hour).
    pub deadline: Duration,
    /// Slowest average rate accepted over each [`rate_window`](Self::rate_window), in bytes
    /// per second (default 16 KiB/s).
    pub min_bytes_per_second: u64,
    /// The span over which [`min_bytes_per_second`](Self::min_bytes_per_second) is measured
    /// (default one minute).
    pub rate_window: Duration,
}

impl WeightsSource {
    /// The settings of the environment: [`weights_dir`], `$ANIMESCORE_WEIGHTS_MIRROR`
    /// (default torchvision's host), `$ANIMESCORE_OFFLINE`.
    pub fn from_env() -> Self {
        let mirror = std::env::var(MIRROR_ENV)
            .ok()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| TORCHVISION_URL.to_string());
        let offline = std::env::var(OFFLINE_ENV)
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
            .unwrap_or(false);
        Self {
            dir: weights_dir(),
            mirror,
            offline,
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(3600),
            min_bytes_per_second: 16 << 10,
            rate_window: Duration::from_secs(60),
        }
    }

    /// The file a `--weights` argument stands for: a pretrained name (`resnet50:imagenet`,
    /// cached or downloaded, always verified), else an existing path as given, else a file of
    /// that name in the weights folder.
    pub fn resolve(
        &self,
        spec: impl AsRef<Path>,
        progress: &dyn DownloadProgress,
    ) -> Result<PathBuf, BackboneError> {
        let spec = spec.as_ref();
        if let Some(name) = spec.to_str()
            && let Some(weights) = parse_pretrained_name(name)?
        {
            return self.fetch(weights.file, weights.checksum, weights.max_bytes, progress);
        }
        if spec.exists() {
            return Ok(spec.to_path_buf());
        }
        if let Some(candidate) = self.dir.as_ref().map(|d| d.join(spec))
            && candidate.exists()
        {
            return Ok(candidate);
        }
        Err(BackboneError::File {
            path: spec.to_path_buf(),
            reason: format!(
                "no such file, neither as given nor in the weights folder {:?} (set ${WEIGHTS_ENV}); \
                 pretrained names look like `resnet50:imagenet`",
                self.dir
            ),
        })
    }

    /// `file` (at most `max_bytes` long) from the weights folder if it is there and passes
    /// `checksum`, else downloaded from the mirror (unless offline), verified and stored there.
    pub fn fetch(
        &self,
        file: &str,
        checksum: Checksum<'_>,
        max_bytes: u64,
        progress: &dyn DownloadProgress,
    ) -> Result<PathBuf, BackboneError> {
        if file.is_empty() || file.contains(['/', '\\']) || file.starts_with('.') {
            return Err(BackboneError::InvalidConfig(format!("`{file}` is not a plain file name")));
        }
        let Some(dir) = &self.dir else {
            return Err(BackboneError::NotCached {
                file: file.to_string(),
                path: PathBuf::from(file),
                reason: format!("no weights folder: set ${WEIGHTS_ENV}, $XDG_CACHE_HOME or $HOME"),
            });
        };
        let path = dir.join(file);
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.is_file()
        {
            let actual = if meta.len() > max_bytes {
                // A planted (sparse) file far beyond the real size: not worth hashing.
                format!(
                    "not computed: {} bytes, more than the {max_bytes} of this file",
                    meta.len()
                )
            } else {
                sha256_file(&path)?
            };
            if checksum.matches(&actual) {
                tracing::debug!(path = %path.display(), "pretrained weights verified");
                return Ok(path);
            }
            // A damaged or foreign file: it must not be used, nor stay to be found again.
            std::fs::remove_file(&path).map_err(|e| file_error(&path, e))?;
            tracing::warn!(path = %path.display(), %actual, "cached weights failed their SHA-256 check; deleted");
            if self.offline {
                return Err(BackboneError::Checksum {
                    origin: path.display().to_string(),
                    expected: checksum.expected(),
                    actual,
                });
            }
        }
        let url = format!("{}/{file}", self.mirror.trim_end_matches('/'));
        if self.offline {
            return Err(BackboneError::NotCached {
                file: file.to_string(),
                path,
                reason: format!(
                    "${OFFLINE_ENV} forbids downloading it; copy {url} there, or unset \
                     ${OFFLINE_ENV} (and point ${MIRROR_ENV} at a reachable copy)"
                ),
            });
        }
        self.download(&url, dir, file, Expected { checksum, max_bytes }, progress)
    }

    /// Downloads `url` into `dir/file` through a verified temporary file.
    #[cfg(feature = "download")]
    fn download(
        &self,
        url: &str,
        dir: &Path,
        file: &str,
        expected: Expected<'_>,
        progress: &dyn DownloadProgress,
    ) -> Result<PathBuf, BackboneError> {
        let Expected { checksum, max_bytes } = expected;
        let fail = |reason: String| BackboneError::Download { url: url.to_string(), reason };
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        remove_stale_parts(dir, file);
        // Deleted on drop: any early return below leaves nothing behind.
        let mut part = tempfile::Builder::new()
            .prefix(&format!(".{file}."))
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| file_error(dir, e))?;
        let path = dir.join(file);
        tracing::info!(%url, path = %path.display(), "downloading pretrained weights");

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.stall_timeout))
            .timeout_per_read(Some(self.stall_timeout))
            // The copy checks the deadline after every read; this ends a read that hangs.
            .timeout_global(Some(self.deadline.saturating_add(self.stall_timeout)))
            .max_redirects(0)
            .build()
            .into();
        let response = get_following_redirects(&agent, url).map_err(fail)?;
        let announced = response.body().content_length();
        if let Some(announced) = announced
            && announced > max_bytes
        {
            return Err(fail(format!(
                "the server announces {announced} bytes, more than the {max_bytes} this file has"
            )));
        }
        progress.start(url, announced);
        let limits = Limits {
            max_bytes,
            deadline: self.deadline,
            min_bytes_per_second: self.min_bytes_per_second,
            window: self.rate_window,
        };
        let body = response.into_body().into_reader();
        let copied = copy_limited(body, part.as_file_mut(), &limits, progress);
        progress.finish();
        let (actual, received) = copied.map_err(|e| fail(e.to_string()))?;
        if let Some(announced) = announced
            && announced != received
        {
            return Err(fail(format!("received {received} of {announced} bytes")));
        }
        if !checksum.matches(&actual) {
            return Err(BackboneError::Checksum {
                origin: url.to_string(),
                expected: checksum.expected(),
                actual,
            });
        }
        part.as_file().sync_all().map_err(|e| file_error(part.path(), e))?;
        part.persist(&path).map_err(|e| file_error(&path, e.error))?;
        sync_dir(dir);
        tracing::info!(path = %path.display(), bytes = received, "pretrained weights downloaded and verified");
        Ok(path)
    }

    /// Without the `download` feature a name works only once its file is in the folder.
    #[cfg(not(feature = "download"))]
    fn download(
        &self,
        url: &str,
        dir: &Path,
        file: &str,
        _expected: Expected<'_>,
        _progress: &dyn DownloadProgress,
    ) -> Result<PathBuf, BackboneError> {
        Err(BackboneError::NotCached {
            file: file.to_string(),
            path: dir.join(file),
            reason: format!(
                "this build has no `download` feature (cargo feature of animescore-backbones and \
                 animescore-cli); copy {url} there"
            ),
        })
    }
}

/// What a downloaded file must be.
#[cfg_attr(not(feature = "download"), allow(dead_code))]
struct Expected<'a> {
    checksum: Checksum<'a>,
    max_bytes: u64,
}

/// The bounds of one copy (see the module documentation).
struct Limits {
    max_bytes: u64,
    deadline: Duration,
    min_bytes_per_second: u64,
    window: Duration,
}

impl Limits {
    /// No bound: a local file.
    const NONE: Limits = Limits {
        max_bytes: u64::MAX,
        deadline: Duration::MAX,
        min_bytes_per_second: 0,
        window: Duration::MAX,
    };
}

/// Copies `reader` into `out`, returning the SHA-256 (lowercase hex) and length of the bytes.
fn copy_hashing(
    reader: impl Read,
    out: &mut impl Write,
    progress: &dyn DownloadProgress,
) -> std::io::Result<(String, u64)> {
    copy_limited(reader, out, &Limits::NONE, progress)
}

/// [`copy_hashing`] within `limits`: more than `max_bytes`, past the deadline, or slower than
/// the minimum rate over a window is an error.
fn copy_limited(
    mut reader: impl Read,
    out: &mut impl Write,
    limits: &Limits,
    progress: &dyn DownloadProgress,
) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let started = Instant::now();
    let (mut window_start, mut window_bytes) = (started, 0u64);
    let refuse = |what: String| std::io::Error::new(std::io::ErrorKind::TimedOut, what);
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > limits.max_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than the {} bytes this file has", limits.max_bytes),
            ));
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])?;
        progress.advance(n as u64);
        let now = Instant::now();
        if now.duration_since(started) > limits.deadline {
            return Err(refuse(format!(
                "not finished after {:?} ({total} bytes received)",
                limits.deadline
            )));
        }
        window_bytes += n as u64;
        let span = now.duration_since(window_start);
        if span >= limits.window {
            let rate = window_bytes as f64 / span.as_secs_f64();
            if rate < limits.min_bytes_per_second as f64 {
                return Err(refuse(format!(
                    "{rate:.0} bytes/s over {span:.1?}, below the minimum of {} bytes/s",
                    limits.min_bytes_per_second
                )));
            }
            (window_start, window_bytes) = (now, 0);
        }
    }
    out.flush()?;
    Ok((to_hex(&hasher.finalize()), total))
}

/// The SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, BackboneError> {
    let file = animescore_fs::open_regular(path).map_err(|e| file_error(path, e))?;
    let (hex, _) = copy_hashing(file, &mut std::io::sink(), &NoDownloadProgress)
        .map_err(|e| file_error(path, e))?;
    Ok(hex)
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Deletes `.part` files of `file` left by downloads that died long ago (a running download's
/// file is younger). Best effort: a failure only leaves a hidden file behind.
#[cfg(feature = "download")]
fn remove_stale_parts(dir: &Path, file: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{file}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_PART_AGE);
        if name.starts_with(&prefix) && name.ends_with(".part") && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes a rename in `dir` durable (Unix; elsewhere the rename is all there is).
#[cfg(feature = "download")]
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Redirects followed at most (what ureq follows by itself).
#[cfg(feature = "download")]
const MAX_REDIRECTS: usize = 10;

/// GETs `url`, following up to [`MAX_REDIRECTS`] redirects to http and https URLs only. (ureq
/// would read `Location: file:///x` as a path on the same server and loop until "too many
/// redirects"; a redirect elsewhere than the web is said to be what it is.)
#[cfg(feature = "download")]
fn get_following_redirects(
    agent: &ureq::Agent,
    url: &str,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let response = agent.get(&current).call().map_err(|e| e.to_string())?;
        if !response.status().is_redirection() {
            return Ok(response);
        }
        let location =
            response.headers().get("location").and_then(|v| v.to_str().ok()).ok_or_else(|| {
                format!("{current} redirected ({}) without a Location", response.status())
            })?;
        current = redirect_target(&current, location)?;
    }
    Err(format!("more than {MAX_REDIRECTS} redirects (last to {current})"))
}

/// Where a redirect from `current` to `location` leads: an absolute http(s) URL, or one
/// relative to `current`. Any other scheme (`file:`, `ftp:`, `data:`) is refused.
#[cfg(feature = "download")]
fn redirect_target(current: &str, location: &str) -> Result<String, String> {
    let location = location.trim();
    let shown = animescore_fs::Shown::text(location);
    let scheme_end = location.find(':').filter(|&i| {
        let scheme = &location[..i];
        !scheme.is_empty()
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    let (scheme, rest) = current.split_once("://").unwrap_or(("http", current));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some(end) = scheme_end {
        let target = location[..end].to_ascii_lowercase();
        return if target == "http" || target == "https" {
            Ok(location.to_string())
        } else {
            Err(format!(
                "the server redirected to `{shown}`, a {target}: URL; only redirects to http and \
                 https are followed"
            ))
        };
    }
    Ok(if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        let folder = path.rfind('/').map_or(path, |i| &path[..=i]);
        let folder = if folder.contains('/') { folder.to_string() } else { format!("{folder}/") };
        format!("{scheme}://{folder}{location}")
    })
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> BackboneError {
    BackboneError::File { path: path.to_path_buf(), reason: e.to_string() }
}

#[cfg(all(test, feature = "download"))]
mod tests {
    use super::*;

    #[test]
    fn redirects_lead_to_the_web_only() {
        let from = "http://127.0.0.1:8/models/a.pth?x=1";
        for (location, to) in [
            ("https://mirror.example/b.pth", "https://mirror.example/b.pth"),
            ("//cdn.example/c.pth", "http://cdn.example/c.pth"),
            ("/d.pth", "http://127.0.0.1:8/d.pth"),
            ("e.pth", "http://127.0.0.1:8/models/e.pth"),
        ] {
            assert_eq!(redirect_target(from, location).unwrap(), to, "{location}");
        }
        for location in ["file:///etc/passwd", "FILE:/x", "ftp://h/x", "data:,x"] {
            let err = redirect_target(from, location).unwrap_err();
            assert!(err.contains("only redirects to http and https"), "{err}");
            assert!(!err.contains("too many"), "{err}");
        }
    }
}
