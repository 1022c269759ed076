//! The SQLite index (`dataset/.database/metadata.sqlite3`, table `illusts`).
//!
//! Columns are a superset of the original Python tool's schema, so its databases open here and
//! are migrated in place (missing columns added, `ai_flag` derived) inside one transaction.
//! `PRAGMA user_version` records our schema version; a newer one is refused, never guessed at.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use animescore_scoring::Counts;
use chrono::NaiveDateTime;
use rusqlite::{Connection, OptionalExtension, ToSql, TransactionBehavior, params};

use crate::characters::{CharacterTable, ORIGINAL};
use crate::date::{format_date, parse_date};
use crate::error::{DatasetError, Result};
use crate::metadata::PixivMetadata;

/// Schema version written to `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 2;
/// Where `ingest` puts the index inside a dataset folder.
pub const DEFAULT_DB_RELATIVE: &str = ".database/metadata.sqlite3";
/// How long to wait for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Every column of `illusts` and its SQL type, in table order. The first block is the original
/// tool's schema; the rest are ours.
const COLUMNS: [(&str, &str); 42] = [
    ("filename", "TEXT PRIMARY KEY"),
    ("id", "INTEGER"),
    ("title", "TEXT"),
    ("type", "TEXT"),
    ("restrict", "INTEGER"),
    ("user_name", "TEXT"),
    ("user_account", "TEXT"),
    ("tags", "TEXT"),
    ("create_date", "TIMESTAMP"),
    ("page_count", "INTEGER"),
    ("width", "INTEGER"),
    ("height", "INTEGER"),
    ("sanity_level", "INTEGER"),
    ("x_restrict", "INTEGER"),
    ("total_view", "INTEGER"),
    ("total_bookmarks", "INTEGER"),
    ("is_bookmarked", "BOOLEAN"),
    ("visible", "BOOLEAN"),
    ("is_muted", "BOOLEAN"),
    ("illust_ai_type", "INTEGER"),
    ("illust_book_style", "INTEGER"),
    ("num", "INTEGER"),
    ("date", "TIMESTAMP"),
    ("rating", "TEXT"),
    ("suffix", "TEXT"),
    ("category", "TEXT"),
    ("subcategory", "TEXT"),
    ("url", "TEXT"),
    ("date_url", "TEXT"),
    ("extension", "TEXT"),
    ("tag_character", "TEXT DEFAULT 'オリジナル'"),
    // ---- animescore's additions ----
    ("user_id", "INTEGER"),
    ("tags_json", "TEXT"),
    ("tools_json", "TEXT"),
    ("ai_flag", "INTEGER"),
    ("image_path", "TEXT"),
    ("metadata_path", "TEXT"),
    ("source_size", "INTEGER"),
    ("source_mtime_ns", "INTEGER"),
    ("source_hash", "TEXT"),
    // Schema 2: the inode change time and inode complete the file identity (an edit that
    // keeps size and mtime, as `cp -p` or `touch -r` do, still changes the ctime).
    ("source_ctime_ns", "INTEGER"),
    ("source_inode", "INTEGER"),
];

/// `INSERT` of every column; `on_conflict` decides what a row already there becomes.
fn insert_sql(on_conflict: &str) -> String {
    let quoted: Vec<String> = COLUMNS.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let marks: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO illusts ({}) VALUES ({}) ON CONFLICT(filename) {on_conflict}",
        quoted.join(", "),
        marks.join(", ")
    )
}

/// Adds a row unless its `filename` is already indexed.
static INSERT_NEW_SQL: LazyLock<String> = LazyLock::new(|| insert_sql("DO NOTHING"));

/// Adds a row or replaces every column of the one with its `filename`.
static UPSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    let updates: Vec<String> =
        COLUMNS.iter().skip(1).map(|(n, _)| format!("\"{n}\" = excluded.\"{n}\"")).collect();
    insert_sql(&format!("DO UPDATE SET {}", updates.join(", ")))
});

