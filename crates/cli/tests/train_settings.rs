//! `animescore train` settings: score parameters, tag source, recipe defaults and typed flags
//! reach the run's `config.toml`, and typos fail before anything is written.

use animescore_testkit::{Cli, DatasetSpec, arg, synthetic_dataset, text};

#[test]
fn score_parameters_tags_and_recipe_reach_the_run() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let dir = tempfile::tempdir().unwrap();
    // 30 synthetic images indexed *without* character aliases.
    let data = synthetic_dataset(dir.path(), DatasetSpec::new(30, 9, 24).without_aliases());
    let run = dir.path().join("run");
    let out = cli.run(&[
        "train",
        "--dataset",
        arg(&data),
        "--out",
        arg(&run),
        "--epochs",
        "1",
        "--image-size",
        "24",
        "--embedding",
        "both",
        "--score",
        "time-decay",
        "--alpha",
        "0.5",
        "--reference-date",
        "2024-01-01",
        "--monitor",
        "val-srcc",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The effective settings are printed first, naming what the recipe chose.
    assert!(stderr.contains("settings: tiny"), "{stderr}");
    assert!(stderr.contains("time-decay (α = 0.5, reference 2024-01-01 00:00:00)"), "{stderr}");
    assert!(stderr.contains("tags top-k"), "no aliases: auto picks top-k\n{stderr}");
    assert!(stderr.contains("batch_size, lr, patience from the recipe"), "{stderr}");

    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(run.join("config.toml")).unwrap()).unwrap();
    let train = &config["train"];
    assert_eq!(train["score"]["method"].as_str(), Some("time-decay"));
    assert_eq!(train["score"]["alpha"].as_float(), Some(0.5));
    assert_eq!(train["score"]["reference"].as_str(), Some("2024-01-01T00:00:00"));
    assert_eq!(train["tags"]["source"].as_str(), Some("top-k"));
    assert_eq!(train["monitor"].as_str(), Some("val-srcc"));
    assert_eq!(train["epochs"].as_integer(), Some(1), "an explicit flag wins");
    assert_eq!(train["batch_size"].as_integer(), Some(32), "the tiny recipe, written out");
    assert_eq!(train["lr"].as_float(), Some(2e-3));

    // The run's scalers are the `scores` command's with the same parameters.
    let scalers = std::fs::read_to_string(run.join("scalers.json")).unwrap();
    let scalers: serde_json::Value = serde_json::from_str(&scalers).unwrap();
    assert_eq!(scalers["method"]["alpha"].as_f64(), Some(0.5), "{scalers}");
}

#[test]
fn typos_and_misplaced_parameters_fail_before_anything_is_written() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let base = ["train", "--dataset", "/nonexistent-dataset", "--out", arg(&run)];
    for (extra, expect) in [
        (&["--device", "cdua"][..], "cdua"),
        (&["--backbone", "resnet5"][..], "resnet5"),
        (&["--monitor", "val-loss"][..], "val-loss"),
        (&["--tags", "charcters"][..], "charcters"),
        (&["--freeze", "layer 3"][..], "layer 3"),
        (&["--lambda", "0.3"][..], "--lambda does not apply to the weighted-log score"),
        (&["--score", "ctr-quantile", "--alpha", "0.3"][..], "--alpha does not apply"),
        (&["--score", "time-decay", "--alpha", "7"][..], "alpha = 7 is outside 0..=1"),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let stderr = cli.fails(&args);
        assert!(stderr.contains(expect), "{extra:?}: {stderr}");
        assert!(!run.exists(), "{extra:?} wrote the run directory");
    }
}
