//! `animescore cache`: every cache listed with its folder and size, and `clear` removing only
//! what the tool made.

use std::path::Path;

use animescore_backbones::PRETRAINED;
use animescore_testkit::{Cli, arg};

fn cli(home: &Path) -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_animescore"))
        .without_env("ANIMESCORE_KERNEL_CACHE")
        .without_env("ANIMESCORE_WEIGHTS")
        .with_env("XDG_CACHE_HOME", arg(home))
}

fn write(path: &Path, bytes: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, vec![7u8; bytes]).unwrap();
}

#[test]
fn list_shows_each_cache_and_clear_removes_only_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let kernels = home.join("animescore/kernels");
    let weights = home.join("animescore/weights");
    let cache = tmp.path().join("data/.database/cache");
    write(&kernels.join("default.db"), 4096);
    write(&kernels.join("default.db-wal"), 1024);
    write(&kernels.join("notes.txt"), 10);
    let pretrained = PRETRAINED[0].file;
    write(&weights.join(pretrained), 2048);
    write(&weights.join("my-model.pth"), 100);
    write(&cache.join("images-32px-letterbox-0123abcd/seg-1.u8"), 3072);
    write(&cache.join("features-32px-89abcdef/index.json"), 10);
    write(&cache.join("holiday-photos/a.png"), 10);
    let data = tmp.path().join("data");

    let listing = cli(&home).ok(&["cache", "list", "--dataset", arg(&data)]);
    let line = |kind: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("{listing}"))
            .to_string()
    };
    assert!(
        line("kernels").contains(&format!("{}  2 entries, 5.0 KiB", kernels.display())),
        "{listing}"
    );
    assert!(line("weights").contains("1 entry, 2.0 KiB"), "{listing}");
    assert!(line("images").contains("1 entry, 3.0 KiB"), "{listing}");
    assert!(line("features").contains("1 entry, 10 B"), "{listing}");
    let without_dataset = cli(&home).ok(&["cache", "list", "images"]);
    assert!(without_dataset.contains("give --dataset DIR or --cache-dir DIR"), "{without_dataset}");

    let dry = cli(&home).ok(&["cache", "clear", "kernels", "--dry-run"]);
    assert!(dry.contains("would remove 2 entries"), "{dry}");
    assert!(kernels.join("default.db").is_file(), "a dry run removes nothing");
    for kind in ["kernels", "weights", "images", "features"] {
        cli(&home).ok(&["cache", "clear", kind, "--dataset", arg(&data)]);
    }
    assert!(!kernels.join("default.db").exists() && !kernels.join("default.db-wal").exists());
    assert!(
        !weights.join(pretrained).exists()
            && !cache.join("images-32px-letterbox-0123abcd").exists()
    );
    assert!(!cache.join("features-32px-89abcdef").exists());
    // What the tool did not make stays, byte for byte.
    assert_eq!(std::fs::read(kernels.join("notes.txt")).unwrap(), vec![7u8; 10]);
    assert_eq!(std::fs::read(weights.join("my-model.pth")).unwrap(), vec![7u8; 100]);
    assert_eq!(std::fs::read(cache.join("holiday-photos/a.png")).unwrap(), vec![7u8; 10]);
    let err = cli(&home).fails(&["cache", "clear"]);
    assert!(err.contains("say which cache to clear"), "{err}");
}
