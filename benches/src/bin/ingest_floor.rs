//! How far `animescore ingest` is from the I/O floor on the same files, in one run.
//!
//! ```text
//! ingest_floor --bin target/release/animescore [--records 20000] [--threads 2] [--runs 3]
//!              [--work DIR] [--keep]
//! ```
//!
//! Writes a synthetic gallery-dl dataset (`animescore synth WORK/data --count N --size 16`),
//! then, `--runs` times, measures:
//!
//! - **walk**: list every file under the dataset (the directory walk alone);
//! - **stat floor**: walk and `lstat` every file (what an unchanged re-run cannot avoid);
//! - **read floor**: walk and read every `*.json` file fully (no parsing);
//! - **fresh**: `animescore ingest DATA --db FILE -j T` into a new index file (process wall
//!   time: start-up included);
//! - **re-run**: the same command again, nothing changed;
//! - **insert floor**: the rows the fresh run wrote (read back into memory beforehand, not
//!   timed) inserted into a new SQLite file with the same `CREATE TABLE` / `CREATE INDEX`
//!   statements and the same journal settings (WAL, `synchronous = NORMAL`), one
//!   transaction, one prepared statement reused.
//!
//! The walks, stats and reads use `--threads` threads (default 2, and ingest gets `-j` the
//! same). The files are warm in the page cache throughout (synth just wrote them, and
//! dropping the cache needs root): these are floors for warm files. Prints each figure per
//! run, the medians, and the issue's two ratios: fresh / (read + insert), goal ≤ 1.5, and
//! re-run / stat, goal ≤ 2.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rusqlite::Connection;
use rusqlite::types::Value;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    bin: PathBuf,
    records: usize,
    threads: usize,
    runs: usize,
    work: Option<PathBuf>,
    keep: bool,
}

