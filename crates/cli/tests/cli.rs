//! The `animescore` binary end to end: synth → ingest → scores, and its error handling.

use std::path::Path;
use std::process::{Command, Output};

fn animescore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_animescore")).args(args).output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn synth_ingest_scores_chain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let out = animescore(&["synth", data_s, "--count", "30", "--size", "24", "--seed", "5"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A broken metadata file next to an image is reported, not fatal.
    let shard = data.join("77");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join("77000000_p0.jpg.json"), b"{ not json").unwrap();
    std::fs::write(shard.join("77000000_p0.png"), b"").unwrap();

    let out = animescore(&["ingest", data_s, "--jobs", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("30 added, 0 updated, 0 unchanged, 1 skipped"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("77000000_p0.jpg.json") && stderr.contains("invalid JSON"), "{stderr}");

    let db = data.join(".database/metadata.sqlite3");
    let csv_path = dir.path().join("scores.csv");
    let scalers = dir.path().join("scalers.json");
    let out = animescore(&[
        "scores",
        "--db",
        db.to_str().unwrap(),
        "--out",
        csv_path.to_str().unwrap(),
        "--save-scalers",
        scalers.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("filename,score"));
    let scores: Vec<f64> = lines.map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(scores.len(), 30);
    assert!(scores.iter().all(|s| (1.0..=100.0).contains(s)));
    assert!(scores.contains(&1.0) && scores.contains(&100.0), "fitted on all rows: spans 1..100");

    // Transform-only with the saved scalers reproduces the same scores exactly.
    let out = animescore(&[
        "scores",
        "--db",
        db.to_str().unwrap(),
        "--scalers",
        scalers.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), csv);

    for method in ["time-decay", "ctr-quantile", "bookmark-ratio"] {
        let out = animescore(&["scores", "--db", db.to_str().unwrap(), "--method", method]);
        assert!(out.status.success(), "{method}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).lines().count(), 31, "{method}");
    }
}

#[test]
fn clear_errors_for_bad_arguments() {
    let out = animescore(&["ingest", "/definitely/not/here"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/definitely/not/here"));

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite3");
    std::fs::write(&db, b"garbage garbage garbage").unwrap();
    let out = animescore(&["scores", "--db", db.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not a usable SQLite database"), "{}", text(&out.stderr));

    let out = animescore(&[
        "scores",
        "--db",
        Path::new("/nope.sqlite3").to_str().unwrap(),
        "--alpha",
        "2",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("alpha = 2 is outside 0..=1"), "{}", text(&out.stderr));
}
