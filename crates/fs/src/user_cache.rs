//! The user's cache folder: where animescore keeps what it can always make again (downloaded
//! weights, GPU kernels), `${XDG_CACHE_HOME:-~/.cache}/animescore`.

use std::path::PathBuf;

/// `${XDG_CACHE_HOME:-~/.cache}/animescore/<part>`; `None` when neither variable is set.
pub fn user_cache_dir(part: &str) -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(cache.join("animescore").join(part))
}
