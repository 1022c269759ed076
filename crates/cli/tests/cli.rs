//! The `animescore` binary end to end: synth → ingest → scores, and its error handling.

use std::path::Path;

use animescore_testkit::{Cli, DatasetSpec, arg, index_of, synthetic_dataset, text};

#[test]
fn synth_ingest_scores_chain() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = arg(&data);
    cli.ok(&["synth", data_s, "--count", "30", "--size", "24", "--seed", "5"]);

    // A broken metadata file next to an image is reported, not fatal.
    let shard = data.join("77");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join("77000000_p0.jpg.json"), b"{ not json").unwrap();
    std::fs::write(shard.join("77000000_p0.png"), b"").unwrap();

    let out = cli.succeeds(&["ingest", data_s, "--jobs", "2"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("30 added, 0 updated, 0 unchanged, 1 skipped"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("77000000_p0.jpg.json") && stderr.contains("invalid JSON"), "{stderr}");

    let db = data.join(".database/metadata.sqlite3");
    let csv_path = dir.path().join("scores.csv");
    let scalers = dir.path().join("scalers.json");
    cli.ok(&["scores", "--db", arg(&db), "--out", arg(&csv_path), "--save-scalers", arg(&scalers)]);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("filename,score"));
    let scores: Vec<f64> = lines.map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(scores.len(), 30);
    assert!(scores.iter().all(|s| (1.0..=100.0).contains(s)));
    assert!(scores.contains(&1.0) && scores.contains(&100.0), "fitted on all rows: spans 1..100");

    // Transform-only with the saved scalers reproduces the same scores exactly.
    assert_eq!(cli.ok(&["scores", "--db", arg(&db), "--scalers", arg(&scalers)]), csv);

    for method in ["time-decay", "ctr-quantile", "bookmark-ratio"] {
        let out = cli.run(&["scores", "--db", arg(&db), "--method", method]);
        assert!(out.status.success(), "{method}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).lines().count(), 31, "{method}");
    }
}

/// A row whose bookmark or view count is negative (a hand-edited or damaged index) has no
/// score: `scores` leaves it out and says so, and fits and scores the other rows as usual.
#[test]
fn scores_skips_rows_with_negative_counts() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(dir.path(), DatasetSpec::new(12, 5, 16).without_aliases());
    let db = index_of(&data);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO illusts (filename, total_bookmarks, total_view, date)
           VALUES ('negative_bookmarks_p0', -3, 500, '2024-01-02 03:04:05'),
                  ('negative_views_p0', 7, -1, '2024-01-02 03:04:05');",
    )
    .unwrap();
    drop(conn);

    for method in ["weighted-log", "time-decay", "ctr-quantile", "bookmark-ratio"] {
        let out = cli.run(&["scores", "--db", arg(&db), "--method", method]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{method}: {stderr}");
        assert!(stderr.contains("skipped 2 rows without (non-negative)"), "{method}: {stderr}");
        let stdout = text(&out.stdout);
        assert_eq!(stdout.lines().count(), 1 + 12, "{method}: {stdout}");
        assert!(!stdout.contains("negative_"), "{method}: a negative row was scored\n{stdout}");
        let scores: Vec<f64> =
            stdout.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
        assert!(scores.iter().all(|s| s.is_finite()), "{method}: {scores:?}");
    }
}

#[test]
fn clear_errors_for_bad_arguments() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    assert!(cli.fails(&["ingest", "/definitely/not/here"]).contains("/definitely/not/here"));

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite3");
    std::fs::write(&db, b"garbage garbage garbage").unwrap();
    let stderr = cli.fails(&["scores", "--db", arg(&db)]);
    assert!(stderr.contains("not a usable SQLite database"), "{stderr}");

    let stderr = cli.fails(&["scores", "--db", arg(Path::new("/nope.sqlite3")), "--alpha", "2"]);
    assert!(stderr.contains("alpha = 2 is outside 0..=1"), "{stderr}");
}
