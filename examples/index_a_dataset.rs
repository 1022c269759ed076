//! Index a gallery-dl folder and read it back: synthesise a small dataset, ingest it, then
//! count artworks per split and build a tag vocabulary.
//!
//!     cargo run -p animescore-examples --example index_a_dataset [DATASET_DIR]

use animescore::dataset::{
    Database, IngestOptions, NoProgress, SplitConfig, SynthOptions, TagVocabulary, ingest,
    synthesize,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let root = match std::env::args().nth(1) {
        Some(dir) => dir.into(),
        None => {
            let dir = tmp.path().join("dataset");
            synthesize(&dir, &SynthOptions { count: 200, seed: 1, size: 32 })?;
            dir
        }
    };
    let opts = IngestOptions::new(&root);
    let report = ingest(&opts, &NoProgress)?;
    println!("{} added, {} skipped", report.added, report.skipped());
    for p in &report.problems {
        println!("  skipped {}: {}", p.path.display(), p.reason);
    }

    let records = Database::open_read_only(&opts.db_path())?.records()?;
    let splits = SplitConfig::default();
    let mut counts = std::collections::BTreeMap::new();
    for r in &records {
        if let Some(id) = r.artwork_id() {
            *counts.entry(splits.assign(id).name()).or_insert(0) += 1;
        }
    }
    println!("rows per split: {counts:?}");
    let vocab = TagVocabulary::top_k(&records, 5, 1);
    println!("top tags: {:?}", vocab.tags);
    Ok(())
}
