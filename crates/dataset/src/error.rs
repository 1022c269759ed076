//! Errors of the dataset crate. Each names the file (and field) it is about.

use std::path::PathBuf;

/// Everything that can go wrong reading a dataset or its index.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Reading or writing a file failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A metadata file that is not valid JSON.
    #[error("{path}: invalid JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde_json's description, with line and column.
        message: String,
    },
    /// A metadata field with an unusable value.
    #[error("{path}: field `{field}`: {reason}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `total_view` or `tags[3]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// SQLite failed.
    #[error("{path}: database error")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database file is damaged or is not SQLite; it is left untouched.
    #[error("{path}: not a usable SQLite database ({reason}); it was left untouched")]
    CorruptDatabase {
        /// The database file.
        path: PathBuf,
        /// SQLite's diagnosis.
        reason: String,
    },
    /// Another process held the database's write lock for longer than the busy timeout.
    #[error(
        "{path}: the database stayed locked by another process for the whole busy timeout; try again when it has finished"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The database cannot be written: the file, its folder or the file system is read-only.
    #[error(
        "{path}: cannot write the index: the file, its folder or the file system is read-only; \
         give the user write permission there, or write the index elsewhere with --db"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The database was written by a newer animescore.
    #[error(
        "{path}: schema version {found} is newer than this animescore understands ({supported})"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A character-alias table that cannot be used.
    #[error("{path}: character aliases: {reason}")]
    Aliases {
        /// The alias file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image that cannot be decoded or written.
    #[error("{path}: image: {reason}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// An argument outside its range.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// Argument name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The ingest's index writer thread panicked (a bug); committed batches are kept and a
    /// new run finishes the job.
    #[error("{path}: the index writer stopped unexpectedly; run ingest again to finish")]
    WriterPanicked {
        /// The index being written.
        path: PathBuf,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn field(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Field { path: path.into(), field: field.into(), reason: reason.into() }
    }

    /// Wraps a SQLite error, recognising a damaged or foreign file.
    pub(crate) fn sqlite(path: impl Into<PathBuf>, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{
            DatabaseBusy, DatabaseCorrupt, DatabaseLocked, NotADatabase, ReadOnly,
        };
        match source.sqlite_error_code() {
            Some(DatabaseCorrupt | NotADatabase) => {
                Self::CorruptDatabase { path: path.into(), reason: source.to_string() }
            }
            Some(DatabaseBusy | DatabaseLocked) => Self::Locked { path: path.into() },
            Some(ReadOnly) => Self::ReadOnly { path: path.into() },
            _ => Self::Sqlite { path: path.into(), source },
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_index_is_a_sentence_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.sqlite3");
        rusqlite::Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let conn = rusqlite::Connection::open_with_flags(&path, flags).unwrap();
        let raw = conn.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        assert!(raw.to_string().contains("readonly database"), "{raw}");
        let text = DatasetError::sqlite(&path, raw).to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(text.contains("read-only") && !text.contains("readonly database"), "{text}");
    }
}
