//! Reading only regular files, with a cap on the bytes actually read.
//!
//! A link to `/dev/zero` reports size 0 and never ends; a FIFO blocks whoever opens it. So the
//! file is opened without blocking, its type checked on the open handle (after links were
//! followed), and the read goes through `take(limit + 1)` rather than trusting the size.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use crate::walk::file_type_name;

/// Cap on a hand-written settings file (`--config`, a run's `config.toml`, an experiment grid,
/// a custom backbone's JSON): 1 MiB, a thousand times the largest real one. A link to
/// `/dev/zero` or a FIFO in its place is refused at once by [`read_regular`].
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// [`read_regular_to_string`] with [`MAX_CONFIG_BYTES`]: how every settings file is read.
pub fn read_config(path: &Path) -> io::Result<String> {
    read_regular_to_string(path, MAX_CONFIG_BYTES)
}

/// Opens `path` for reading if, after following links, it is a regular file. A FIFO, device,
/// socket or folder is an `InvalidInput` error naming what it is; opening never blocks.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_with_metadata(path).map(|(file, _)| file)
}

/// [`open_regular`], with the metadata of the open file (one `fstat`: the identity of the
/// bytes that will be read, whatever happens to the path meanwhile).
pub fn open_regular_with_metadata(path: &Path) -> io::Result<(File, Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO without a writer would block `open` forever; regular files ignore the flag.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", file_type_name(&meta.file_type())),
        ));
    }
    Ok((file, meta))
}

/// The whole content of the regular file `path`, refused (`InvalidData`) when it holds more than
/// `limit` bytes. At most `limit + 1` bytes are ever read, whatever the file claims.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, meta) = open_regular_with_metadata(path)?;
    read_to_limit(file, meta.len(), limit)
}

/// Reads `file` to its end, refused (`InvalidData`) beyond `limit` bytes; `size_hint` (what
/// the file claims) only sizes the buffer.
pub fn read_to_limit(file: File, size_hint: u64, limit: u64) -> io::Result<Vec<u8>> {
    let hint = size_hint.min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).saturating_add(1));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit"),
        ));
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, limit)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"12345");
        let err = read_regular(&path, 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn devices_fifos_and_folders_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("z.png");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let fifo = dir.path().join("f.png.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (path, what) in
            [(&zero, "character device"), (&fifo, "FIFO"), (&dir.path().to_path_buf(), "folder")]
        {
            let err = read_regular(path, 1 << 20).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{path:?}");
            assert!(err.to_string().contains(what), "{err}");
        }
    }
}