/// A row's values in [`COLUMNS`] order.
fn column_values<'a>(row: &'a IllustRow, d: &'a DerivedColumns) -> [&'a dyn ToSql; COLUMNS.len()] {
    let m = &row.meta;
    [
        &row.filename,
        &m.id,
        &m.title,
        &m.kind,
        &m.restrict,
        &m.user_name,
        &m.user_account,
        &d.tags,
        &d.create_date,
        &m.page_count,
        &m.width,
        &m.height,
        &m.sanity_level,
        &m.x_restrict,
        &m.total_view,
        &m.total_bookmarks,
        &m.is_bookmarked,
        &m.visible,
        &m.is_muted,
        &m.illust_ai_type,
        &m.illust_book_style,
        &m.num,
        &d.date,
        &m.rating,
        &m.suffix,
        &m.category,
        &m.subcategory,
        &m.url,
        &m.date_url,
        &m.extension,
        &row.tag_character,
        &m.user_id,
        &d.tags_json,
        &d.tools_json,
        &d.ai_flag,
        &row.image_path,
        &row.metadata_path,
        &row.source_size,
        &row.source_mtime_ns,
        &row.source_hash,
        &row.source_ctime_ns,
        &row.source_inode,
    ]
}

/// The SQL form of the AI rule, used when migrating rows that were not parsed by us.
const AI_FLAG_SQL: &str = "CASE WHEN illust_ai_type = 2 OR tags LIKE '%AIイラスト%' \
     OR tags LIKE '%Diffusion%' OR tags LIKE '%Novel%' OR tags LIKE '%midjourney%' THEN 1 ELSE 0 END";

/// `(filename, tags_json, tags, tag_character)` of a row, for recomputing characters.
type TagRow = (String, Option<String>, Option<String>, Option<String>);

/// One artwork page, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct IllustRow {
    /// Primary key: the file's base name.
    pub filename: String,
    /// The parsed metadata.
    pub meta: PixivMetadata,
    /// Characters matched in the tags (or [`ORIGINAL`]).
    pub tag_character: String,
    /// Image path relative to the dataset root.
    pub image_path: Option<String>,
    /// Metadata path relative to the dataset root.
    pub metadata_path: String,
    /// Size of the metadata file when read.
    pub source_size: i64,
    /// Modification time of the metadata file when read (ns since the epoch).
    pub source_mtime_ns: i64,
    /// xxh3 of the metadata file's bytes.
    pub source_hash: String,
    /// Inode change time of the metadata file when read (ns since the epoch).
    pub source_ctime_ns: i64,
    /// Inode number of the metadata file when read.
    pub source_inode: i64,
}

/// The columns of a row that are computed from its metadata (joined and JSON tag lists, dates
/// as text, the AI flag). Ingest computes them on its parser threads, so that its one writer
/// thread only binds values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DerivedColumns {
    tags: String,
    tags_json: String,
    tools_json: String,
    create_date: Option<String>,
    date: Option<String>,
    ai_flag: i64,
}

impl DerivedColumns {
    pub(crate) fn of(row: &IllustRow) -> Self {
        let m = &row.meta;
        let names: Vec<&str> = m.tags.iter().map(|t| t.name.as_str()).collect();
        let tags = names.join(",");
        Self {
            ai_flag: crate::encoding::is_ai(m.illust_ai_type, &tags) as i64,
            tags,
            // A list of strings always serializes.
            tags_json: serde_json::to_string(&names).unwrap_or_default(),
            tools_json: serde_json::to_string(&m.tools).unwrap_or_default(),
            create_date: m.create_date.as_ref().map(format_date),
            date: m.date.as_ref().map(format_date),
        }
    }
}

/// A file's identity as `stat` reports it: a metadata file whose stamp equals the stored one
/// is not read again (git's index does the same with these fields), and the image and feature
/// caches key their entries by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: i64,
    /// Modification time (ns since the epoch).
    pub mtime_ns: i64,
    /// Inode change time (ns since the epoch); set by the kernel on every change, it cannot be
    /// carried over by `cp -p`, `rsync -t` or `touch -r`.
    pub ctime_ns: i64,
    /// Inode number.
    pub inode: i64,
}

impl FileStamp {
    /// The stamp of `meta` (the metadata of an open file, or of a path).
    pub fn of(meta: &std::fs::Metadata) -> std::io::Result<Self> {
        let mtime_ns = meta
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let (ctime_ns, inode) = change_time_and_inode(meta);
        Ok(Self { size: meta.len() as i64, mtime_ns, ctime_ns, inode })
    }
}

#[cfg(unix)]
fn change_time_and_inode(meta: &std::fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.ctime().saturating_mul(1_000_000_000).saturating_add(meta.ctime_nsec()),
        meta.ino() as i64,
    )
}

/// Elsewhere there is no inode change time: the identity falls back to size and mtime.
#[cfg(not(unix))]
fn change_time_and_inode(_meta: &std::fs::Metadata) -> (i64, i64) {
    (0, 0)
}

