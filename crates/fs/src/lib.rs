//! File-system primitives shared by every animescore crate, so that each command reads and
//! writes files the same careful way:
//!
//! - [`write_atomic`]: a unique temporary file beside the target, fsync'ed, renamed over it, and
//!   the folder fsync'ed; links are written through and non-regular targets (`/dev/null`, a
//!   FIFO) are written to directly instead of being replaced.
//! - [`read_regular`] / [`open_regular`]: only regular files are read (after following links),
//!   a FIFO never blocks the opener, and the bytes actually read are capped; [`read_config`]
//!   reads a settings file so, with [`MAX_CONFIG_BYTES`].
//! - [`VisitedDirs`]: directory walks that follow linked folders and stop at cycles.
//! - [`FileId`]: a file's identity (device, inode), whatever its name.
//! - [`OutputGuard`] / [`OutputDir`] / [`lies_within`]: the one output guard of every command
//!   that writes: no output is one of its inputs (by identity, not name), and an output folder
//!   never loses a file the tool did not write ([`write_new`], [`replace_file`]: never through
//!   a link).
//! - [`RunLock`]: one writer per run directory (advisory lock).
//! - [`ConfinedDir`]: a folder (a cache) whose files are reached by plain name only, never
//!   through a link, never blocking on a FIFO: what a shared dataset may carry cannot redirect
//!   a read, a write or a deletion.
//! - [`ErrorChain`]: an error and its causes as one line of text.
//! - [`stable_hash`]: FNV-1a, for names that must not change between versions;
//!   [`ContentDigest`]: length and xxh3 of a file, for "is it still the file we wrote?".
//! - [`Shown`] / [`escape_markup`]: file names and untrusted text for a terminal or a page,
//!   with control and direction-changing characters made visible.
//! - [`user_cache_dir`]: the user's cache folder, `${XDG_CACHE_HOME:-~/.cache}/animescore/<part>`.
//!
//! Errors are `std::io::Error`s with a message that says what was refused; callers add the
//! path in their own error type.

mod chain;
#[cfg(unix)]
mod confined;
mod hash;
mod identity;
mod lock;
mod output;
mod read;
mod text;
mod user_cache;
mod walk;
mod write;

pub use chain::ErrorChain;
#[cfg(unix)]
pub use confined::{ConfinedDir, is_plain_name, is_read_only_error};
pub use hash::{ContentDigest, FnvWidth, stable_hash};
pub use identity::{FileId, absolute_path};
pub use lock::{LOCK_FILE, RunLock};
pub use output::{OUTPUTS_RECORD, OutputDir, OutputGuard, Slot, lies_within};
pub use read::{
    MAX_CONFIG_BYTES, open_regular, open_regular_with_metadata, read_config, read_regular,
    read_regular_to_string, read_to_limit,
};
pub use text::{Shown, escape_markup, is_unsafe_char};
pub use user_cache::user_cache_dir;
pub use walk::{EntryKind, VisitedDirs, entry_kind, file_type_name};
pub use write::{
    copy_new, copy_replacing, is_stdout, replace_file, write_atomic, write_new, write_output,
};
