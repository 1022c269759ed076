//! Issue 23 (hardening, round 3) through the binary, without a trained model: outputs never
//! destroy what the tool did not create (`train --overwrite`, a run folder and its dataset,
//! `gallery --out`), score files, manifests and captions are untrusted input (`curate
//! --by-tier`, `--move-to`, `--undo`, `--caption-ext`), and messages say what happened (file
//! names escaped, shard and grid errors). Every command runs within a time box, and what it
//! must not touch is compared byte for byte before and after. Each test fails on the code
//! before the fix.
#![cfg(unix)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use animescore_fs::ContentDigest;
use animescore_testkit::{
    Cli, DatasetSpec, Snapshot, arg, images_of, synthetic_dataset, synthetic_files, text,
};

/// Six small synthetic images with their gallery-dl metadata (not indexed).
const SMALL: DatasetSpec = DatasetSpec::new(6, 11, 16);

/// The longest any of these commands may take.
const BOX: Duration = Duration::from_secs(60);

const HEADER: &str =
    "path,filename,score,ai_probability,sanity_class,sanity_level,top_tags,percentile,tier";

fn cli() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_animescore"))
}

/// Runs `args` within the time box.
fn run(args: &[&str]) -> Output {
    cli().run_within(args, BOX)
}

fn stderr(out: &Output) -> String {
    text(&out.stderr)
}

/// A score file at `path` with one row per `(image, tier)`, score 87.
fn score_file(path: &Path, rows: &[(&Path, &str)]) -> PathBuf {
    let mut csv = format!("{HEADER}\n");
    for (image, tier) in rows {
        let stem = image.file_stem().unwrap().to_string_lossy();
        csv += &format!("{},{stem},87.0,0.1,0,2,,95.0,{tier}\n", image.display());
    }
    std::fs::write(path, csv).unwrap();
    path.to_path_buf()
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn curate(scores: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["curate", "--scores", arg(scores)];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn by_tier_folders_come_only_from_calibrated_tiers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), SMALL);
    let images = images_of(&data);
    let planted = tmp.path().join("planted");
    let scores = score_file(
        &tmp.path().join("s.csv"),
        &[
            (&images[0], "great"),
            (&images[1], "../x"),
            (&images[2], planted.to_str().unwrap()),
            (&images[3], "Best"),
        ],
    );
    let before = Snapshot::of(tmp.path());
    let dest = tmp.path().join("dest");
    let out = curate(&scores, &["--copy-to", arg(&dest), "--by-tier"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("is not a tier").count(), 2, "{err}");
    assert!(err.contains("`../x` is not a tier"), "{err}");
    // Nothing anywhere but inside the destination, and the two real tiers are there.
    let after = Snapshot::of(tmp.path());
    let outside: Vec<String> =
        before.changes(&after).into_iter().filter(|c| !c.starts_with("added dest")).collect();
    assert!(outside.is_empty(), "{outside:?}");
    assert!(!planted.exists() && !tmp.path().join("x").exists());
    for (image, tier) in [(&images[0], "great"), (&images[3], "best")] {
        let copy = dest.join(tier).join(image.file_name().unwrap());
        assert_eq!(std::fs::read(copy).unwrap(), std::fs::read(image).unwrap());
    }
}

#[test]
fn curation_acts_only_on_image_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), SMALL);
    let images = images_of(&data);
    let notes = tmp.path().join("notes.png");
    std::fs::write(&notes, b"my notes, not an image\n").unwrap();
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, b"key\n").unwrap();
    let fifo = tmp.path().join("pipe.png");
    mkfifo(&fifo);
    let scores = score_file(
        &tmp.path().join("s.csv"),
        &[(&images[0], "good"), (&notes, "good"), (&secret, "good"), (&fifo, "good")],
    );
    let dest = tmp.path().join("dest");
    let before = Snapshot::of(tmp.path());
    let out = curate(&scores, &["--move-to", arg(&dest)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("is not an image").count(), 2, "{err}");
    assert!(err.contains("FIFO"), "{err}");
    // The image moved with its metadata; the rest is exactly where and what it was.
    let changes = before.changes(&Snapshot::of(tmp.path()));
    // The image and its metadata JSON (same stem) left their folder, into dest.
    let stem = images[0].with_extension("");
    let moved = stem.strip_prefix(tmp.path()).unwrap().display().to_string();
    for change in &changes {
        let ok =
            change.starts_with("added dest") || change.starts_with(&format!("removed {moved}."));
        assert!(ok, "{changes:?}");
    }
    assert!(dest.join(images[0].file_name().unwrap()).is_file());
    assert!(!dest.join("notes.png").exists() && !dest.join("secret.txt").exists());
}

