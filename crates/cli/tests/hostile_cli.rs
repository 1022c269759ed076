//! The binary against hostile input: `predict` on a folder of broken and odd images (the
//! committed corpus `tests/data/images/`), `predict` killed while writing, bad configs and
//! arguments of `train` / `eval` / `predict` / `scores` (clear errors before any work), and
//! `ingest` while another connection holds the index' write lock.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use animescore_testkit::{
    Cli, DatasetSpec, RunFixture, arg, images_of, index_of, synthetic_files, text,
};
use rand::{Rng, SeedableRng};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/images");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// A 40-image synthetic dataset and a 1-epoch `tiny` run on it, shared by the tests.
fn fixture() -> &'static RunFixture {
    static FIXTURE: OnceLock<RunFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        RunFixture::new(DatasetSpec::new(40, 4, 32), |data, run| {
            let settings = "--image-size 32 --batch-size 16 --variant multitask --embedding none";
            Cli::new(env!("CARGO_BIN_EXE_animescore")).train_one_epoch(data, run, settings);
        })
    })
}

#[test]
fn predict_scores_good_images_and_reports_every_bad_one() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("inbox");
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    let mut expect_scored = Vec::new();
    let mut expect_failed = Vec::new();
    for f in corpus() {
        let target = folder.join(name(&f));
        std::fs::copy(&f, &target).unwrap();
        let png_or_jpg = matches!(
            target.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
            Some("png" | "jpg" | "jpeg")
        );
        if !png_or_jpg {
            continue; // .gif: not collected from a folder at all
        }
        if name(&f).starts_with("bad_") {
            expect_failed.push(target);
        } else {
            expect_scored.push(target);
        }
    }
    for (i, good) in images_of(&fx.data)[..6].iter().enumerate() {
        let target = folder.join("nested").join(format!("good{i}.png"));
        std::fs::copy(good, &target).unwrap();
        expect_scored.push(target);
    }
    let out_csv = tmp.path().join("predictions.csv");
    std::fs::write(&out_csv, "old file\n").unwrap();

    let out = cli.run(&["predict", "--model", arg(&fx.run), "--out", arg(&out_csv), arg(&folder)]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    for bad in &expect_failed {
        let line = format!("skipped {}: ", bad.display());
        assert!(stderr.contains(&line), "{} not reported:\n{stderr}", bad.display());
    }
    let skipped = stderr.lines().filter(|l| l.starts_with("skipped ")).count();
    assert_eq!(skipped, expect_failed.len(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let csv = std::fs::read_to_string(&out_csv).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), expect_scored.len(), "{csv}");
    for good in &expect_scored {
        let stem = good.file_stem().unwrap().to_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("{},{stem},", good.display())))
            .unwrap_or_else(|| panic!("{stem} not scored:\n{csv}"));
        let score: f64 = row.split(',').nth(2).unwrap().parse().unwrap();
        assert!((1.0..=100.0).contains(&score), "{row}");
    }
    // No temporary file left beside the output (the model record `OUT.model` is one).
    let leftovers: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| name(&e.unwrap().path()))
        .filter(|n| !["inbox", "predictions.csv", "predictions.csv.model"].contains(&n.as_str()))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!("{} scored, {} reported", expect_scored.len(), expect_failed.len());

    // Only broken images: nothing to score is a failure, with the reasons printed.
    let only_bad = tmp.path().join("only-bad");
    std::fs::create_dir_all(&only_bad).unwrap();
    for bad in expect_failed.iter().take(3) {
        std::fs::copy(bad, only_bad.join(name(bad))).unwrap();
    }
    let out = cli.run(&["predict", "--model", arg(&fx.run), arg(&only_bad)]);
    assert!(!out.status.success());
    assert_eq!(text(&out.stderr).matches("skipped ").count(), 3, "{}", text(&out.stderr));
}

