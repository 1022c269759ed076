//! Issue 15 (hardening) through the binary: an output never destroys an input (`scores --out`
//! / `--save-scalers` onto the index, `embed --out` onto an image), `-` is standard output, a
//! full standard output is a clean error, `train` refuses an existing run, `synth` refuses a
//! user's folder, and out-of-range sizes are clear errors. Each test fails on the code before
//! the fix.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use animescore_dataset::{IngestOptions, NoProgress, SynthOptions, ingest, synthesize};

fn animescore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_animescore")).args(args).output().expect("binary runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A small indexed synthetic dataset; returns (dataset, index).
fn dataset(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    synthesize(&data, &SynthOptions { count: 12, seed: 5, size: 16 }).unwrap();
    let report = ingest(&IngestOptions::new(&data), &NoProgress).unwrap();
    (data, report.db_path)
}

#[test]
fn scores_never_writes_over_its_index_and_writes_to_standard_output() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, db) = dataset(tmp.path());
    let before = std::fs::read(&db).unwrap();
    let link = tmp.path().join("scores.csv");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    for args in [
        vec!["scores", "--db", s(&db), "--out", s(&db)],
        vec!["scores", "--db", s(&db), "--out", s(&link)],
        vec!["scores", "--db", s(&db), "--save-scalers", s(&db)],
    ] {
        let out = animescore(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains("refusing to write"), "{}", text(&out));
        assert_eq!(std::fs::read(&db).unwrap(), before, "{args:?} changed the index");
    }
    let out = animescore(&["scores", "--db", s(&db), "--out", "-"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("filename,score"));
    // /dev/null stays the system's device.
    let out = animescore(&["scores", "--db", s(&db), "--out", "/dev/null"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
}

#[test]
fn a_full_standard_output_is_a_clean_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, db) = dataset(tmp.path());
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_animescore"))
        .args(["scores", "--db", s(&db)])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
}

#[test]
fn embed_never_writes_over_an_image() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = dataset(tmp.path());
    let image = animescore_inference::collect_images(&[data]).unwrap().remove(0);
    let before = std::fs::read(&image).unwrap();
    let out = animescore(&[
        "embed",
        "--backbone",
        "tiny",
        "--image-size",
        "16",
        "--out",
        s(&image),
        s(&image),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("refusing to write"), "{}", text(&out));
    assert_eq!(std::fs::read(&image).unwrap(), before);
    let out = animescore(&["embed", "--backbone", "tiny", "--image-size", "100000", s(&image)]);
    assert!(!out.status.success());
    assert!(text(&out).contains("image size 100000"), "{}", text(&out));
}

#[test]
fn train_refuses_a_non_empty_out_and_synth_a_users_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = dataset(tmp.path());
    let out_dir = tmp.path().join("results");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("model.bpk"), b"someone's model").unwrap();
    let out = animescore(&[
        "train",
        "--dataset",
        s(&data),
        "--out",
        s(&out_dir),
        "--backbone",
        "tiny",
        "--image-size",
        "16",
        "--epochs",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--overwrite"), "{}", text(&out));
    assert_eq!(std::fs::read(out_dir.join("model.bpk")).unwrap(), b"someone's model");

    let out = animescore(&["synth", s(&out_dir), "--count", "2", "--size", "16"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);

    for (args, needle) in [
        (vec!["synth", "x", "--size", "100000"], "size"),
        (vec!["synth", "x", "--count", "100000000000"], "count"),
        (vec!["ingest", s(&data), "--jobs", "100000"], "jobs"),
    ] {
        let out = animescore(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(needle), "{args:?}: {}", text(&out));
        assert!(out.status.code().is_none_or(|c| c <= 100), "{args:?} crashed");
    }
}