impl SourceState {
    /// Whether `stamp` is the stored identity.
    pub fn matches(&self, stamp: &FileStamp) -> bool {
        self.size == Some(stamp.size)
            && self.mtime_ns == Some(stamp.mtime_ns)
            && self.ctime_ns == Some(stamp.ctime_ns)
            && self.inode == Some(stamp.inode)
    }
}

/// What the index knows of a file from an earlier run, to skip unchanged files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    /// Metadata path relative to the root.
    pub metadata_path: Option<String>,
    /// Image path relative to the root.
    pub image_path: Option<String>,
    /// File size.
    pub size: Option<i64>,
    /// Modification time (ns).
    pub mtime_ns: Option<i64>,
    /// Content hash.
    pub hash: Option<String>,
    /// Inode change time (ns); `None` for rows from before schema 2.
    pub ctime_ns: Option<i64>,
    /// Inode number; `None` for rows from before schema 2.
    pub inode: Option<i64>,
}

/// One row as training and scoring read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IllustRecord {
    /// Primary key (`{id}_p{num}`).
    pub filename: String,
    /// Artwork id (from the metadata, else the leading digits of `filename`).
    pub id: Option<i64>,
    /// Image path relative to the dataset root, when known.
    pub image_path: Option<String>,
    /// `total_bookmarks`.
    pub bookmarks: Option<i64>,
    /// `total_view`.
    pub views: Option<i64>,
    /// Upload date (`date`, else `create_date`).
    pub date: Option<NaiveDateTime>,
    /// `sanity_level`.
    pub sanity_level: Option<i64>,
    /// `illust_ai_type`.
    pub illust_ai_type: Option<i64>,
    /// The derived AI flag.
    pub ai_flag: bool,
    /// Tags, exact when written by us (split on commas for rows from the original tool).
    pub tags: Vec<String>,
    /// Matched character names (comma-joined) or [`ORIGINAL`].
    pub tag_character: String,
}

impl IllustRecord {
    /// The artwork id, from the record or from the leading digits of its file name.
    pub fn artwork_id(&self) -> Option<i64> {
        self.id.or_else(|| {
            let digits: String = self.filename.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    }

    /// Popularity counts, when the record has both and neither is negative (a record without
    /// them has no score and is left out of fitting and training).
    pub fn counts(&self) -> Option<Counts> {
        let (b, v) = (self.bookmarks?, self.views?);
        (b >= 0 && v >= 0).then_some(Counts {
            bookmarks: b as f64,
            views: v as f64,
            uploaded: self.date,
        })
    }

    /// The image file: the stored path, else `{root}/{first two chars}/{filename}.{png|jpg|…}`
    /// (rows from the original tool have no stored path).
    pub fn resolve_image(&self, root: &Path) -> Option<PathBuf> {
        if let Some(rel) = &self.image_path {
            return Some(root.join(rel));
        }
        let shard: String = self.filename.chars().take(2).collect();
        crate::scan::IMAGE_EXTENSIONS
            .iter()
            .map(|ext| root.join(&shard).join(format!("{}.{ext}", self.filename)))
            .find(|p| p.is_file())
    }
}

/// What one [`Database::upsert`] did to the index.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Rows that were not in the index.
    pub added: usize,
    /// Rows replaced by different content or paths.
    pub updated: usize,
    /// Rows written again as they already were (another process indexed them first).
    pub unchanged: usize,
}

/// An open index.
pub struct Database {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("path", &self.path).finish()
    }
}