/// `predict` streams its rows batch by batch: a kill -9 leaves the old file (killed before
/// the first batch was written) or the new file's header and complete rows, at most a
/// truncated last line more; `--resume` then finishes exactly the clean run's file.
#[test]
fn predict_killed_keeps_finished_batches_and_resumes() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let images = images_of(&fx.data);
    let out_csv = tmp.path().join("p.csv");
    let old = "old file\n";
    let mut args =
        vec!["predict", "--model", arg(&fx.run), "--batch-size", "4", "--out", arg(&out_csv)];
    args.extend(images.iter().map(|p| arg(p)));

    // A clean run's output, and how long it takes.
    let started = std::time::Instant::now();
    cli.ok(&args);
    let total_ms = started.elapsed().as_millis().max(20) as u64;
    let expected = std::fs::read_to_string(&out_csv).unwrap();
    assert_eq!(expected.lines().count(), 41);

    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let (mut old_seen, mut partial_rows) = (0, Vec::new());
    for _ in 0..8 {
        std::fs::write(&out_csv, old).unwrap();
        let mut child =
            cli.command(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(total_ms / 2..=total_ms + 20)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = std::fs::read_to_string(&out_csv).unwrap();
        if now == old {
            old_seen += 1;
            continue;
        }
        // Complete lines are a prefix of the clean run's file.
        let complete = &now[..now.rfind('\n').map_or(0, |i| i + 1)];
        assert!(expected.starts_with(complete), "not a prefix of the clean output:\n{now}");
        partial_rows.push(complete.lines().count().saturating_sub(1));
        let mut resume = args.clone();
        resume.push("--resume");
        cli.ok(&resume);
        assert_eq!(std::fs::read_to_string(&out_csv).unwrap(), expected, "after --resume");
    }
    eprintln!("after 8 kills: old file {old_seen} times, rows kept otherwise: {partial_rows:?}");
}

/// Runs `train` with `extra` arguments on the fixture's dataset into a fresh folder and
/// checks that it fails, naming `needle`, without a panic and without training.
fn train_fails(extra: &[&str], needle: &str) {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut args = vec!["train", "--dataset", arg(&fx.data), "--out", arg(&run)];
    args.extend_from_slice(extra);
    let out = cli.run(&args);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{extra:?} succeeded");
    assert_ne!(out.status.code(), Some(101), "{extra:?} panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
    assert!(stderr.contains(needle), "{extra:?}: message does not name `{needle}`: {stderr}");
    assert!(!run.join("checkpoint/state.json").exists(), "{extra:?} trained");
    assert!(!run.join("model.bpk").exists(), "{extra:?} trained");
    assert!(!run.join("config.toml").exists(), "{extra:?} wrote a run directory");
}

fn toml_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn bad_train_configs_fail_before_training() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../backbones/tests/data");
    let resnet_basic = weights.join("resnet_basic.safetensors");
    let efficientnet = weights.join("efficientnet_small.pth");
    let toml_cases: &[(&str, &str)] = &[
        ("epochz = 3\n", "epochz"),
        ("epochs = -1\n", "epochs"),
        ("epochs = 0\n", "epochs"),
        ("image_size = 0\n", "image_size"),
        ("batch_size = 0\n", "batch_size"),
        ("lr = 0.0\n", "lr"),
        ("lr = -0.01\n", "lr"),
        ("lr = nan\n", "lr"),
        ("min_lr = 1.0\nlr = 0.1\n", "min_lr"),
        ("patience = 0\n", "patience"),
        ("warmup_fraction = 1.5\n", "warmup_fraction"),
        ("weight_decay = -1.0\n", "weight_decay"),
        ("grad_clip = 0.0\n", "grad_clip"),
        ("[augment]\nzoom = 2.0\n", "zoom"),
        ("[augment]\nrotation = -0.1\n", "rotation"),
        // (every key of [split] is required today: SplitConfig has no serde(default))
        ("[split]\nseed = 1\ntest_fraction = 1.5\nvalidation_fraction = 0.3\n", "test_fraction"),
        ("[tags]\nsource = \"everything\"\n", "everything"),
        ("variant = \"transformer\"\n", "transformer"),
        ("score = \"likes\"\n", "likes"),
        ("backbone = 42\n", "backbone"),
        ("not toml at all [[[\n", "config.toml"),
    ];
    for (i, (body, needle)) in toml_cases.iter().enumerate() {
        let path = toml_file(tmp.path(), &format!("case{i}.config.toml"), body);
        train_fails(&["--config", arg(&path)], needle);
    }
    let flag_cases: &[(&[&str], &str)] = &[
        (&["--epochs", "0"], "epochs"),
        (&["--epochs=-3"], "-3"),
        (&["--image-size", "0"], "image_size"),
        (&["--batch-size", "0"], "batch_size"),
        (&["--lr", "0"], "lr"),
        (&["--lr=-1"], "lr"),
        (&["--backbone", "resnet9000"], "resnet9000"),
        (&["--backbone", "custom:/nonexistent/net.json"], "/nonexistent/net.json"),
        (&["--score", "bookmark-ratio"], "bookmark-ratio"),
        (&["--device", "tpu"], "tpu"),
        (&["--freeze", "layer9"], "layer9"),
        (&["--config", "/nonexistent/train.toml"], "/nonexistent/train.toml"),
        (&["--weights", "/nonexistent/w.safetensors"], "/nonexistent/w.safetensors"),
        // Weights of another architecture: every mismatch is listed.
        (&["--backbone", "tiny", "--weights", arg(&resnet_basic)], "layer3.0.conv1.weight"),
        (&["--backbone", "resnet18", "--weights", arg(&resnet_basic)], "model [64, 3, 7, 7]"),
        (&["--backbone", "tiny", "--weights", arg(&efficientnet)], "features.0.0.weight"),
    ];
    for (extra, needle) in flag_cases {
        train_fails(extra, needle);
    }
    // No index in the dataset folder: says how to build one.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = cli.run(&["train", "--dataset", arg(&empty), "--out", arg(&tmp.path().join("r"))]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("animescore ingest"), "{}", text(&out.stderr));
    eprintln!(
        "{} config cases + {} flag cases + 1 missing index",
        toml_cases.len(),
        flag_cases.len()
    );
}

