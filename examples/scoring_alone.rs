//! Use the scoring crate on its own: fit the weighted-log score on "training" counts, save the
//! fitted scorer, and apply it to new artworks.
//!
//!     cargo run -p animescore-examples --example scoring_alone

use animescore::scoring::{Counts, ScoreMethod, Scorer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // (bookmarks, views) of the training split.
    let train: Vec<Counts> = [(12.0, 340.0), (1500.0, 21000.0), (0.0, 15.0), (230.0, 4100.0)]
        .into_iter()
        .map(|(b, v)| Counts::new(b, v))
        .collect();
    let scorer = Scorer::fit(ScoreMethod::WeightedLog { alpha: 0.7 }, &train)?;
    let saved = scorer.to_json()?; // keep this next to your model
    let scorer = Scorer::from_json(&saved)?;

    for (b, v) in [(50.0, 900.0), (5000.0, 40000.0), (0.0, 3.0)] {
        let score = scorer.score(&Counts::new(b, v))?;
        println!(
            "{b:>6} bookmarks, {v:>6} views -> score {score:6.2} (1..100, clamped to the training range)"
        );
    }
    Ok(())
}
