//! A [`Prediction`] as a row of the score file ([`animescore_scorefile`]).

use animescore_scorefile::ScoreRow;

use crate::predict::Prediction;

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

impl From<&Prediction> for ScoreRow {
    fn from(p: &Prediction) -> Self {
        let tags: Vec<String> = p.tags.iter().map(|(t, v)| format!("{t}:{v:.3}")).collect();
        Self {
            path: p.path.to_string_lossy().into_owned(),
            filename: p.filename.clone(),
            score: round(p.score, 2),
            ai_probability: round(p.ai_probability, 4),
            sanity_class: p.sanity_class,
            sanity_level: p.sanity_level,
            top_tags: tags.join(";"),
            percentile: round(p.percentile, 1),
            tier: p.tier.clone(),
        }
    }
}