/// The rows of a manifest after its header.
fn manifest_rows(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect()
}

#[test]
fn undo_reverts_only_what_still_matches_and_never_the_last_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), SMALL);
    let images = images_of(&data);
    let (a, b, c, d) = (&images[0], &images[1], &images[2], &images[3]);
    let copies = tmp.path().join("copies");
    let m1 = tmp.path().join("m1.csv");
    let scores = score_file(&tmp.path().join("s.csv"), &[(a, "good"), (b, "good"), (c, "good")]);
    let out = curate(&scores, &["--copy-to", arg(&copies), "--manifest", arg(&m1)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header = std::fs::read_to_string(&m1).unwrap();
    assert!(header.starts_with("action,source,destination,status,reason,size,xxh3,device,inode\n"));
    let copy = |img: &Path| copies.join(img.file_name().unwrap());
    // The manifest records what it made: size, xxh3, device and inode of each copy.
    let row = manifest_rows(&m1).into_iter().find(|r| r[2] == arg(&copy(c))).unwrap();
    let digest = ContentDigest::of_file(&copy(c)).unwrap();
    let meta = std::fs::metadata(copy(c)).unwrap();
    assert_eq!(
        row[5..],
        [digest.len.to_string(), digest.xxh3_hex(), meta.dev().to_string(), meta.ino().to_string()]
    );

    // The user edits the copy of a and deletes the original of b.
    std::fs::write(copy(a), b"edited by the user").unwrap();
    let b_bytes = std::fs::read(b).unwrap();
    std::fs::remove_file(b).unwrap();
    // A hard link whose source is then deleted is the last name of its data.
    let links = tmp.path().join("links");
    let m2 = tmp.path().join("m2.csv");
    let scores_d = score_file(&tmp.path().join("d.csv"), &[(d, "good")]);
    let out = curate(
        &scores_d,
        &["--link-to", arg(&links), "--link-kind", "hard", "--manifest", arg(&m2)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let d_bytes = std::fs::read(d).unwrap();
    std::fs::remove_file(d).unwrap();
    // A tampered manifest: a done "copy" whose destination is a user's file.
    let victim = tmp.path().join("victim.png");
    std::fs::write(&victim, b"the user's own file").unwrap();
    let m3 = tmp.path().join("m3.csv");
    let vm = std::fs::metadata(&victim).unwrap();
    let vd = ContentDigest::of_file(&victim).unwrap();
    std::fs::write(
        &m3,
        format!(
            "{}{},{},{},done,,{},{},{},{}\n{},{},{},done,,1,0000000000000000,1,1\n",
            header.lines().next().unwrap().to_string() + "\n",
            "copy",
            arg(&tmp.path().join("gone.png")),
            arg(&victim),
            vd.len,
            vd.xxh3_hex(),
            vm.dev(),
            vm.ino(),
            "symlink",
            arg(a),
            arg(&victim),
        ),
    )
    .unwrap();

    let before = Snapshot::of(tmp.path());
    let out = run(&["curate", "--undo", arg(&m1)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("changed since"), "{err}");
    assert!(err.contains("may be the last one"), "{err}");
    assert_eq!(std::fs::read(copy(a)).unwrap(), b"edited by the user");
    assert_eq!(std::fs::read(copy(b)).unwrap(), b_bytes);
    assert!(!copy(c).exists() && c.is_file());
    let changes = before.changes(&Snapshot::of(tmp.path()));
    assert!(changes.iter().all(|ch| ch.starts_with("removed copies/")), "{changes:?}");

    let out = run(&["curate", "--undo", arg(&m2)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("last name of the data"), "{}", stderr(&out));
    assert_eq!(std::fs::read(links.join(d.file_name().unwrap())).unwrap(), d_bytes);

    let out = run(&["curate", "--undo", arg(&m3)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read(&victim).unwrap(), b"the user's own file");
}

#[test]
fn undo_refuses_what_is_not_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    let garbage = tmp.path().join("garbage.csv");
    std::fs::write(&garbage, [0u8, 159, 146, 150, 10, 255, 0, 1]).unwrap();
    let old = tmp.path().join("old.csv");
    std::fs::write(&old, "action,source,destination,status,reason\ncopy,/a,/b,done,\n").unwrap();
    let scores = tmp.path().join("scores.csv");
    std::fs::write(&scores, format!("{HEADER}\n")).unwrap();
    let fifo = tmp.path().join("fifo.csv");
    mkfifo(&fifo);
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let before = Snapshot::of(tmp.path());
    for (input, needle) in [
        (&folder, "folder"),
        (&empty, "empty"),
        (&garbage, "nothing was undone"),
        (&old, "older animescore"),
        (&scores, "expected `action,source"),
        (&fifo, "FIFO"),
    ] {
        let out = run(&["curate", "--undo", arg(input)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{input:?}: {err}");
        assert!(err.contains("not a manifest of `animescore curate`"), "{input:?}: {err}");
        assert!(err.contains(needle), "{input:?}: {err}");
    }
    assert_eq!(before.changes(&Snapshot::of(tmp.path())), Vec::<String>::new());
}

#[test]
fn two_runs_started_together_never_share_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), SMALL);
    let images = images_of(&data);
    let dest = tmp.path().join("dest");
    let first = score_file(&tmp.path().join("1.csv"), &[(&images[0], "good")]);
    let second = score_file(&tmp.path().join("2.csv"), &[(&images[1], "good")]);
    let children: Vec<_> = [&first, &second]
        .map(|s| {
            cli()
                .command(&["curate", "--scores", arg(s), "--copy-to", arg(&dest)])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .into_iter()
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let manifests: Vec<PathBuf> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("animescore-manifest-"))
        .collect();
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    let mut sources: Vec<String> =
        manifests.iter().flat_map(|m| manifest_rows(m)).map(|r| r[1].clone()).collect();
    sources.sort();
    for image in &images[..2] {
        assert!(sources.contains(&arg(image).to_string()), "{sources:?}");
    }
}

#[test]
fn a_killed_undo_that_left_a_partial_source_is_completed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), SMALL);
    let images = images_of(&data);
    let originals: Vec<Vec<u8>> = images.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let dest = tmp.path().join("dest");
    let manifest = tmp.path().join("m.csv");
    let scores =
        score_file(&tmp.path().join("s.csv"), &[(&images[0], "good"), (&images[1], "good")]);
    let out = curate(&scores, &["--move-to", arg(&dest), "--manifest", arg(&manifest)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!images[0].exists() && !images[1].exists());
    // What an undo across file systems killed during its copy leaves at the source: an empty
    // file (the old undo created it before copying) or the first part of the bytes.
    std::fs::write(&images[0], b"").unwrap();
    std::fs::write(&images[1], &originals[1][..originals[1].len() / 2]).unwrap();
    let out = run(&["curate", "--undo", arg(&manifest)]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (image, bytes) in images.iter().zip(&originals).take(2) {
        assert_eq!(&std::fs::read(image).unwrap(), bytes, "{image:?}");
        assert!(!dest.join(image.file_name().unwrap()).exists());
    }
    // A second undo has nothing left to do.
    let out = run(&["curate", "--undo", arg(&manifest)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(" 0 actions reverted"), "{}", stderr(&out));
}

#[test]
fn captions_are_untrusted_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), SMALL);
    let images = images_of(&data);
    let caption = |i: usize| images[i].with_extension("txt");
    let outside = tmp.path().join("outside.txt");
    std::fs::write(&outside, b"someone's notes\n").unwrap();
    std::os::unix::fs::symlink(&outside, caption(0)).unwrap();
    mkfifo(&caption(1));
    // The user's own tier words and score tag, a byte-order mark, one tag per line.
    std::fs::write(caption(2), "\u{feff}score_9, masterpiece, best, 1girl, good, score_40\n")
        .unwrap();
    std::fs::write(caption(3), "masterpiece\nbest\n1girl\n").unwrap();
    let rows: Vec<(&Path, &str)> = images[..4].iter().map(|p| (p.as_path(), "great")).collect();
    let scores = score_file(&tmp.path().join("s.csv"), &rows);

    let metadata_before = Snapshot::of(&data);
    for bad in [".json", "JSON", "a/b", "../x", ".png"] {
        let out = curate(&scores, &["--caption-ext", bad]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(err.contains("--caption-ext") && !err.contains("panicked"), "{bad}: {err}");
    }
    assert_eq!(metadata_before.changes(&Snapshot::of(&data)), Vec::<String>::new());

    for round in 0..2 {
        let out = curate(&scores, &["--caption-ext", ".txt"]);
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("is a link; captions are never written through links"), "{err}");
        assert!(err.contains("is a FIFO"), "{err}");
        let expect = if round == 0 { "2 captions written" } else { "0 captions written" };
        assert!(err.contains(expect), "round {round}: {err}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"someone's notes\n");
        assert!(std::fs::symlink_metadata(caption(0)).unwrap().file_type().is_symlink());
        assert_eq!(
            std::fs::read_to_string(caption(2)).unwrap(),
            "\u{feff}score_9, masterpiece, best, 1girl, great, score_87\n"
        );
        assert_eq!(
            std::fs::read_to_string(caption(3)).unwrap(),
            "masterpiece\nbest\n1girl\ngreat\nscore_87\n"
        );
    }
}

#[test]
fn gallery_never_writes_over_its_score_file_or_an_image() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_files(tmp.path(), SMALL);
    let images = images_of(&data);
    let scores =
        score_file(&tmp.path().join("s.csv"), &[(&images[0], "good"), (&images[1], "best")]);
    let link = tmp.path().join("page.html");
    std::os::unix::fs::symlink(&scores, &link).unwrap();
    let before = Snapshot::of(tmp.path());
    for (out_path, needle) in
        [(&scores, "the score file"), (&link, "the score file"), (&images[1], "an image listed")]
    {
        let out = run(&["gallery", "--scores", arg(&scores), "--out", arg(out_path)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("refusing to write") && err.contains(needle), "{err}");
    }
    assert_eq!(before.changes(&Snapshot::of(tmp.path())), Vec::<String>::new());
    let page = tmp.path().join("gallery.html");
    let out = run(&["gallery", "--scores", arg(&scores), "--out", arg(&page)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Scripts run only by their hash: no inline script is allowed as such.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("script-src 'sha256-") && !html.contains("script-src 'unsafe-inline'"));
}

#[test]
fn train_never_empties_a_folder_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(12, 5, 16).without_aliases());
    std::fs::write(data.join("config.toml"), b"# the user's own config\n").unwrap();
    std::fs::create_dir(data.join("checkpoint")).unwrap();
    let pictures = tmp.path().join("pictures");
    std::fs::create_dir_all(pictures.join("checkpoint")).unwrap();
    std::fs::copy(&images_of(&data)[0], pictures.join("holiday.png")).unwrap();
    std::fs::write(pictures.join("config.toml"), b"[train]\n").unwrap();
    let before = Snapshot::of(tmp.path());
    let train = |out: &Path, extra: &[&str]| {
        let mut args = vec!["train", "--dataset", arg(&data), "--out", arg(out)];
        args.extend(["--backbone", "tiny", "--image-size", "16", "--epochs", "1"]);
        args.extend_from_slice(extra);
        run(&args)
    };
    for (out, extra, needle) in [
        (data.clone(), vec![], "is the dataset folder"),
        (data.clone(), vec!["--overwrite"], "is the dataset folder"),
        (data.join("runs/a"), vec!["--overwrite"], "lies inside the dataset folder"),
        (tmp.path().to_path_buf(), vec!["--overwrite"], "holds the dataset folder"),
        (pictures.clone(), vec![], "was not made by `animescore train`"),
        (pictures.clone(), vec!["--overwrite"], "was not made by `animescore train`"),
    ] {
        let result = train(&out, &extra);
        let err = stderr(&result);
        assert_eq!(result.status.code(), Some(1), "{out:?} {extra:?}: {err}");
        assert!(err.contains(needle), "{out:?} {extra:?}: {err}");
        assert!(!err.contains("--overwrite to"), "suggests a flag that destroys data: {err}");
    }
    let changes = before.changes(&Snapshot::of(tmp.path()));
    // Reading the index may refresh SQLite's side files; nothing else changes.
    assert!(changes.iter().all(|c| c.contains(".database")), "{changes:?}");
}

#[test]
fn messages_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    // Shard errors are about the shard, not a training configuration.
    let out = run(&["predict", "--model", "run", "--shard", "0/3", "x.png"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--shard 0/3") && !err.contains("training configuration"), "{err}");
    // An empty grid is an error.
    let grid = tmp.path().join("grid.toml");
    std::fs::write(&grid, "backbones = []\n").unwrap();
    let out = run(&[
        "experiments",
        "--grid",
        arg(&grid),
        "--dataset",
        "ds",
        "--out",
        arg(&tmp.path().join("o")),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("invalid experiment grid") && err.contains("backbones (0)"), "{err}");
    assert!(!tmp.path().join("o").exists());
    // A file name with a direction override, an escape sequence and a NUL byte (from a score
    // file) reaches the terminal escaped.
    let name = format!("{}/a\u{202e}gnp\u{1b}[2J\0.png", tmp.path().display());
    let scores = tmp.path().join("s.csv");
    std::fs::write(&scores, format!("{HEADER}\n\"{name}\",a,50,,,,,,good\n")).unwrap();
    let out = curate(&scores, &["--copy-to", arg(&tmp.path().join("d"))]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("a\\u{202e}gnp\\u{1b}[2J\\0.png"), "{err}");
    assert!(!err.contains(['\u{202e}', '\u{1b}', '\0']), "{err:?}");
}
