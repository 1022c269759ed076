//! Issue 15 (hardening) for the data layer: only regular files are read and every read is
//! bounded (a FIFO or a link to `/dev/zero` named like metadata), linked shard folders are
//! followed and link cycles end, `synth` never overwrites the user's files and its ids cannot be
//! Pixiv's, and sizes are checked before anything is allocated. Each test fails (or hangs past
//! its time limit) on the code before the fix.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use animescore_dataset::{
    Database, IngestOptions, IngestReport, NoProgress, SplitConfig, SynthOptions, ingest,
    synthesize,
};
use animescore_dataset::{MAX_SYNTH_COUNT, SYNTH_ID_OFFSET};
use animescore_testkit::{DatasetSpec, index_dataset, synthetic_dataset, synthetic_files};

/// Runs an ingest on another thread and fails the test when it takes longer than a minute
/// (the old code blocked forever on a FIFO).
fn ingest_within_a_minute(opts: IngestOptions) -> IngestReport {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(ingest(&opts, &NoProgress));
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("ingest hung").expect("ingest ran")
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

fn shards(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    out.sort();
    out
}

fn first_png(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    files.remove(0)
}

fn problem<'a>(report: &'a IngestReport, name: &str) -> Option<&'a str> {
    report
        .problems
        .iter()
        .find(|p| p.path.file_name().is_some_and(|n| n == name))
        .map(|p| p.reason.as_str())
}

#[test]
fn ingest_skips_fifos_and_device_links_with_a_reason_and_never_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), DatasetSpec::new(8, 2, 16));
    let shard = shards(&data).remove(0);
    let png = first_png(&shard);
    // A FIFO named like metadata (with an image beside it): opening it used to block forever.
    mkfifo(&shard.join("1_p0.png.json"));
    std::fs::copy(&png, shard.join("1_p0.png")).unwrap();
    // A link to /dev/zero named like metadata: its reported size is 0 and it never ends.
    std::os::unix::fs::symlink("/dev/zero", shard.join("2_p0.png.json")).unwrap();
    std::fs::copy(&png, shard.join("2_p0.png")).unwrap();
    // A FIFO named like an image is skipped too.
    mkfifo(&shard.join("3_p0.png"));

    let report = ingest_within_a_minute(IngestOptions::new(&data));
    assert_eq!(report.added, 8, "{:?}", report.problems);
    for name in ["1_p0.png.json", "3_p0.png"] {
        let reason = problem(&report, name).unwrap_or_else(|| panic!("{name} not reported"));
        assert!(reason.contains("not a regular file (FIFO)"), "{name}: {reason}");
    }
    let reason = problem(&report, "2_p0.png.json").expect("the /dev/zero link is reported");
    assert!(reason.contains("not a regular file (character device)"), "{reason}");
}

#[test]
fn ingest_follows_linked_shard_folders_and_ends_link_cycles() {
    let tmp = tempfile::tempdir().unwrap();
    let store = synthetic_files(&tmp.path().join("store"), DatasetSpec::new(12, 3, 16));
    // The dataset folder holds only links to the shard folders, and one shard links back to
    // the dataset root (a cycle) and to a sibling shard (a second path to the same folder).
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let linked = shards(&store);
    for shard in &linked {
        std::os::unix::fs::symlink(shard, data.join(shard.file_name().unwrap())).unwrap();
    }
    std::os::unix::fs::symlink(&data, linked[0].join("loop")).unwrap();
    let report = ingest_within_a_minute(IngestOptions::new(&data));
    assert_eq!(report.added, 12, "{:?}", report.problems);
    assert_eq!(report.total_rows, 12);
    let reason = problem(&report, "loop").expect("the cycle is reported");
    assert!(reason.contains("link cycle"), "{reason}");
}

