//! Deterministic train / validation / test splits by artwork.
//!
//! A record's split depends only on the seed and its artwork id (hashed), so all pages of one
//! artwork land in the same split, and adding artworks to the dataset never moves old ones.

use serde::{Deserialize, Serialize};

/// Which part of the data a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Fitting the model and the score scalers.
    Train,
    /// Early stopping and model selection.
    Validation,
    /// Held out until the final report.
    Test,
}

impl Split {
    /// `train`, `validation` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// How to split. Default: 10 % test, and the rest 70/30 train/validation (the original's
/// ratio), seed 42.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Hash seed.
    pub seed: u64,
    /// Fraction of artworks held out for test.
    pub test_fraction: f64,
    /// Fraction of the non-test artworks used for validation.
    pub validation_fraction: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { seed: 42, test_fraction: 0.1, validation_fraction: 0.3 }
    }
}

impl SplitConfig {
    /// Checks that both fractions are within `0..1`.
    pub fn validate(&self) -> Result<(), crate::DatasetError> {
        for (name, v) in [
            ("test_fraction", self.test_fraction),
            ("validation_fraction", self.validation_fraction),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(crate::DatasetError::InvalidArgument {
                    name,
                    reason: format!("{v} is outside 0..1"),
                });
            }
        }
        // Both are fractions of all artworks: together they must leave some for training.
        if self.test_fraction + self.validation_fraction >= 1.0 {
            return Err(crate::DatasetError::InvalidArgument {
                name: "validation_fraction",
                reason: format!(
                    "validation_fraction {} + test_fraction {} leaves nothing to train on (the sum must be below 1)",
                    self.validation_fraction, self.test_fraction
                ),
            });
        }
        Ok(())
    }

    /// The split of an artwork.
    pub fn assign(&self, artwork_id: i64) -> Split {
        let u = unit_hash(self.seed, artwork_id as u64);
        if u < self.test_fraction {
            Split::Test
        } else if (u - self.test_fraction) / (1.0 - self.test_fraction) < self.validation_fraction {
            Split::Validation
        } else {
            Split::Train
        }
    }
}

/// SplitMix64 of `seed ^ key`, mapped to `[0, 1)`.
fn unit_hash(seed: u64, key: u64) -> f64 {
    let mut z = (seed ^ key.rotate_left(17)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_close_to_config() {
        let cfg = SplitConfig::default();
        let mut counts = [0usize; 3];
        for id in 0..20_000 {
            counts[cfg.assign(100_000_000 + id) as usize] += 1;
        }
        let frac = |n: usize| n as f64 / 20_000.0;
        assert!((frac(counts[Split::Test as usize]) - 0.1).abs() < 0.01, "{counts:?}");
        assert!((frac(counts[Split::Validation as usize]) - 0.27).abs() < 0.015, "{counts:?}");
        assert!((frac(counts[Split::Train as usize]) - 0.63).abs() < 0.015, "{counts:?}");
    }

    #[test]
    fn seed_changes_assignment_deterministically() {
        let a = SplitConfig::default();
        let b = SplitConfig { seed: 7, ..a };
        let differ = (0..1000).filter(|&id| a.assign(id) != b.assign(id)).count();
        assert!(differ > 200);
        assert!((0..1000).all(|id| a.assign(id) == a.assign(id)));
    }
}