impl Database {
    /// Opens (creating if needed) and migrates the index at `path`, waiting up to
    /// [`BUSY_TIMEOUT`] for another process's write lock.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_timeout(path, BUSY_TIMEOUT)
    }

    /// [`open`](Self::open) with another lock timeout.
    pub fn open_with_timeout(path: &Path, busy_timeout: Duration) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DatasetError::io(parent, e))?;
        }
        let conn = Connection::open(path).map_err(|e| DatasetError::sqlite(path, e))?;
        let mut db = Self { conn, path: path.to_path_buf() };
        db.conn.busy_timeout(busy_timeout).map_err(|e| db.err(e))?;
        // WAL: readers (training) never block the ingest writer and a crash loses at most the
        // open transaction.
        // Switching to WAL needs the file to itself and SQLite does not call the busy handler
        // for it, so wait here as the busy timeout would.
        let started = std::time::Instant::now();
        loop {
            match db.conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && started.elapsed() < busy_timeout =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(db.err(e)),
            }
        }
        db.conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| db.err(e))?;
        db.migrate()?;
        Ok(db)
    }

    /// Opens an existing index read-only (no migration: legacy databases are read as they are).
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(DatasetError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such database"),
            ));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| DatasetError::sqlite(path, e))?;
        let db = Self { conn, path: path.to_path_buf() };
        db.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| db.err(e))?;
        let version = db.user_version()?;
        if version > SCHEMA_VERSION {
            return Err(DatasetError::NewerSchema {
                path: db.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if db.existing_columns()?.is_empty() {
            return Err(DatasetError::CorruptDatabase {
                path: db.path.clone(),
                reason: "no `illusts` table".into(),
            });
        }
        Ok(db)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> DatasetError {
        DatasetError::sqlite(&self.path, e)
    }

    fn user_version(&self) -> Result<i64> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| self.err(e))
    }

    fn existing_columns(&self) -> Result<Vec<String>> {
        table_columns(&self.conn).map_err(|e| self.err(e))
    }

    /// The columns a reader may select: absent ones (indexes of the original tool, opened
    /// read-only without migration) read as `NULL`.
    fn readable_columns(&self) -> Result<ReadableColumns> {
        self.existing_columns().map(ReadableColumns)
    }

    fn migrate(&mut self) -> Result<()> {
        let version = self.user_version()?;
        if version > SCHEMA_VERSION {
            return Err(DatasetError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let existing = self.existing_columns()?;
        if version == SCHEMA_VERSION && !existing.is_empty() {
            // Current: no write needed, so opening never waits for another writer.
            return Ok(());
        }
        let path = self.path.clone();
        let err = |e| DatasetError::sqlite(&path, e);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        // Another process may have created or migrated the table between the look above and
        // taking the write lock: look again, under the lock.
        let existing = table_columns(&tx).map_err(err)?;
        let version: i64 =
            tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        if version == SCHEMA_VERSION && !existing.is_empty() {
            return tx.commit().map_err(err);
        }
        if !existing.is_empty() {
            // Validated before anything is changed: a foreign `illusts` table is left as it was.
            check_foreign_table(&tx)
                .map_err(|reason| DatasetError::CorruptDatabase { path: path.clone(), reason })?;
        }
        if existing.is_empty() {
            let cols: Vec<String> = COLUMNS.iter().map(|(n, t)| format!("\"{n}\" {t}")).collect();
            tx.execute_batch(&format!("CREATE TABLE illusts ({});", cols.join(", ")))
                .map_err(err)?;
        } else {
            // A database from the original Python tool (or an older animescore): add what is
            // missing, derive what can be derived.
            for (name, ty) in COLUMNS.iter().filter(|(n, _)| !existing.iter().any(|e| e == n)) {
                let ty = ty.replace(" PRIMARY KEY", "");
                tx.execute_batch(&format!("ALTER TABLE illusts ADD COLUMN \"{name}\" {ty};"))
                    .map_err(err)?;
            }
            tx.execute_batch(&format!(
                "UPDATE illusts SET ai_flag = {AI_FLAG_SQL} WHERE ai_flag IS NULL;
                 UPDATE illusts SET tag_character = '{ORIGINAL}' WHERE tag_character IS NULL;"
            ))
            .map_err(err)?;
        }
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS character_aliases (alias TEXT PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS animescore_meta (key TEXT PRIMARY KEY, value TEXT);",
        )
        .map_err(err)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// What an earlier run stored about each file, keyed by `filename`.
    pub fn source_states(&self) -> Result<std::collections::HashMap<String, SourceState>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT filename, metadata_path, image_path, source_size, source_mtime_ns, \
                 source_hash, source_ctime_ns, source_inode FROM illusts",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    SourceState {
                        metadata_path: r.get(1)?,
                        image_path: r.get(2)?,
                        size: r.get(3)?,
                        mtime_ns: r.get(4)?,
                        hash: r.get(5)?,
                        ctime_ns: r.get(6)?,
                        inode: r.get(7)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Writes `rows` in one transaction (insert or update by `filename`) and says what each
    /// did to the index.
    ///
    /// The classification is made under the transaction's write lock, against what the index
    /// holds at that moment: two processes ingesting the same new files at once count each
    /// file as added once (the second finds it already there, unchanged).
    pub fn upsert(&mut self, rows: &[IllustRow]) -> Result<UpsertCounts> {
        let derived: Vec<DerivedColumns> = rows.iter().map(DerivedColumns::of).collect();
        self.write_rows(rows.iter().zip(&derived))
    }

    /// [`Database::upsert`] of rows whose derived columns are already computed.
    pub(crate) fn upsert_derived(
        &mut self,
        rows: &[(IllustRow, DerivedColumns)],
    ) -> Result<UpsertCounts> {
        self.write_rows(rows.iter().map(|(row, derived)| (row, derived)))
    }

    /// One transaction. A new row costs one `INSERT`; only a row already there is looked up
    /// (to classify it) and replaced.
    fn write_rows<'r>(
        &mut self,
        rows: impl IntoIterator<Item = (&'r IllustRow, &'r DerivedColumns)>,
    ) -> Result<UpsertCounts> {
        let path = self.path.clone();
        let err = |e| DatasetError::sqlite(&path, e);
        let mut counts = UpsertCounts::default();
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        {
            let mut insert_new = tx.prepare_cached(&INSERT_NEW_SQL).map_err(err)?;
            let mut upsert = tx.prepare_cached(&UPSERT_SQL).map_err(err)?;
            let mut stored = tx
                .prepare_cached(
                    "SELECT source_hash, image_path, metadata_path FROM illusts WHERE filename = ?1",
                )
                .map_err(err)?;
            for (row, derived) in rows {
                let values = column_values(row, derived);
                if insert_new.execute(&values[..]).map_err(err)? == 1 {
                    counts.added += 1;
                    continue;
                }
                let (hash, image, metadata): (Option<String>, Option<String>, Option<String>) =
                    stored
                        .query_row([&row.filename], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(err)?;
                let same = hash.as_deref() == Some(row.source_hash.as_str())
                    && image == row.image_path
                    && metadata.as_deref() == Some(row.metadata_path.as_str());
                if same {
                    counts.unchanged += 1;
                } else {
                    counts.updated += 1;
                }
                upsert.execute(&values[..]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(counts)
    }

    /// Records a file's new identity (size, mtime, ctime, inode) when its content is unchanged.
    pub fn touch_sources(&mut self, touched: &[(String, FileStamp)]) -> Result<()> {
        let path = self.path.clone();
        let err = |e| DatasetError::sqlite(&path, e);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE illusts SET source_size = ?2, source_mtime_ns = ?3, source_ctime_ns = ?4, \
                     source_inode = ?5 WHERE filename = ?1",
                )
                .map_err(err)?;
            for (filename, st) in touched {
                stmt.execute(params![filename, st.size, st.mtime_ns, st.ctime_ns, st.inode])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// The character table stored by the last ingest that was given one.
    pub fn stored_characters(&self) -> Result<Option<CharacterTable>> {
        let mut stmt = self
            .conn
            .prepare("SELECT alias, name FROM character_aliases")
            .map_err(|e| self.err(e))?;
        let pairs = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<(String, String)>>>())
            .map_err(|e| self.err(e))?;
        Ok((!pairs.is_empty()).then(|| CharacterTable::from_pairs(pairs)))
    }

    /// Replaces the stored character table and recomputes `tag_character` for every row;
    /// returns how many rows changed. One transaction.
    pub fn replace_characters(&mut self, table: &CharacterTable) -> Result<usize> {
        let path = self.path.clone();
        let err = |e| DatasetError::sqlite(&path, e);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        tx.execute("DELETE FROM character_aliases", []).map_err(err)?;
        {
            let mut ins = tx
                .prepare("INSERT INTO character_aliases (alias, name) VALUES (?1, ?2)")
                .map_err(err)?;
            for (alias, name) in table.pairs() {
                ins.execute(params![alias, name]).map_err(err)?;
            }
        }
        let rows: Vec<TagRow> = {
            let mut stmt = tx
                .prepare("SELECT filename, tags_json, tags, tag_character FROM illusts")
                .map_err(err)?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                .map_err(err)?
        };
        let mut changed = 0;
        {
            let mut upd = tx
                .prepare("UPDATE illusts SET tag_character = ?2 WHERE filename = ?1")
                .map_err(err)?;
            for (filename, tags_json, tags, current) in rows {
                let list = tag_list(tags_json.as_deref(), tags.as_deref());
                let new = table.tag_character(list.iter().map(|t| t.as_ref()));
                if current.as_deref() != Some(new.as_str()) {
                    upd.execute(params![filename, new]).map_err(err)?;
                    changed += 1;
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(changed)
    }

    /// A value from the `animescore_meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM animescore_meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a value in the `animescore_meta` table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO animescore_meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Number of rows in `illusts`.
    pub fn count(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT COUNT(*) FROM illusts", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    /// Every row with every tag, sorted by `filename`. Works on databases of the original tool
    /// too (read-only opens do not migrate, so absent columns read as empty).
    ///
    /// Holds the whole index in memory: commands that only need some tags, or none, use
    /// [`records_with`](Self::records_with) or [`for_each_record`](Self::for_each_record).
    pub fn records(&self) -> Result<Vec<IllustRecord>> {
        self.records_with(TagFilter::All)
    }

    /// Every row, sorted by `filename`, with the tags `tags` lets through.
    pub fn records_with(&self, tags: TagFilter<'_>) -> Result<Vec<IllustRecord>> {
        let mut out = Vec::new();
        self.for_each_record(tags, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams the rows, sorted by `filename`, one at a time: memory stays bounded by one
    /// row (and the tags `tags` lets through), however large the index. Stops at the first
    /// error `visit` returns.
    pub fn for_each_record(
        &self,
        tags: TagFilter<'_>,
        mut visit: impl FnMut(IllustRecord) -> Result<()>,
    ) -> Result<()> {
        let columns = self.readable_columns()?;
        let col = |name: &str| columns.select(name);
        // Without tags, the joined text is still needed where no AI flag was stored (indexes of
        // the original tool): the flag is then derived from it, row by row.
        let (tags_json, tags_text) = match tags {
            TagFilter::None => {
                let text = if columns.has("tags") && columns.has("ai_flag") {
                    "CASE WHEN \"ai_flag\" IS NULL THEN \"tags\" END".to_string()
                } else {
                    col("tags")
                };
                ("NULL".to_string(), text)
            }
            TagFilter::All | TagFilter::Within(_) => (col("tags_json"), col("tags")),
        };
        let sql = format!(
            "SELECT filename, {}, {}, {}, {}, {}, {}, {}, {}, {}, {tags_json}, {tags_text}, {} \
             FROM illusts ORDER BY filename",
            col("id"),
            col("image_path"),
            col("total_bookmarks"),
            col("total_view"),
            col("date"),
            col("create_date"),
            col("sanity_level"),
            col("illust_ai_type"),
            col("ai_flag"),
            col("tag_character"),
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let record = read_record(row, tags).map_err(|e| self.err(e))?;
            visit(record)?;
        }
        Ok(())
    }

    /// Hands `each` the tag list of every row whose file name `include` accepts, borrowed
    /// from the stored text: the fitting pass of a top-K vocabulary
    /// (`|tags| counter.add(tags)` with a [`TagCounter`](crate::TagCounter)). Rows left out
    /// are not decoded, and no tag is copied here, so memory stays bounded by what `each`
    /// keeps however long the lists.
    pub fn for_each_tag_list(
        &self,
        mut include: impl FnMut(&str) -> bool,
        mut each: impl FnMut(&mut dyn Iterator<Item = &str>),
    ) -> Result<()> {
        let columns = self.readable_columns()?;
        let sql = format!(
            "SELECT filename, {}, {} FROM illusts ORDER BY filename",
            columns.select("tags_json"),
            columns.select("tags")
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let listed = included_tags(row, &mut include).map_err(|e| self.err(e))?;
            if let Some(tags) = listed {
                each(&mut tags.iter().map(|t| t.as_ref()));
            }
        }
        Ok(())
    }
}

/// The columns `illusts` has, as a reader selects them.
struct ReadableColumns(Vec<String>);

impl ReadableColumns {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|e| e == name)
    }

    /// `"name"`, or `NULL` when the table has no such column.
    fn select(&self, name: &str) -> String {
        if self.has(name) { format!("\"{name}\"") } else { "NULL".into() }
    }
}

/// The tags of a `(filename, tags_json, tags)` row when `include` accepts its file name.
fn included_tags<'r>(
    row: &'r rusqlite::Row<'_>,
    include: &mut impl FnMut(&str) -> bool,
) -> rusqlite::Result<Option<Vec<Cow<'r, str>>>> {
    if !include(row.get_ref(0)?.as_str()?) {
        return Ok(None);
    }
    let json = row.get_ref(1)?.as_str_or_null()?;
    Ok(Some(tag_list(json, row.get_ref(2)?.as_str_or_null()?)))
}

/// Which tags [`Database::for_each_record`] reads into [`IllustRecord::tags`].
#[derive(Debug, Clone, Copy, Default)]
pub enum TagFilter<'a> {
    /// Every tag.
    #[default]
    All,
    /// No tag (`tags` stays empty): the cheapest read, for scores and splits.
    None,
    /// Only the tags in this set (a fitted vocabulary), each once, in file order: memory is
    /// bounded by the set and the row count, not by how many tags the files list.
    Within(&'a HashSet<String>),
}

/// One row of the query in [`Database::for_each_record`].
fn read_record(r: &rusqlite::Row<'_>, filter: TagFilter<'_>) -> rusqlite::Result<IllustRecord> {
    // Borrowed from the row: with `Within`, only the kept tags are ever copied.
    let tags_json = r.get_ref(10)?.as_str_or_null()?;
    let tags_text = r.get_ref(11)?.as_str_or_null()?;
    let tags = match filter {
        TagFilter::None => Vec::new(),
        TagFilter::All => tag_list(tags_json, tags_text).into_iter().map(Cow::into_owned).collect(),
        TagFilter::Within(keep) => {
            let listed = tag_list(tags_json, tags_text);
            let mut seen: HashSet<&str> = HashSet::new();
            let mut kept = Vec::new();
            for tag in &listed {
                if keep.contains(tag.as_ref()) && seen.insert(tag) {
                    kept.push(tag.to_string());
                }
            }
            kept
        }
    };
    let illust_ai_type: Option<i64> = r.get(8)?;
    let ai_flag: Option<i64> = r.get(9)?;
    let date = read_date(r, 5)?.or(read_date(r, 6)?);
    Ok(IllustRecord {
        filename: r.get(0)?,
        id: r.get(1)?,
        image_path: r.get(2)?,
        bookmarks: r.get(3)?,
        views: r.get(4)?,
        date,
        sanity_level: r.get(7)?,
        illust_ai_type,
        ai_flag: match ai_flag {
            Some(f) => f != 0,
            None => crate::encoding::is_ai(illust_ai_type, tags_text.unwrap_or("")),
        },
        tags,
        tag_character: r.get::<_, Option<String>>(12)?.unwrap_or_else(|| ORIGINAL.to_string()),
    })
}

/// Reads a date column stored as text (ours and the original's) or as a Unix time number.
/// Column names of `illusts` (none when there is no such table).
fn table_columns(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('illusts')")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// An `illusts` table that animescore did not create can be migrated only if it is keyed by
/// `filename` as the original tool's is (rows are replaced by it); `Err` says why not.
fn check_foreign_table(conn: &Connection) -> std::result::Result<(), String> {
    let mut stmt = conn
        .prepare("SELECT pk FROM pragma_table_info('illusts') WHERE name = 'filename'")
        .map_err(|e| e.to_string())?;
    let pk: Option<i64> = stmt.query_row([], |r| r.get(0)).ok();
    match pk {
        Some(1) => Ok(()),
        Some(_) => Err("its `illusts` table is not keyed by `filename`, so it is not an \
                        animescore or gallery-dl index"
            .into()),
        None => Err("its `illusts` table has no `filename` column, so it is not an \
                     animescore or gallery-dl index"
            .into()),
    }
}

fn read_date(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<NaiveDateTime>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(idx)? {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(parse_date),
        ValueRef::Integer(secs) => chrono::DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc()),
        _ => None,
    })
}

/// The exact tag list when stored, else the comma-joined text split (legacy rows), borrowed
/// from the row where the stored text allows (a tag with a JSON escape is copied).
fn tag_list<'r>(tags_json: Option<&'r str>, tags: Option<&'r str>) -> Vec<Cow<'r, str>> {
    /// One tag of `tags_json`, borrowed when it has no escapes.
    #[derive(serde::Deserialize)]
    struct Tag<'a>(#[serde(borrow)] Cow<'a, str>);

    if let Some(list) = tags_json.and_then(|j| serde_json::from_str::<Vec<Tag<'r>>>(j).ok()) {
        return list.into_iter().map(|t| t.0).collect();
    }
    tags.map(|t| t.split(',').filter(|s| !s.is_empty()).map(Cow::Borrowed).collect())
        .unwrap_or_default()
}
