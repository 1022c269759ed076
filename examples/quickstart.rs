//! The whole chain through the library API (what `animescore quickstart` does through the CLI):
//! synthesise a dataset, index it, train the `attention` variant on the `tiny` backbone on the
//! CPU, and read the held-out metrics.
//!
//!     cargo run --release -p animescore-examples --example quickstart

use animescore::dataset::{IngestOptions, NoProgress, SynthOptions, ingest, synthesize};
use animescore::heads::Variant;
use animescore::run::TrainConfig;
use animescore::training::{NoTrainProgress, TrainOptions, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    let dataset = work.path().join("dataset");
    let synth = synthesize(&dataset, &SynthOptions { count: 600, seed: 42, size: 64 })?;

    let mut ingest_opts = IngestOptions::new(&dataset);
    ingest_opts.characters = Some(synth.aliases);
    let report = ingest(&ingest_opts, &NoProgress)?;
    println!("indexed {} images", report.total_rows);

    let config = TrainConfig {
        backbone: "tiny".into(),
        variant: Variant::Attention,
        image_size: Some(64),
        // Batch size and learning rate: the recipe for a tiny backbone from scratch.
        epochs: Some(30),
        ..TrainConfig::default()
    };
    let out = work.path().join("run");
    let report = train(
        &TrainOptions {
            dataset,
            out,
            config,
            resume: false,
            overwrite: false,
            cache: Default::default(),
        },
        &NoTrainProgress,
    )?;
    let s = &report.summary;
    println!("{} epochs (best {}), {} parameters", s.epochs, s.best_epoch, s.parameters);
    if let Some(test) = &s.test {
        println!(
            "test: SRCC {:?}  PLCC {:?}  MAE {:?} on {} images",
            test.srcc, test.plcc, test.mae, test.n
        );
    }
    Ok(())
}
