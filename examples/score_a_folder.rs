//! Score every image of a folder with a trained run and print them best first.
//!
//!     cargo run --release -p animescore-examples --example score_a_folder -- RUN_DIR IMAGE_DIR
//!
//! (`RUN_DIR` as written by `animescore train` or `animescore quickstart`, e.g. `quickstart/run`.)

use std::path::PathBuf;

use animescore::inference::{Predictor, collect_images};
use animescore::run::DeviceSpec;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [run, images] = args.as_slice() else {
        eprintln!("usage: score_a_folder RUN_DIR IMAGE_DIR");
        std::process::exit(2);
    };
    let predictor = Predictor::load(run, DeviceSpec::Flex)?;
    let paths = collect_images(std::slice::from_ref(images))?;
    let report = predictor.predict(&paths)?;
    for (path, why) in &report.failed {
        eprintln!("skipped {}: {why}", path.display());
    }
    let mut predictions = report.predictions;
    predictions.sort_by(|a, b| b.score.total_cmp(&a.score));
    for p in predictions.iter().take(20) {
        // Predictions always carry these; rows read from other files may not.
        let (percentile, ai) =
            (p.percentile.unwrap_or(f64::NAN), p.ai_probability.unwrap_or(f64::NAN));
        let tier = p.tier.map_or("", |t| t.name());
        println!("{:>6.2}  {percentile:>5.1}%  {tier:<12} AI {ai:.2}  {}", p.score, p.filename);
    }
    Ok(())
}
