//! Issue 23 (classes 3 and 4) through the binary, with a trained model: a cache that cannot be
//! written is read, not failed on; settings files, a run's `config.toml`, grids and score files
//! that are links to `/dev/zero` or FIFOs fail at once; a model too large for the machine is
//! refused with its numbers before anything is written; `[heads] head_hidden = 0` is one linear
//! layer; every size flag has an upper bound; `explain` on a huge image stays within bounded
//! memory. Each test fails on the code before the fix.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use animescore_testkit::{Cli, DatasetSpec, RunFixture, arg, synthetic_dataset, text};

fn cli() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_animescore"))
}

/// Standard output and standard error, one after the other.
fn all_output(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

/// A 24-image dataset and a 1-epoch `tiny` multitask run on it, shared by the tests.
fn fixture() -> &'static RunFixture {
    static FIXTURE: OnceLock<RunFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        RunFixture::new(DatasetSpec::new(24, 6, 24), |data, run| {
            let settings = "--image-size 16 --batch-size 8 --variant multitask --embedding none";
            cli().train_one_epoch(data, run, settings);
        })
    })
}

/// Runs `args`, which must fail within `seconds` without a panic; returns all its output.
fn fails_fast(args: &[&str], seconds: u64) -> String {
    let started = Instant::now();
    let mut child = cli()
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(seconds) {
            let _ = child.kill();
            panic!("{args:?} still running after {seconds} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let all = all_output(&out);
    assert!(!out.status.success(), "{args:?} succeeded:\n{all}");
    assert!(out.status.code().is_some_and(|c| c <= 2), "{args:?} crashed:\n{all}");
    assert!(!all.contains("panicked"), "{args:?}:\n{all}");
    all
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "{path:?}");
}

/// Every file under `dir` (links not followed) with its bytes, in path order.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn settings_run_and_score_files_that_are_devices_or_fifos_fail_at_once() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let zero = tmp.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = tmp.path().join("fifo.toml");
    mkfifo(&fifo);
    let big = tmp.path().join("big.toml");
    std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
    let out = tmp.path().join("never");
    for (config, needle) in
        [(&zero, "not a regular file"), (&fifo, "not a regular file"), (&big, "limit")]
    {
        let args =
            ["train", "--dataset", arg(&fx.data), "--out", arg(&out), "--config", arg(config)];
        let all = fails_fast(&args, 20);
        assert!(all.contains(needle) && all.contains(arg(config)), "{all}");
        let all = fails_fast(
            &["experiments", "--grid", arg(config), "--dataset", arg(&fx.data), "--out", arg(&out)],
            20,
        );
        assert!(all.contains(needle), "{all}");
        assert!(!out.exists(), "nothing is written");
    }
    // A run whose config.toml is a link to /dev/zero, then a FIFO.
    let run = copy_run(&fx.run, &tmp.path().join("run"));
    for replace in
        [|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap(), |p: &Path| mkfifo(p)]
    {
        let config = run.join("config.toml");
        std::fs::remove_file(&config).unwrap();
        replace(&config);
        let all = fails_fast(&["eval", "--model", arg(&run)], 20);
        assert!(all.contains("not a regular file"), "{all}");
        let image = animescore_testkit::images_of(&fx.data)[0].clone();
        let all = fails_fast(&["predict", "--model", arg(&run), arg(&image)], 20);
        assert!(all.contains("not a regular file"), "{all}");
    }
    // Score files: gallery and curate.
    for scores in [tmp.path().join("z.csv"), tmp.path().join("f.csv")] {
        if scores.ends_with("z.csv") {
            std::os::unix::fs::symlink("/dev/zero", &scores).unwrap();
        } else {
            mkfifo(&scores);
        }
        let page = tmp.path().join("page.html");
        let all = fails_fast(&["gallery", "--scores", arg(&scores), "--out", arg(&page)], 20);
        assert!(all.contains("not a regular file"), "{all}");
        assert!(!page.exists());
        let dest = tmp.path().join("picked");
        let all = fails_fast(&["curate", "--scores", arg(&scores), "--copy-to", arg(&dest)], 20);
        assert!(all.contains("not a regular file"), "{all}");
    }
}

/// A copy of the files of the run directory `from` (not its checkpoint) in `to`.
fn copy_run(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    to.to_path_buf()
}

