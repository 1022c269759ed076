//! Streaming `predict` and `curate` end to end: score file formats and columns, shards that
//! cover every image once, `--resume` after a truncated write, output safety (stdout,
//! /dev/full, /dev/null, a FIFO, an output that is an input or a model file, nothing
//! readable), calibrated tiers, and curation (selection, copy / move / link by tier with the
//! metadata JSON, never overwriting, manifest and undo, captions).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use animescore_testkit::{Cli, DatasetSpec, RunFixture, arg, text};

const HEADER: &str =
    "path,filename,score,ai_probability,sanity_class,sanity_level,top_tags,percentile,tier";

/// A 36-image synthetic dataset (images + gallery-dl metadata JSON) and a 1-epoch `tiny` run.
fn fixture() -> &'static RunFixture {
    static FIXTURE: OnceLock<RunFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        RunFixture::new(DatasetSpec::new(36, 9, 24), |data, run| {
            let settings = "--image-size 24 --batch-size 8 --variant multitask --embedding none";
            Cli::new(env!("CARGO_BIN_EXE_animescore")).train_one_epoch(data, run, settings);
        })
    })
}

/// A copy of the fixture's images (and their metadata JSON) in a fresh folder.
fn inbox(tmp: &Path) -> PathBuf {
    let inbox = tmp.join("inbox");
    copy_tree(&fixture().data, &inbox);
    inbox
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().map(|e| e.unwrap().path()) {
        let name = e.file_name().unwrap();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if e.is_dir() {
            copy_tree(&e, &to.join(name));
        } else {
            std::fs::copy(&e, to.join(name)).unwrap();
        }
    }
}

/// The arguments of `predict` with the fixture's run, followed by `extra`.
fn predict<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["predict", "--model", arg(&fixture().run)];
    args.extend_from_slice(extra);
    args
}

fn data_lines(csv: &str) -> Vec<String> {
    csv.lines().skip(1).map(String::from).collect()
}