#[test]
fn synth_refuses_a_users_folder_and_writes_ids_no_pixiv_artwork_has() {
    let tmp = tempfile::tempdir().unwrap();
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("character_aliases.csv"), b"my own table\n").unwrap();
    let err = synthesize(&mine, &SynthOptions { count: 3, seed: 1, size: 16 }).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(std::fs::read(mine.join("character_aliases.csv")).unwrap(), b"my own table\n");
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);

    let data = synthetic_files(tmp.path(), DatasetSpec::new(10, 1, 16));
    // Growing an earlier synthetic dataset stays possible.
    synthetic_files(tmp.path(), DatasetSpec::new(12, 1, 16));
    let report = index_dataset(&data, false);
    assert_eq!(report.added, 12);
    let db = Database::open_read_only(&report.db_path).unwrap();
    for record in db.records().unwrap() {
        let id = record.artwork_id().expect("an id");
        assert!(id >= SYNTH_ID_OFFSET, "{} could be a real Pixiv id", record.filename);
    }
}

#[test]
fn sizes_are_checked_before_anything_is_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    for (opts, needle) in [
        (SynthOptions { count: 1, seed: 1, size: 100_000 }, "size"),
        (SynthOptions { count: 1, seed: 1, size: 0 }, "size"),
        (SynthOptions { count: 100_000_000_000, seed: 1, size: 16 }, "count"),
        (SynthOptions { count: MAX_SYNTH_COUNT + 1, seed: 1, size: 16 }, "count"),
    ] {
        let err = synthesize(&dir, &opts).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!dir.exists(), "nothing is written for a refused request");
    }
    let mut opts = IngestOptions::new(tmp.path());
    opts.jobs = Some(100_000);
    let err = ingest(&opts, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("jobs"), "{err}");

    let split = SplitConfig { seed: 1, test_fraction: 0.5, validation_fraction: 0.5 };
    assert!(split.validate().is_err(), "validation + test fractions of 1 leave no training data");
    assert!(SplitConfig::default().validate().is_ok());
}

#[test]
fn an_edit_that_keeps_size_and_mtime_is_still_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(4, 4, 16).without_aliases());
    let shard = shards(&data).remove(0);
    let json = std::fs::read_dir(&shard)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".json"))
        .unwrap();
    let mtime = std::fs::metadata(&json).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&json).unwrap();
    let edited = text.replace("\"synth\"", "\"SYNTH\"");
    assert_eq!(edited.len(), text.len());
    assert_ne!(edited, text);
    std::fs::write(&json, edited).unwrap();
    // As `touch -r` or `cp -p` would leave it: same size, same mtime.
    std::fs::File::options().write(true).open(&json).unwrap().set_modified(mtime).unwrap();
    let report = ingest(&IngestOptions::new(&data), &NoProgress).unwrap();
    assert_eq!(report.updated, 1, "the edit was missed: {report:?}");
}

#[test]
fn a_foreign_illusts_table_is_refused_before_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), DatasetSpec::new(2, 4, 16));
    let db = tmp.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE illusts (a INTEGER, b TEXT); INSERT INTO illusts VALUES (1, 'x');",
    )
    .unwrap();
    drop(conn);
    let mut opts = IngestOptions::new(&data);
    opts.db_path = Some(db.clone());
    let err = ingest(&opts, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("filename"), "{err}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let columns: i64 = conn
        .query_row("SELECT count(*) FROM pragma_table_info('illusts')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(columns, 2, "the foreign table was altered");
}

#[test]
fn two_ingests_creating_one_index_both_succeed_and_count_each_file_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), DatasetSpec::new(6, 4, 16));
    for round in 0..5 {
        let db = tmp.path().join(format!("index-{round}.sqlite"));
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut opts = IngestOptions::new(&data);
                        opts.db_path = Some(db.clone());
                        barrier.wait();
                        ingest(&opts, &NoProgress)
                    })
                })
                .collect();
            let mut added = 0;
            for run in runs {
                let report = run.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert_eq!(report.total_rows, 6);
                assert_eq!(report.added + report.updated + report.unchanged, 6, "{report:?}");
                added += report.added;
            }
            // Each file is new to the index once, whichever run wrote it first (both runs
            // used to count all six as added).
            assert_eq!(added, 6, "round {round}");
        });
    }
}