#[test]
fn bad_eval_predict_and_scores_arguments_fail_clearly() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("no-run");
    let not_a_run = tmp.path().join("not-a-run");
    std::fs::create_dir_all(&not_a_run).unwrap();
    let broken_run = tmp.path().join("broken-run");
    std::fs::create_dir_all(&broken_run).unwrap();
    for f in ["config.toml", "vocab.json", "scalers.json", "score-distribution.json"] {
        std::fs::copy(fx.run.join(f), broken_run.join(f)).unwrap();
    }
    std::fs::write(broken_run.join("model.bpk"), b"truncated weights").unwrap();
    let image = &images_of(&fx.data)[0];
    let db = index_of(&fx.data);
    let missing_png = tmp.path().join("none.png");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["eval", "--model", arg(&nowhere)], "config.toml"),
        (vec!["eval", "--model", arg(&not_a_run)], "training run directory"),
        (vec!["eval", "--model", arg(&fx.run), "--split", "everything"], "everything"),
        (vec!["eval", "--model", arg(&fx.run), "--device", "tpu"], "tpu"),
        (vec!["eval", "--model", arg(&broken_run)], "model.bpk"),
        (vec!["predict", "--model", arg(&nowhere), arg(image)], "config.toml"),
        (vec!["predict", "--model", arg(&broken_run), arg(image)], "model.bpk"),
        (vec!["predict", "--model", arg(&fx.run), arg(&missing_png)], "none.png"),
        (vec!["predict", "--model", arg(&fx.run), arg(&not_a_run)], "no PNG or JPEG"),
        (
            vec!["predict", "--model", arg(&fx.run), "--metadata", arg(&nowhere), arg(image)],
            "no-run",
        ),
        (vec!["scores", "--db", arg(&db), "--alpha", "1.5"], "alpha"),
        (vec!["scores", "--db", arg(&db), "--alpha=-0.5"], "alpha"),
        (
            vec![
                "experiments",
                "--grid",
                arg(&nowhere),
                "--dataset",
                arg(&fx.data),
                "--out",
                arg(&nowhere),
            ],
            "no-run",
        ),
    ];
    for (args, needle) in &cases {
        let out = cli.run(args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {}", text(&out.stdout));
        assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: message does not name `{needle}`: {stderr}");
    }
    eprintln!("{} cases", cases.len());
}

/// Holds the write lock of `db` for `hold` while `animescore ingest data --db db` runs;
/// returns the ingest's output and how long it took from its start.
fn ingest_while_locked(data: &Path, db: &Path, hold: Duration) -> (Output, Duration) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let child = Cli::new(env!("CARGO_BIN_EXE_animescore"))
        .command(&["ingest", arg(data), "--db", arg(db)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(hold);
    conn.execute_batch("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    (out, started.elapsed())
}

fn rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT COUNT(*) FROM illusts", [], |r| r.get(0)).unwrap()
}

#[test]
fn ingest_waits_for_a_locked_index() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), DatasetSpec::new(30, 8, 16));
    let db = tmp.path().join("index.sqlite3");
    Cli::new(env!("CARGO_BIN_EXE_animescore")).ok(&["ingest", arg(&data), "--db", arg(&db)]);
    // Half the rows go missing, so the next ingest has to write.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM illusts WHERE rowid % 2 = 0")
        .unwrap();
    assert_eq!(rows(&db), 15);

    // Another process holds the write lock for 2 s: ingest waits, then finishes the job.
    let (out, waited) = ingest_while_locked(&data, &db, Duration::from_secs(2));
    assert!(out.status.success(), "after {waited:?}: {}", text(&out.stderr));
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert_eq!(rows(&db), 30);
    eprintln!("ingest waited for the lock and finished after {waited:?}");
}
