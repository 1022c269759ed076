//! Issue 15 (hardening) through the binary: an output never destroys an input (`scores --out`
//! / `--save-scalers` onto the index, `embed --out` onto an image), `-` is standard output, a
//! full standard output is a clean error, `train` refuses an existing run, `synth` refuses a
//! user's folder, and out-of-range sizes are clear errors. Each test fails on the code before
//! the fix.
#![cfg(unix)]

use std::process::{Output, Stdio};

use animescore_testkit::{Cli, DatasetSpec, arg, index_of, synthetic_dataset, text};

/// A small indexed synthetic dataset.
const DATA: DatasetSpec = DatasetSpec::new(12, 5, 16).without_aliases();

/// Standard output and standard error, one after the other.
fn all_output(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

#[test]
fn scores_never_writes_over_its_index_and_writes_to_standard_output() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let db = index_of(&synthetic_dataset(tmp.path(), DATA));
    let before = std::fs::read(&db).unwrap();
    let link = tmp.path().join("scores.csv");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    for args in [
        vec!["scores", "--db", arg(&db), "--out", arg(&db)],
        vec!["scores", "--db", arg(&db), "--out", arg(&link)],
        vec!["scores", "--db", arg(&db), "--save-scalers", arg(&db)],
    ] {
        let out = cli.run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(all_output(&out).contains("refusing to write"), "{}", all_output(&out));
        assert_eq!(std::fs::read(&db).unwrap(), before, "{args:?} changed the index");
    }
    let out = cli.run(&["scores", "--db", arg(&db), "--out", "-"]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(text(&out.stdout).starts_with("filename,score"));
    // /dev/null stays the system's device.
    let out = cli.run(&["scores", "--db", arg(&db), "--out", "/dev/null"]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
}

#[test]
fn a_full_standard_output_is_a_clean_error() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let db = index_of(&synthetic_dataset(tmp.path(), DATA));
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out =
        cli.command(&["scores", "--db", arg(&db)]).stdout(Stdio::from(full)).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert!(!all_output(&out).contains("panicked"), "{}", all_output(&out));
}

#[test]
fn embed_never_writes_over_an_image() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DATA);
    let image = animescore_inference::collect_images(&[data]).unwrap().remove(0);
    let before = std::fs::read(&image).unwrap();
    let out = cli.run(&[
        "embed",
        "--backbone",
        "tiny",
        "--image-size",
        "16",
        "--out",
        arg(&image),
        arg(&image),
    ]);
    assert!(!out.status.success());
    assert!(all_output(&out).contains("refusing to write"), "{}", all_output(&out));
    assert_eq!(std::fs::read(&image).unwrap(), before);
    let out = cli.run(&["embed", "--backbone", "tiny", "--image-size", "100000", arg(&image)]);
    assert!(!out.status.success());
    assert!(all_output(&out).contains("image size 100000"), "{}", all_output(&out));
}

#[test]
fn train_refuses_a_non_empty_out_and_synth_a_users_folder() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DATA);
    let out_dir = tmp.path().join("results");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("model.bpk"), b"someone's model").unwrap();
    let out = cli.run(&[
        "train",
        "--dataset",
        arg(&data),
        "--out",
        arg(&out_dir),
        "--backbone",
        "tiny",
        "--image-size",
        "16",
        "--epochs",
        "1",
    ]);
    assert!(!out.status.success());
    // Issue 23: no hint at a flag that would delete the user's files.
    assert!(all_output(&out).contains("choose another --out"), "{}", all_output(&out));
    assert!(!all_output(&out).contains("--overwrite to"), "{}", all_output(&out));
    assert_eq!(std::fs::read(out_dir.join("model.bpk")).unwrap(), b"someone's model");

    let out = cli.run(&["synth", arg(&out_dir), "--count", "2", "--size", "16"]);
    assert!(!out.status.success());
    assert!(all_output(&out).contains("not empty"), "{}", all_output(&out));
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);

    for (args, needle) in [
        (vec!["synth", "x", "--size", "100000"], "size"),
        (vec!["synth", "x", "--count", "100000000000"], "count"),
        (vec!["ingest", arg(&data), "--jobs", "100000"], "jobs"),
    ] {
        let out = cli.run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(all_output(&out).contains(needle), "{args:?}: {}", all_output(&out));
        assert!(out.status.code().is_none_or(|c| c <= 100), "{args:?} crashed");
    }
}
