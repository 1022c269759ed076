//! Train from a TOML config file, as `animescore train --config FILE` does.
//!
//!     cargo run --release -p animescore-examples --example train_from_config -- CONFIG.toml DATASET_DIR RUN_DIR
//!
//! Without arguments it writes a small config and a synthetic dataset to a temporary folder.

use std::path::PathBuf;

use animescore::dataset::{IngestOptions, NoProgress, SynthOptions, ingest, synthesize};
use animescore::run::TrainConfig;
use animescore::training::{NoTrainProgress, TrainOptions, train};

const EXAMPLE_CONFIG: &str = r#"
backbone = "tiny"
variant = "meta-embed"
embedding = "ai-sanity"
score = "time-decay"
image_size = 48
epochs = 5
batch_size = 32
lr = 2e-3

[augment]
flip = true
zoom = 0.1
rotation = 0.05
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let (config_path, dataset, out) = match args.as_slice() {
        [c, d, o] => (c.clone(), d.clone(), o.clone()),
        _ => {
            let config = tmp.path().join("train.toml");
            std::fs::write(&config, EXAMPLE_CONFIG)?;
            let dataset = tmp.path().join("dataset");
            synthesize(&dataset, &SynthOptions { count: 200, seed: 7, size: 48 })?;
            ingest(&IngestOptions::new(&dataset), &NoProgress)?;
            (config, dataset, tmp.path().join("run"))
        }
    };
    let config = TrainConfig::from_file(&config_path)?;
    println!("config: {config:#?}");
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
    println!("run written to {}", report.run.display());
    println!("validation: {:?}", report.summary.validation);
    Ok(())
}
