//! The committed corpus of odd and broken metadata files (`tests/data/metadata/`): `ok_*`
//! files must parse, `bad_*` files must be an error that names the file — never a panic.

use std::path::{Path, PathBuf};

use animescore_dataset::{DatasetError, PixivMetadata};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/metadata");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_has_its_expected_outcome() {
    let files = corpus();
    assert!(files.len() >= 20, "corpus missing: {files:?}");
    let (mut ok, mut bad) = (0, 0);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let result = PixivMetadata::parse(&path, &std::fs::read(&path).unwrap());
        if name.starts_with("ok_") {
            let m = result.unwrap_or_else(|e| panic!("{name} must parse: {e}"));
            assert!(m.id.is_some(), "{name}");
            ok += 1;
        } else {
            assert!(name.starts_with("bad_"), "{name}: name it ok_* or bad_*");
            let err = result.expect_err(&name);
            assert!(err.to_string().contains(&name), "{name}: {err}");
            assert!(
                matches!(err, DatasetError::Json { .. } | DatasetError::Field { .. }),
                "{name}"
            );
            bad += 1;
        }
    }
    eprintln!("{ok} parsed, {bad} refused");
}
