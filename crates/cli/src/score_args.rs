//! The score parameters `scores` and `train` share: `--alpha`, `--lambda`,
//! `--reference-date`.

use animescore_scoring::ScoreMethod;
use chrono::NaiveDateTime;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScoreParams {
    /// Weight of bookmarks against views (weighted-log, time-decay) [default: 0.7].
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Weight of the time decay (ctr-quantile) [default: 0.2].
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Date ages are measured to (YYYY-MM-DD[ HH:MM:SS]) [default: newest upload].
    #[arg(long, value_parser = parse_reference)]
    pub reference_date: Option<NaiveDateTime>,
}

impl ScoreParams {
    /// `method` with the given parameters set; a parameter the method does not take is an
    /// error rather than silently ignored.
    pub fn apply(&self, method: ScoreMethod) -> anyhow::Result<ScoreMethod> {
        let unused =
            |flag: &str| anyhow::anyhow!("{flag} does not apply to the {} score", method.name());
        let method = match method {
            ScoreMethod::WeightedLog { alpha } => {
                if self.lambda.is_some() {
                    return Err(unused("--lambda"));
                }
                if self.reference_date.is_some() {
                    return Err(unused("--reference-date"));
                }
                ScoreMethod::WeightedLog { alpha: self.alpha.unwrap_or(alpha) }
            }
            ScoreMethod::TimeDecay { alpha, reference } => {
                if self.lambda.is_some() {
                    return Err(unused("--lambda"));
                }
                ScoreMethod::TimeDecay {
                    alpha: self.alpha.unwrap_or(alpha),
                    reference: self.reference_date.or(reference),
                }
            }
            ScoreMethod::CtrQuantile { lambda, reference } => {
                if self.alpha.is_some() {
                    return Err(unused("--alpha"));
                }
                ScoreMethod::CtrQuantile {
                    lambda: self.lambda.unwrap_or(lambda),
                    reference: self.reference_date.or(reference),
                }
            }
            ScoreMethod::BookmarkRatio => {
                if self.alpha.is_some() || self.lambda.is_some() || self.reference_date.is_some() {
                    return Err(unused("--alpha/--lambda/--reference-date"));
                }
                ScoreMethod::BookmarkRatio
            }
        };
        method.validate()?;
        Ok(method)
    }
}

fn parse_reference(s: &str) -> Result<NaiveDateTime, String> {
    animescore_dataset::parse_date(s)
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| format!("`{s}` is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)"))
}
