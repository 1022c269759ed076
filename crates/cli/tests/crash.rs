//! Crash safety of ingest: kill the process at random moments, re-run, and compare with a
//! clean run. Every killed run must leave a valid database, and the final rows must be equal.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use animescore_dataset::Database;
use animescore_testkit::{Cli, DatasetSpec, arg, synthetic_files};
use rand::{Rng, SeedableRng};

fn ingest_cmd(data: &Path, db: &Path) -> Command {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let mut cmd = cli.command(&["ingest", arg(data), "--db", arg(db), "--batch-size", "40"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

#[test]
fn ingest_killed_at_random_points_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic_files(dir.path(), DatasetSpec::new(1500, 11, 16));

    let clean_db = dir.path().join("clean.sqlite3");
    assert!(ingest_cmd(&data, &clean_db).status().unwrap().success());
    let expected = Database::open_read_only(&clean_db).unwrap().records().unwrap();
    assert_eq!(expected.len(), 1500);

    let db = dir.path().join("killed.sqlite3");
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut partial_counts = Vec::new();
    for _ in 0..10 {
        let mut child = ingest_cmd(&data, &db).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(1..60)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if db.exists() {
            let conn = rusqlite::Connection::open(&db).unwrap();
            let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
            assert_eq!(check, "ok");
            // Rows come in whole batches, and every row present is complete and exact.
            let rows =
                Database::open_read_only(&db).map(|d| d.records().unwrap()).unwrap_or_default();
            for r in &rows {
                assert!(expected.contains(r), "partial or wrong row {}", r.filename);
            }
            partial_counts.push(rows.len());
        }
    }
    assert!(ingest_cmd(&data, &db).status().unwrap().success());
    let finished = Database::open_read_only(&db).unwrap().records().unwrap();
    assert_eq!(finished, expected);
    eprintln!("rows present after each kill: {partial_counts:?}");
}