#[test]
fn a_model_too_large_is_refused_with_its_numbers_before_anything_is_written() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let config = |body: &str| {
        let path = tmp.path().join(format!("c{}.toml", body.len()));
        std::fs::write(&path, body).unwrap();
        path
    };
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--dataset", arg(&fx.data), "--out", arg(&out)];
        // Defaults for the flags a case does not set itself.
        for (flag, value) in [("--backbone", "tiny"), ("--image-size", "16"), ("--epochs", "1")] {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend(extra);
        let all = fails_fast(&args, 60);
        assert!(!out.exists(), "{extra:?}: the run folder was written");
        all
    };
    let wide = config("[heads]\nhead_hidden = 4000000000\n");
    let all = train(&["--config", arg(&wide), "--variant", "multitask"]);
    assert!(all.contains("parameters") && all.contains("limit of 1.00e9"), "{all}");
    let deep =
        config("variant = \"attention\"\n[heads.attention]\nd_model = 1000000\nn_heads = 1\n");
    let all = train(&["--config", arg(&deep)]);
    assert!(all.contains("parameters"), "{all}");
    let net = tmp.path().join("net.json");
    std::fs::write(
        &net,
        r#"{"kind": "resnet", "stem_width": 8, "widths": [100000000], "blocks": [1000000],
            "block": "basic", "zero_init_residual": true, "image_size": 64}"#,
    )
    .unwrap();
    let backbone = format!("custom:{}", net.display());
    let all = train(&["--backbone", &backbone]);
    assert!(all.contains("parameters"), "{all}");
    // Activations: the largest images in the largest batches.
    let all = train(&["--image-size", "4096", "--batch-size", "65536"]);
    assert!(all.contains("GiB") && all.contains("memory"), "{all}");

    // A run's config.toml with huge widths: eval and predict refuse it, no abort.
    let run = copy_run(&fx.run, &tmp.path().join("edited"));
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let edited = text.replacen("head_hidden = 16", "head_hidden = 4000000000", 1);
    assert_ne!(edited, text, "the fixture's config has head_hidden = 16");
    std::fs::write(run.join("config.toml"), edited).unwrap();
    let all = fails_fast(&["eval", "--model", arg(&run)], 30);
    assert!(all.contains("parameters"), "{all}");
    let image = animescore_testkit::images_of(&fx.data)[0].clone();
    let all = fails_fast(&["predict", "--model", arg(&run), arg(&image)], 30);
    assert!(all.contains("parameters"), "{all}");
}

#[test]
fn head_hidden_zero_is_one_linear_layer_and_predictions_vary() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("linear.toml");
    std::fs::write(&config, "[heads]\nhead_hidden = 0\n").unwrap();
    let run = tmp.path().join("linear");
    let settings = format!(
        "--image-size 16 --batch-size 8 --variant multitask --embedding none --lr 0.01 --config {}",
        config.display()
    );
    cli().train_one_epoch(&fx.data, &run, &settings);
    let saved: toml::Value =
        toml::from_str(&std::fs::read_to_string(run.join("config.toml")).unwrap()).unwrap();
    let heads = &saved["model"]["heads"];
    assert_eq!(heads["head_hidden"].as_integer(), Some(0));
    // The other widths are still the tiny backbone's, not the original's 768-wide fusion.
    assert_eq!(heads["attention"]["d_model"].as_integer(), Some(16), "{heads}");
    let csv = cli().ok(&["predict", "--model", arg(&run), arg(&fx.data)]);
    let mut scores: Vec<String> =
        csv.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().to_string()).collect();
    let rows = scores.len();
    scores.sort();
    scores.dedup();
    assert!(rows >= 20 && scores.len() > rows / 2, "constant predictions: {scores:?}");
}

