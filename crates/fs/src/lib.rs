//! File-system primitives shared by every animescore crate, so that each command reads and
//! writes files the same careful way:
//!
//! - [`write_atomic`]: a unique temporary file beside the target, fsync'ed, renamed over it, and
//!   the folder fsync'ed; links are written through and non-regular targets (`/dev/null`, a
//!   FIFO) are written to directly instead of being replaced.
//! - [`read_regular`] / [`open_regular`]: only regular files are read (after following links),
//!   a FIFO never blocks the opener, and the bytes actually read are capped.
//! - [`VisitedDirs`]: directory walks that follow linked folders and stop at cycles.
//! - [`FileId`] / [`clobbered_input`]: "is this output one of my inputs?" by identity, not name.
//! - [`RunLock`]: one writer per run directory (advisory lock).
//! - [`ErrorChain`]: an error and its causes as one line of text.
//! - [`stable_hash`]: FNV-1a, for names that must not change between versions.
//! - [`user_cache_dir`]: the user's cache folder, `${XDG_CACHE_HOME:-~/.cache}/animescore/<part>`.
//!
//! Errors are `std::io::Error`s with a message that says what was refused; callers add the
//! path in their own error type.

mod chain;
mod hash;
mod identity;
mod lock;
mod read;
mod user_cache;
mod walk;
mod write;

pub use chain::ErrorChain;
pub use hash::{FnvWidth, stable_hash};
pub use identity::{FileId, absolute_path, clobbered_input};
pub use lock::{LOCK_FILE, RunLock};
pub use read::{
    open_regular, open_regular_with_metadata, read_regular, read_regular_to_string, read_to_limit,
};
pub use user_cache::user_cache_dir;
pub use walk::{EntryKind, VisitedDirs, entry_kind};
pub use write::{is_stdout, write_atomic, write_output};