fn parse_args() -> Result<Args, Error> {
    let mut a =
        Args { bin: PathBuf::new(), records: 20_000, threads: 2, runs: 3, work: None, keep: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bin" => a.bin = value()?.into(),
            "--records" => a.records = value()?.parse()?,
            "--threads" => a.threads = value()?.parse()?,
            "--runs" => a.runs = value()?.parse()?,
            "--work" => a.work = Some(value()?.into()),
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!(
                    "ingest_floor --bin ANIMESCORE [--records 20000] [--threads 2] [--runs 3] \
                     [--work DIR] [--keep]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.bin.as_os_str().is_empty() {
        return Err("--bin PATH/TO/animescore is required".into());
    }
    if a.threads == 0 || a.runs == 0 || a.records == 0 {
        return Err("--records, --threads and --runs must be positive".into());
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("ingest_floor: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let args = parse_args()?;
    let (work, _temp) = match &args.work {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (dir.clone(), None)
        }
        None => {
            let dir = std::env::temp_dir().join(format!("ingest-floor-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            (dir.clone(), (!args.keep).then_some(RemoveOnDrop(dir)))
        }
    };
    let data = work.join("data");
    if !data.is_dir() {
        let status = Command::new(&args.bin)
            .arg("synth")
            .arg(&data)
            .args(["--count", &args.records.to_string(), "--size", "16"])
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("synth failed: {status}").into());
        }
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads).build()?;
    let files = pool.install(|| walk(&data))?;
    let json = files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")).count();
    println!(
        "ingest_floor: {} files ({json} JSON) in {}, {} threads, {} runs, binary {}; files warm \
         in the page cache; load average {}",
        files.len(),
        data.display(),
        args.threads,
        args.runs,
        args.bin.display(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    );

    let names = ["walk", "stat", "read", "insert", "fresh", "rerun"];
    let mut table: Vec<[f64; 6]> = Vec::new();
    for run in 1..=args.runs {
        let db = work.join(format!("index-{run}.sqlite3"));
        remove_db(&db);
        let walk_s = time(|| pool.install(|| walk(&data)).map(drop))?;
        let stat_s = time(|| pool.install(|| stat_all(&data)).map(drop))?;
        let read_s = time(|| pool.install(|| read_json(&data)).map(drop))?;
        let ingest = |db: &Path| -> Result<(), Error> {
            let out = Command::new(&args.bin)
                .arg("ingest")
                .arg(&data)
                .arg("--db")
                .arg(db)
                .args(["-j", &args.threads.to_string()])
                .output()?;
            if !out.status.success() {
                return Err(format!(
                    "ingest failed: {}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            Ok(())
        };
        let fresh_s = time(|| ingest(&db))?;
        let rerun_s = time(|| ingest(&db))?;
        let (schema, columns, rows) = load_rows(&db)?;
        let floor_db = work.join(format!("floor-{run}.sqlite3"));
        remove_db(&floor_db);
        let insert_s = time(|| insert_rows(&floor_db, &schema, columns, &rows))?;
        if run == 1 {
            println!(
                "table {}: {} rows × {} columns (the insert floor writes the same)",
                schema.table,
                rows.len() / columns.max(1),
                columns
            );
        }
        remove_db(&floor_db);
        remove_db(&db);
        let row = [walk_s, stat_s, read_s, insert_s, fresh_s, rerun_s];
        println!("run {run}: {}", fmt_row(&names, &row));
        table.push(row);
    }
    let med: [f64; 6] = std::array::from_fn(|i| median(table.iter().map(|r| r[i]).collect()));
    println!("median: {}", fmt_row(&names, &med));
    let [_, stat, read, insert, fresh, rerun] = med;
    println!(
        "fresh / (read + insert) = {:.3} / ({:.3} + {:.3}) = {:.2}x   (goal <= 1.5)",
        fresh,
        read,
        insert,
        fresh / (read + insert)
    );
    println!("re-run / stat = {:.3} / {:.3} = {:.2}x   (goal <= 2)", rerun, stat, rerun / stat);
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn fmt_row(names: &[&str], row: &[f64]) -> String {
    names.iter().zip(row).map(|(n, v)| format!("{n} {v:.3} s")).collect::<Vec<_>>().join(", ")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn time(f: impl FnOnce() -> Result<(), Error>) -> Result<f64, Error> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// Every file under `dir` (hidden entries such as `.database` skipped), sub-folders walked
/// in parallel on the current rayon pool.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    use rayon::prelude::*;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            dirs.push(entry.path());
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    let nested: Vec<Vec<PathBuf>> = dirs.par_iter().map(|d| walk(d)).collect::<Result<_, _>>()?;
    files.extend(nested.into_iter().flatten());
    Ok(files)
}

/// Walk, then `lstat` every file (in parallel); returns the summed sizes so nothing is
/// optimised away.
fn stat_all(dir: &Path) -> Result<u64, Error> {
    use rayon::prelude::*;
    let files = walk(dir)?;
    files.par_iter().map(|f| Ok(std::fs::symlink_metadata(f)?.len())).sum()
}

/// Walk, then read every `*.json` file fully (in parallel, one reused buffer per task).
fn read_json(dir: &Path) -> Result<u64, Error> {
    use rayon::prelude::*;
    use std::io::Read;
    let files = walk(dir)?;
    let total = AtomicU64::new(0);
    files.par_iter().filter(|p| p.extension().is_some_and(|e| e == "json")).try_for_each_init(
        Vec::new,
        |buf, p| -> Result<(), Error> {
            buf.clear();
            std::fs::File::open(p)?.read_to_end(buf)?;
            total.fetch_add(buf.len() as u64, Ordering::Relaxed);
            Ok(())
        },
    )?;
    Ok(total.into_inner())
}

struct Schema {
    table: String,
    /// `CREATE TABLE` then its `CREATE INDEX` statements.
    statements: Vec<String>,
}

/// The largest table of `db`: its schema and every row (flattened, `columns` per row).
fn load_rows(db: &Path) -> Result<(Schema, usize, Vec<Value>), Error> {
    let conn = Connection::open(db)?;
    let tables: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut best: Option<(i64, String, String)> = None;
    for (name, sql) in tables {
        let n: i64 =
            conn.query_row(&format!("SELECT COUNT(*) FROM \"{name}\""), [], |r| r.get(0))?;
        if best.as_ref().is_none_or(|b| n > b.0) {
            best = Some((n, name, sql));
        }
    }
    let (_, table, sql) = best.ok_or("the index has no table")?;
    let mut statements = vec![sql];
    let indexes: Vec<String> = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL")?
        .query_map([&table], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    statements.extend(indexes);
    let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\""))?;
    let columns = stmt.column_count();
    let mut values = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        for i in 0..columns {
            values.push(row.get::<_, Value>(i)?);
        }
    }
    Ok((Schema { table, statements }, columns, values))
}

/// Inserts `values` (`columns` per row) into a new SQLite file with `schema`: WAL,
/// `synchronous = NORMAL`, one transaction, one prepared statement.
fn insert_rows(db: &Path, schema: &Schema, columns: usize, values: &[Value]) -> Result<(), Error> {
    let mut conn = Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    for sql in &schema.statements {
        conn.execute_batch(sql)?;
    }
    let tx = conn.transaction()?;
    {
        let marks = vec!["?"; columns].join(", ");
        let mut stmt = tx.prepare(&format!("INSERT INTO \"{}\" VALUES ({marks})", schema.table))?;
        for row in values.chunks_exact(columns.max(1)) {
            stmt.execute(rusqlite::params_from_iter(row.iter()))?;
        }
    }
    tx.commit()?;
    Ok(())
}