#[test]
fn formats_shards_and_resume() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let inbox = inbox(tmp.path());
    let run = &fixture().run;

    // Calibration from the validation predictions, with the default cut-offs.
    let calibration: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("calibration.json")).unwrap())
            .unwrap();
    assert!(calibration["count"].as_u64().unwrap() > 0, "{calibration}");
    assert_eq!(calibration["tiers"], serde_json::json!([10.0, 25.0, 50.0, 75.0, 90.0, 97.0]));

    // CSV on stdout, every image once, in path order, with the contract's columns.
    let stdout = cli.ok(&predict(&["--batch-size", "5", arg(&inbox)]));
    assert!(stdout.starts_with(&format!("{HEADER}\n")), "{stdout}");
    let rows = data_lines(&stdout);
    assert_eq!(rows.len(), 36);
    let paths: Vec<String> =
        rows.iter().map(|r| r.split(',').next().unwrap().to_string()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(paths.iter().all(|p| p.starts_with(arg(&inbox)) && Path::new(p).is_file()));

    // The same rows as JSON lines and as a JSON array.
    let jsonl = tmp.path().join("s.jsonl");
    cli.ok(&predict(&["--out", arg(&jsonl), arg(&inbox)]));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let json = tmp.path().join("s.json");
    cli.ok(&predict(&["--out", arg(&json), "--sort", arg(&inbox)]));
    let array: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!((lines.len(), array.len()), (36, 36));
    let keys: Vec<&str> = lines[0].as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = HEADER.split(',').collect();
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    let scores: Vec<f64> = array.iter().map(|v| v["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "--sort: best first {scores:?}");

    // Three shards cover every image exactly once.
    let mut union = Vec::new();
    for k in 1..=3 {
        let part = tmp.path().join(format!("part{k}.csv"));
        cli.ok(&predict(&["--shard", &format!("{k}/3"), "--out", arg(&part), arg(&inbox)]));
        let rows = data_lines(&std::fs::read_to_string(&part).unwrap());
        assert!(!rows.is_empty() && rows.len() < 36, "shard {k}: {}", rows.len());
        union.extend(rows);
    }
    union.sort();
    let mut all = rows.clone();
    all.sort();
    assert_eq!(union, all, "shards concatenate to one row per image");

    // Resume: a file cut in the middle of a row (a kill -9) keeps its complete rows, drops
    // the partial one, and the rest is appended: the same file as a clean run.
    let csv = tmp.path().join("r.csv");
    let full = format!("{HEADER}\n{}\n", rows.join("\n"));
    let cut = full.len() * 2 / 3;
    // A first run writes the file and its model record (`r.csv.model`), then is "killed".
    cli.ok(&predict(&["--out", arg(&csv), arg(&inbox)]));
    std::fs::write(&csv, &full[..cut]).unwrap();
    let out =
        cli.succeeds(&predict(&["--out", arg(&csv), "--resume", "--batch-size", "4", arg(&inbox)]));
    assert!(text(&out.stderr).contains("dropped a truncated last line"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), full);
    // Nothing left to do: the file stays as it is.
    let out = cli.succeeds(&predict(&["--out", arg(&csv), "--resume", arg(&inbox)]));
    assert!(text(&out.stderr).contains("0 images scored"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), full);

    // --tiers overrides the cut-offs: everything at or above percentile 0 is masterpiece.
    let out = cli.ok(&predict(&["--tiers", "0,0,0,0,0,0", arg(&inbox)]));
    assert!(data_lines(&out).iter().all(|r| r.ends_with(",masterpiece")), "{out}");
    let out = cli.run(&predict(&["--tiers", "1,2,3", arg(&inbox)]));
    assert!(!out.status.success() && text(&out.stderr).contains("--tiers"));
}

/// Issue 23: `--resume` never appends one model's scores to another's (the model is recorded
/// in `OUT.model`), a shard that selects no image writes a header-only file (never leaving an
/// older file as its result), and a file name that is not UTF-8 is reported, not mangled.
#[cfg(unix)]
#[test]
fn resume_never_mixes_models_and_an_empty_shard_says_so() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let inbox = inbox(tmp.path());
    let csv = tmp.path().join("s.csv");
    cli.ok(&predict(&["--out", arg(&csv), arg(&inbox)]));
    let record_path = tmp.path().join("s.csv.model");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    let sum = std::fs::read_to_string(fixture().run.join("model.bpk.xxh3")).unwrap();
    assert_eq!(record["weights_xxh3"].as_str(), Some(sum.trim()), "{record}");
    assert_eq!(record["format"], "animescore-model");

    // Another model's file (its record says so), and a file without a record: refused, and
    // both files stay byte for byte.
    let full = std::fs::read(&csv).unwrap();
    let cut = &full[..full.len() / 2];
    std::fs::write(&csv, cut).unwrap();
    let other = serde_json::json!({
        "format": "animescore-model", "weights_xxh3": "0123456789abcdef", "run": "/elsewhere/run"
    });
    std::fs::write(&record_path, other.to_string()).unwrap();
    let record_before = std::fs::read(&record_path).unwrap();
    let err = cli.fails(&predict(&["--out", arg(&csv), "--resume", arg(&inbox)]));
    assert!(err.contains("another model") && err.contains("0123456789abcdef"), "{err}");
    assert_eq!(std::fs::read(&csv).unwrap(), cut);
    assert_eq!(std::fs::read(&record_path).unwrap(), record_before);
    std::fs::remove_file(&record_path).unwrap();
    let err = cli.fails(&predict(&["--out", arg(&csv), "--resume", arg(&inbox)]));
    assert!(err.contains("s.csv.model") && err.contains("refusing"), "{err}");
    assert_eq!(std::fs::read(&csv).unwrap(), cut);
    // A fresh run writes the record again, and then resumes.
    cli.ok(&predict(&["--out", arg(&csv), arg(&inbox)]));
    std::fs::write(&csv, cut).unwrap();
    cli.ok(&predict(&["--out", arg(&csv), "--resume", arg(&inbox)]));
    assert_eq!(std::fs::read(&csv).unwrap(), full);

    // A shard that selects none of one image: a header-only file replaces the older one.
    let single = tmp.path().join("single");
    std::fs::create_dir(&single).unwrap();
    let image = inbox.join(files_under(&inbox).into_iter().find(|f| f.ends_with(".png")).unwrap());
    std::fs::copy(&image, single.join("only.png")).unwrap();
    let empty_shard = (1..=2)
        .map(|k| format!("{k}/2"))
        .find(|s| {
            let out = cli.ok(&predict(&["--shard", s, arg(&single)]));
            data_lines(&out).is_empty()
        })
        .unwrap();
    let part = tmp.path().join("part.csv");
    std::fs::write(&part, "an older, unrelated file\n").unwrap();
    let out = cli.succeeds(&predict(&["--shard", &empty_shard, "--out", arg(&part), arg(&single)]));
    assert!(text(&out.stderr).contains("header only"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&part).unwrap(), format!("{HEADER}\n"));
    assert!(tmp.path().join("part.csv.model").is_file());

    // A name that is not UTF-8: reported with its bytes escaped, no row with a mangled path.
    use std::os::unix::ffi::OsStrExt;
    let odd = single.join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    std::fs::copy(&image, &odd).unwrap();
    let out = cli.run(&predict(&["--out", arg(&part), arg(&single)]));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("caf\\xe9.png") && stderr.contains("not valid UTF-8"), "{stderr}");
    let written = std::fs::read_to_string(&part).unwrap();
    assert_eq!(data_lines(&written).len(), 1, "{written}");
    assert!(!written.contains('\u{fffd}'), "{written}");
}

