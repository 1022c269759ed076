//! Crash safety of training: `animescore train` is SIGKILLed at random moments (seeded) and
//! resumed with `--resume` until it finishes. After every kill the run directory holds either
//! no checkpoint or a complete one (state, weights and optimiser state all load); the finished
//! run has the same number of epochs as an uninterrupted one and every artifact.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use animescore_run::{RunDir, RunSummary};
use animescore_testkit::{Cli, DatasetSpec, arg, synthetic_dataset, text};
use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::Device;
use rand::{Rng, SeedableRng};

const EPOCHS: usize = 12;

fn train_cmd(data: &Path, out: &Path, config: &Path) -> Command {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    cli.command(&[
        "train",
        "--dataset",
        arg(data),
        "--out",
        arg(out),
        "--config",
        arg(config),
        "--resume",
    ])
}

/// The run directory holds no checkpoint, or one whose every file loads. Returns its epoch.
fn check_checkpoint(out: &Path) -> Option<usize> {
    let run = RunDir::new(out);
    let state_path = run.checkpoint_state();
    if !state_path.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&state_path).unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("state.json: {e}: {text}"));
    let epoch = state["epoch"].as_u64().expect("state.epoch") as usize;
    assert!((1..=EPOCHS).contains(&epoch), "epoch {epoch}");
    assert_eq!(state["history"].as_array().map(Vec::len), Some(epoch), "history of {epoch}");
    let config = run.read_config().expect("config.toml of a checkpointed run");
    run.read_scorer().expect("scalers.json");
    run.read_vocab().expect("vocab.json");
    run.read_distribution().expect("score-distribution.json");
    let device = Device::flex();
    let model = config.model.init(&device).unwrap();
    let weights = run.checkpoint_model(epoch);
    let model =
        model.try_load_file(&weights).unwrap_or_else(|e| panic!("{}: {e}", weights.display()));
    let optim = run.checkpoint_optim(epoch);
    if let Err(e) = AdamWConfig::new().init().load(&optim) {
        panic!("{}: {e}", optim.display());
    }
    // The best weights exist from the first checkpoint on (epoch 1 always improves).
    model.try_load_file(run.model()).expect("model.bpk of a checkpointed run");
    Some(epoch)
}

#[test]
fn training_killed_at_random_points_resumes_to_the_same_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(40, 21, 32));
    let config = tmp.path().join("train.toml");
    std::fs::write(
        &config,
        format!(
            "backbone = \"tiny\"\nvariant = \"attention\"\nembedding = \"both\"\n\
             image_size = 32\nepochs = {EPOCHS}\nbatch_size = 8\nlr = 0.003\npatience = 100\n"
        ),
    )
    .unwrap();

    // Uninterrupted run: its epoch count and wall time.
    let clean = tmp.path().join("clean");
    let started = Instant::now();
    let out = train_cmd(&data, &clean, &config).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let clean_ms = started.elapsed().as_millis() as u64;
    let clean_summary: RunSummary =
        serde_json::from_slice(&std::fs::read(RunDir::new(&clean).summary()).unwrap()).unwrap();
    assert_eq!(clean_summary.epochs, EPOCHS);

    let killed = tmp.path().join("killed");
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let mut epochs_after_kill: Vec<Option<usize>> = Vec::new();
    let mut kills = 0;
    for session in 0..16 {
        let log = tmp.path().join(format!("session-{session}.log"));
        let mut child = train_cmd(&data, &killed, &config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Within the start-up and the first few epochs of each session, so that most
        // sessions are killed (a resumed session has only the remaining epochs to do).
        // The first session is killed during start-up, before any checkpoint.
        let delay = if session == 0 { 5 } else { rng.random_range(0..(clean_ms / 4).max(20)) };
        std::thread::sleep(Duration::from_millis(delay));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if finished {
            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(status.success(), "a resumed run failed on its own: {stderr}");
            break;
        }
        kills += 1;
        epochs_after_kill.push(check_checkpoint(&killed));
    }
    assert!(kills >= 4, "only {kills} kills landed before the run finished");
    let out = train_cmd(&data, &killed, &config).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!(
        "clean run {clean_ms} ms; {kills} kills, checkpoint epoch after each: \
         {epochs_after_kill:?}"
    );

    let run = RunDir::new(&killed);
    let summary = run.read_summary().unwrap();
    assert_eq!(summary.epochs, clean_summary.epochs);
    assert_eq!(summary.stopped_early, clean_summary.stopped_early);
    assert_eq!(check_checkpoint(&killed), Some(EPOCHS));
    let files: Vec<PathBuf> = vec![
        run.config(),
        run.model(),
        run.scalers(),
        run.vocab(),
        run.distribution(),
        run.metrics(),
        run.curves(),
        run.summary(),
        run.model_card(),
        run.calibration(),
    ];
    for f in &files {
        assert!(f.is_file(), "missing {}", f.display());
    }
    // One metrics row per epoch and split, epochs 1..=EPOCHS exactly once each.
    let csv = std::fs::read_to_string(run.metrics()).unwrap();
    let epochs: Vec<usize> = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("train"))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(epochs, (1..=EPOCHS).collect::<Vec<_>>(), "{csv}");
    // The checkpoint folder holds the last epoch only; stale and half-written files are gone.
    let mut names: Vec<String> = std::fs::read_dir(run.checkpoint_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected =
        [format!("model-{EPOCHS}.bpk"), format!("optim-{EPOCHS}.bpk"), "state.json".into()];
    assert_eq!(names, expected);
    let leftovers: Vec<String> = std::fs::read_dir(&killed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    eprintln!("temporary files left in the run directory by killed runs: {leftovers:?}");
}