#[test]
fn every_size_flag_has_an_upper_bound() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let image = animescore_testkit::images_of(&fx.data)[0].clone();
    let huge = "18446744073709551615";
    let model = arg(&fx.run);
    let out = tmp.path().join("o");
    let cases: Vec<Vec<&str>> = vec![
        vec!["predict", "--model", model, "--batch-size", huge, arg(&image)],
        vec!["eval", "--model", model, "--batch-size", huge],
        vec!["explain", "--model", model, "--out", arg(&out), "--batch-size", huge, arg(&image)],
        vec!["embed", "--backbone", "tiny", "--batch-size", huge, arg(&image)],
        vec!["ingest", arg(&fx.data), "--batch-size", huge],
        vec!["ingest", arg(&fx.data), "--jobs", huge],
        vec!["synth", arg(&out), "--count", huge],
        vec!["benchmark", "--backbone", "tiny", "--batch-size", huge],
        vec!["benchmark", "--backbone", "tiny", "--steps", huge],
        vec!["benchmark", "--backbone", "tiny", "--image-size", huge],
        vec!["quickstart", "--dir", arg(&out), "--epochs", huge],
        vec!["train", "--dataset", arg(&fx.data), "--out", arg(&out), "--batch-size", huge],
        vec!["train", "--dataset", arg(&fx.data), "--out", arg(&out), "--epochs", huge],
        vec!["train", "--dataset", arg(&fx.data), "--out", arg(&out), "--workers", huge],
    ];
    for args in &cases {
        let all = fails_fast(args, 30);
        assert!(!all.contains("capacity overflow"), "{args:?}: {all}");
        assert!(all.contains("limit") || all.contains("outside"), "{args:?}: {all}");
    }
    assert!(!out.exists());
}

/// Runs `args` with `dir` read-only: a read-only bind mount in a private mount namespace when
/// running as root (root ignores permissions), else the write permissions taken away. `None`
/// when neither can be arranged here.
fn with_read_only(dir: &Path, args: &[&str]) -> Option<Output> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let chmod = |mode: &str| {
            let ok = Command::new("chmod").args(["-R", mode, arg(dir)]).status().unwrap();
            assert!(ok.success());
        };
        chmod("a-w");
        let out = cli().run(args);
        chmod("u+w");
        return Some(out);
    }
    let script = format!(
        "mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}' && exec \"$0\" \"$@\"",
        d = dir.display()
    );
    let probe = Command::new("unshare").args(["-rm", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let mut command = Command::new("unshare");
    command.args(["-rm", "sh", "-c", &script, env!("CARGO_BIN_EXE_animescore")]).args(args);
    Some(command.output().unwrap())
}

#[test]
fn a_cache_that_cannot_be_written_is_read_not_failed_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(24, 8, 24));
    let settings = "--image-size 16 --batch-size 8 --variant multitask --embedding none";
    // Someone else built the cache.
    cli().train_one_epoch(&data, &tmp.path().join("first"), settings);
    let cache = data.join(".database/cache");
    let before = tree(&cache);
    assert!(before.iter().any(|(p, _)| p.ends_with("index.json")), "{before:?}");
    let second = tmp.path().join("second");
    let mut args = vec!["train", "--dataset", arg(&data), "--out", arg(&second)];
    args.extend(["--backbone", "tiny", "--epochs", "1"]);
    args.extend(settings.split_whitespace());
    let Some(out) = with_read_only(&cache, &args) else {
        eprintln!("skipped: no way to make a folder read-only here");
        return;
    };
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(tree(&cache), before, "the read-only cache was written");
    // The same metrics as the run that built the cache.
    let metrics = |run: &Path| {
        let text = std::fs::read_to_string(run.join("summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        summary["validation"]["loss"].as_f64().unwrap()
    };
    assert_eq!(metrics(&second), metrics(&tmp.path().join("first")));
}

#[test]
fn explain_on_a_huge_image_stays_within_bounded_memory() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    // 8000 × 8000 greyscale: 64 MB decoded; the old code held about twenty bytes per pixel
    // (copies of the image, a full-size f32 map and its normalised copy, the overlay).
    std::fs::create_dir(tmp.path().join("in")).unwrap();
    let huge = tmp.path().join("in/huge.png");
    let img = image::GrayImage::from_fn(8000, 8000, |x, y| {
        image::Luma([((x / 64 + y / 64) % 256) as u8])
    });
    img.save(&huge).unwrap();
    drop(img);
    let out = tmp.path().join("explained");
    let args = ["explain", "--model", arg(&fx.run), "--out", arg(&out), arg(&huge), arg(&huge)];
    let (output, peak) = cli().run_measured(&args);
    assert!(output.status.success(), "{}", all_output(&output));
    let heat = image::open(out.join("huge.heatmap.png")).unwrap();
    assert_eq!((heat.width(), heat.height()), (8000, 8000), "the heat map keeps the full size");
    let overlay = image::image_dimensions(out.join("huge.png")).unwrap();
    assert_eq!(overlay, (2048, 2048), "the overlay is drawn at most 2048 px a side");
    eprintln!("explain on two 8000 × 8000 images: peak {peak} MiB");
    assert!(peak < 700, "peak {peak} MiB");
}