#[cfg(unix)]
#[test]
fn outputs_are_safe() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let inbox = inbox(tmp.path());
    let image = std::fs::read_dir(
        inbox.join(std::fs::read_dir(&inbox).unwrap().next().unwrap().unwrap().file_name()),
    )
    .unwrap()
    .map(|e| e.unwrap().path())
    .find(|p| p.extension().is_some_and(|e| e == "png" || e == "jpg"))
    .unwrap();
    let before = std::fs::read(&image).unwrap();

    // The output is an input image (through a symbolic link) or a file of the model.
    let link = tmp.path().join("out.csv");
    std::os::unix::fs::symlink(&image, &link).unwrap();
    let out = cli.run(&predict(&["--out", arg(&link), arg(&inbox)]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("same file as the input image"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&image).unwrap(), before);
    let config = fixture().run.join("config.toml");
    let config_before = std::fs::read(&config).unwrap();
    let out = cli.run(&predict(&["--out", arg(&config), arg(&inbox)]));
    assert!(
        text(&out.stderr).contains("same file as a file of the model"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&config).unwrap(), config_before);

    // A full stdout: a clean error, no panic.
    let full = cli
        .command(&predict(&[arg(&inbox)]))
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = text(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device") && !stderr.contains("panicked"), "{stderr}");

    // /dev/null is written through, not replaced.
    cli.ok(&predict(&["--out", "/dev/null", arg(&inbox)]));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());

    // A FIFO is written through.
    let fifo = tmp.path().join("pipe.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    cli.ok(&predict(&["--out", arg(&fifo), arg(&inbox)]));
    let piped = reader.join().unwrap();
    assert_eq!(data_lines(&piped).len(), 36, "{piped}");

    // Nothing readable: exit 1, an earlier output untouched.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("broken.png"), b"not a png").unwrap();
    let csv = tmp.path().join("good.csv");
    std::fs::write(&csv, "an earlier good file\n").unwrap();
    let out = cli.run(&predict(&["--out", arg(&csv), arg(&bad)]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "an earlier good file\n");
    let json = tmp.path().join("good.json");
    std::fs::write(&json, "[]\n").unwrap();
    let out = cli.run(&predict(&["--out", arg(&json), arg(&bad)]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "[]\n");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return out;
    }
    for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
        if e.is_dir() {
            for f in files_under(&e) {
                out.insert(format!("{}/{f}", e.file_name().unwrap().to_string_lossy()));
            }
        } else {
            out.insert(e.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn curation_moves_copies_links_and_undoes() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let tmp = tempfile::tempdir().unwrap();
    let inbox = inbox(tmp.path());
    let scores = tmp.path().join("scores.csv");
    cli.ok(&predict(&["--out", arg(&scores), arg(&inbox)]));
    let rows = data_lines(&std::fs::read_to_string(&scores).unwrap());
    let before = files_under(&inbox);

    // Dry run: a plan, nothing changed.
    let best = tmp.path().join("best");
    let out = cli.succeeds(&[
        "curate",
        "--scores",
        arg(&scores),
        "--top",
        "5",
        "--move-to",
        arg(&best),
        "--by-tier",
        "--dry-run",
    ]);
    assert!(text(&out.stderr).matches("would move").count() >= 10, "{}", text(&out.stderr));
    assert!(!best.exists());
    assert_eq!(files_under(&inbox), before);

    // Move the 5 best, by tier, with their metadata JSON; then undo.
    let manifest = tmp.path().join("manifest.csv");
    cli.ok(&[
        "curate",
        "--scores",
        arg(&scores),
        "--top",
        "5",
        "--move-to",
        arg(&best),
        "--by-tier",
        "--manifest",
        arg(&manifest),
    ]);
    let moved = files_under(&best);
    let images: Vec<&String> = moved.iter().filter(|f| !f.ends_with(".json")).collect();
    assert_eq!(images.len(), 5, "{moved:?}");
    for img in &images {
        let (tier, name) = img.split_once('/').unwrap();
        assert!(rows.iter().any(|r| r.ends_with(&format!(",{tier}"))), "{tier}");
        let stem = Path::new(name).file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            moved.iter().any(|f| f.starts_with(&format!("{tier}/{stem}.")) && f.ends_with(".json")),
            "metadata of {img} did not travel: {moved:?}"
        );
    }
    assert_eq!(files_under(&inbox).len() + moved.len(), before.len());
    let log = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        log.starts_with("action,source,destination,status,reason,size,xxh3,device,inode\n"),
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.starts_with("move,") && l.contains(",done,")).count(),
        moved.len()
    );

    // A second move finds its destinations taken: skipped, never overwritten.
    let again = tmp.path().join("manifest2.csv");
    let copy_back: Vec<(PathBuf, PathBuf)> = log
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (PathBuf::from(f[1]), PathBuf::from(f[2]))
        })
        .collect();
    for (src, dst) in &copy_back {
        std::fs::copy(dst, src).unwrap(); // the images are back in the inbox as well
    }
    let out = cli.succeeds(&[
        "curate",
        "--scores",
        arg(&scores),
        "--top",
        "5",
        "--move-to",
        arg(&best),
        "--by-tier",
        "--manifest",
        arg(&again),
    ]);
    assert_eq!(text(&out.stderr).matches("skipped move").count(), 5, "{}", text(&out.stderr));
    assert_eq!(files_under(&best), moved);
    for (src, _) in &copy_back {
        std::fs::remove_file(src).unwrap();
    }

    cli.ok(&["curate", "--undo", arg(&manifest)]);
    assert_eq!(files_under(&inbox), before);
    assert!(files_under(&best).is_empty(), "{:?}", files_under(&best));

    // Copy by threshold and symbolic links by tier: sources stay.
    let copies = tmp.path().join("copies");
    cli.ok(&["curate", "--scores", arg(&scores), "--min-score", "0", "--copy-to", arg(&copies)]);
    assert_eq!(
        files_under(&copies)
            .iter()
            .filter(|f| !f.ends_with(".json") && !f.starts_with("animescore-manifest"))
            .count(),
        36
    );
    let links = tmp.path().join("links");
    cli.ok(&[
        "curate",
        "--scores",
        arg(&scores),
        "--min-tier",
        "worst",
        "--link-to",
        arg(&links),
        "--by-tier",
    ]);
    assert_eq!(files_under(&inbox), before);
    let linked = files_under(&links);
    assert!(linked.iter().any(|f| f.starts_with("animescore-manifest-")), "{linked:?}");
    let first = linked.iter().find(|f| f.contains('/') && !f.ends_with(".json")).unwrap();
    assert!(std::fs::symlink_metadata(links.join(first)).unwrap().file_type().is_symlink());

    // Captions via predict: written once, unchanged the second time.
    let scores2 = tmp.path().join("scores2.csv");
    for round in 0..2 {
        let out =
            cli.succeeds(&predict(&["--out", arg(&scores2), "--caption-ext", ".txt", arg(&inbox)]));
        let expect = if round == 0 {
            "36 captions written, 0 unchanged"
        } else {
            "0 captions written, 36 unchanged"
        };
        assert!(text(&out.stderr).contains(expect), "round {round}: {}", text(&out.stderr));
    }
    let caption_files: Vec<String> =
        files_under(&inbox).into_iter().filter(|f| f.ends_with(".txt")).collect();
    assert_eq!(caption_files.len(), 36);
}
