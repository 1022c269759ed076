//! `animescore explain` end to end on a 1-epoch `attention` run: every method writes an
//! overlay, a greyscale map at each input's own size (a wide image included) and
//! `explanations.csv` with the method, why it ran, the map's state and metadata shares;
//! unreadable images are skipped, not fatal. The run's `tiny` backbone at 32 px has a 1×1
//! feature grid: `auto` takes occlusion, and Grad-CAM and rollout warn once. `--metadata`
//! feeds the index's known metadata. The output folder is never an input folder, and what
//! explain did not write there (the user's files, a link, a FIFO) is never replaced, written
//! through or opened (issue 23).

use std::time::Duration;

use animescore_testkit::{
    Cli, DatasetSpec, Snapshot, arg, images_of, index_of, synthetic_dataset, text,
};

#[test]
fn explain_writes_maps_and_csv_for_every_method() {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let dir = tempfile::tempdir().unwrap();
    // As `animescore synth` and `animescore ingest` (without `--character-aliases`) write it.
    let data = synthetic_dataset(dir.path(), DatasetSpec::new(40, 3, 32).without_aliases());
    let run = dir.path().join("run");
    let settings = "--image-size 32 --batch-size 16 --variant attention --embedding ai-sanity";
    cli.train_one_epoch(&data, &run, settings);

    let inputs = dir.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let wide =
        image::RgbImage::from_fn(48, 20, |x, y| image::Rgb([(x * 5) as u8, (y * 9) as u8, 90]));
    wide.save(inputs.join("wide.png")).unwrap();
    std::fs::write(inputs.join("broken.png"), b"not a png").unwrap();

    for method in ["auto", "attention", "gradcam", "occlusion"] {
        let out_dir = dir.path().join(format!("explained-{method}"));
        let out = cli.run(&[
            "explain",
            "--model",
            arg(&run),
            "--out",
            arg(&out_dir),
            "--method",
            method,
            arg(&inputs),
        ]);
        let stderr = text(&out.stderr);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{method}: {stderr}");
        assert!(stderr.contains("broken.png"), "{method}: {stderr}");
        // The coarse-grid warning: once, naming the grid, for the grid methods only.
        let warnings = stderr.matches("feature grid, which is only 1x1").count();
        let on_grid = matches!(method, "attention" | "gradcam");
        assert_eq!(warnings, usize::from(on_grid), "{method}: {stderr}");
        let csv = std::fs::read_to_string(out_dir.join("explanations.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "path,score,tier,method,method_reason,map,metadata,image_share,ai_share,sanity_share,\
             tags_share"
        );
        assert_eq!(lines.len(), 2, "{csv}");
        let fields: Vec<&str> = lines[1].split(',').collect();
        let expected = if method == "auto" { "occlusion" } else { method };
        assert_eq!(fields[3], expected);
        let reason = match method {
            "auto" => "auto: the 1x1 feature grid is coarser than 6x6",
            "occlusion" => "asked",
            _ => "asked; the 1x1 feature grid is coarser than 6x6",
        };
        assert_eq!(fields[4], reason, "{csv}");
        assert!(stdout.contains(&format!("with {expected} ({reason})")), "{stdout}");
        assert_eq!(fields[6], "predicted");
        let shares: Vec<f64> = fields[7..10].iter().map(|v| v.parse().unwrap()).collect();
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-3, "{csv}");
        assert_eq!(fields[10], "", "the run embeds no tags");
        let overlay = image::open(out_dir.join("wide.png")).unwrap();
        assert_eq!(overlay.width() * 20, overlay.height() * 48, "{method}: overlay aspect");
        // A 1×1 grid gives a constant map: flagged, and no black heatmap.png.
        let heatmap = out_dir.join("wide.heatmap.png");
        if on_grid {
            assert!(["flat", "all-zero"].contains(&fields[5]), "{method}: {csv}");
            assert!(!heatmap.exists(), "{method}: a map with nothing to show was written");
            assert!(stderr.contains("wide.png: the") && stdout.contains("1 with an empty map"));
        } else {
            assert_eq!(fields[5], "ok", "{method}: {csv}");
            let heat = image::open(&heatmap).unwrap();
            assert_eq!((heat.width(), heat.height()), (48, 20), "{method}");
            assert!(matches!(heat, image::DynamicImage::ImageLuma8(_)), "{method}: not 8-bit");
        }
    }

    // Known metadata from the dataset's index, for one of its images.
    let image = &images_of(&data)[0];
    let out_dir = dir.path().join("explained-known");
    let stdout = cli.ok(&[
        "explain",
        "--model",
        arg(&run),
        "--out",
        arg(&out_dir),
        "--method",
        "occlusion",
        "--metadata",
        arg(&index_of(&data)),
        arg(image),
    ]);
    assert!(stdout.contains("1 with metadata from the index"), "{stdout}");
    let csv = std::fs::read_to_string(out_dir.join("explanations.csv")).unwrap();
    let fields: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(fields[6], "index", "{csv}");
    let stderr = cli.fails(&[
        "explain",
        "--model",
        arg(&run),
        "--out",
        arg(&dir.path().join("x")),
        "--method",
        "saliency",
        arg(&inputs),
    ]);
    assert!(stderr.contains("saliency"));

    #[cfg(unix)]
    output_folder_keeps_what_explain_did_not_write(&cli, &run, &inputs);
}

#[cfg(unix)]
fn output_folder_keeps_what_explain_did_not_write(
    cli: &Cli,
    run: &std::path::Path,
    inputs: &std::path::Path,
) {
    let inputs_before = Snapshot::of(inputs);
    let stderr = cli.fails(&["explain", "--model", arg(run), "--out", arg(inputs), arg(inputs)]);
    assert!(stderr.contains("the input folder"), "{stderr}");
    let inside = inputs.join("maps");
    let stderr = cli.fails(&["explain", "--model", arg(run), "--out", arg(&inside), arg(inputs)]);
    assert!(stderr.contains("the input folder"), "{stderr}");
    assert_eq!(inputs_before.changes(&Snapshot::of(inputs)), Vec::<String>::new());

    let root = inputs.parent().unwrap();
    let mine = root.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("wide.png"), b"my own picture").unwrap();
    std::fs::write(mine.join("explanations.csv"), b"my own table\n").unwrap();
    let outside = root.join("outside.png");
    std::fs::write(&outside, b"not to be written through").unwrap();
    std::os::unix::fs::symlink(&outside, mine.join("wide-2.png")).unwrap();
    let fifo = mine.join("wide-3.heatmap.png");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let before = Snapshot::of(&mine);
    let args = ["explain", "--model", arg(run), "--out", arg(&mine), arg(inputs)];
    let out = cli.run_within(&args, Duration::from_secs(300));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("wrote wide-4.png instead"), "{stderr}");
    assert!(stderr.contains("wrote explanations-2.csv instead"), "{stderr}");
    let after = Snapshot::of(&mine);
    let mut changes = before.changes(&after);
    changes.sort();
    assert_eq!(
        changes,
        [
            "added .animescore-outputs",
            "added explanations-2.csv",
            "added wide-4.heatmap.png",
            "added wide-4.png"
        ],
    );
    assert_eq!(std::fs::read(&outside).unwrap(), b"not to be written through");
    // A second run replaces its own files (same bytes), and still none of the user's.
    let out = cli.run_within(&args, Duration::from_secs(300));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = Snapshot::of(&mine);
    assert_eq!(again.0.keys().collect::<Vec<_>>(), after.0.keys().collect::<Vec<_>>());
    assert_eq!(again.0[std::path::Path::new("wide.png")], b"my own picture");
}
