//! Tiers: the names `predict` gives percentiles of calibrated scores, and the cut-offs
//! between them. A score file's `tier` column holds one of [`Tier::ALL`]'s names; anything
//! else is not a tier (a hostile file cannot turn a tier into a folder name such as `../x`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScoreFileError};

/// A tier, lowest first (after deepghs imgutils' anime aesthetic tiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Below the 10th percentile (default cut-offs).
    Worst,
    /// 10th to 25th.
    Low,
    /// 25th to 50th.
    Normal,
    /// 50th to 75th.
    Good,
    /// 75th to 90th.
    Great,
    /// 90th to 97th.
    Best,
    /// 97th and above.
    Masterpiece,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 7] = [
        Tier::Worst,
        Tier::Low,
        Tier::Normal,
        Tier::Good,
        Tier::Great,
        Tier::Best,
        Tier::Masterpiece,
    ];

    /// The name in score files, captions and folder names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Worst => "worst",
            Self::Low => "low",
            Self::Normal => "normal",
            Self::Good => "good",
            Self::Great => "great",
            Self::Best => "best",
            Self::Masterpiece => "masterpiece",
        }
    }

    /// Position in [`Tier::ALL`] (0: worst).
    pub fn rank(self) -> usize {
        self as usize
    }

    fn names() -> String {
        Self::ALL.map(Tier::name).join(", ")
    }
}

impl FromStr for Tier {
    type Err = ScoreFileError;

    /// A tier name, in any letter case.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            ScoreFileError::Invalid(format!(
                "`{s}` is not a tier (expected one of {})",
                Self::names()
            ))
        })
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Tier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Default lower percentile bound of each tier above [`Tier::Worst`].
pub const DEFAULT_CUTS: [f64; 6] = [10.0, 25.0, 50.0, 75.0, 90.0, 97.0];

/// Lower percentile bounds of the tiers above [`Tier::Worst`] (ascending, within 0..=100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierCuts(pub [f64; 6]);

impl Default for TierCuts {
    fn default() -> Self {
        Self(DEFAULT_CUTS)
    }
}

impl TierCuts {
    /// The tier of a percentile.
    pub fn tier(&self, percentile: f64) -> Tier {
        let above = self.0.iter().filter(|&&cut| percentile >= cut).count();
        Tier::ALL[above]
    }

    /// The cut-offs, checked: ascending percentiles within 0..=100.
    pub fn validate(self) -> Result<Self> {
        let ascending = self.0.windows(2).all(|w| w[0] <= w[1]);
        let in_range = self.0.iter().all(|c| (0.0..=100.0).contains(c));
        if ascending && in_range {
            Ok(self)
        } else {
            Err(ScoreFileError::Invalid(format!(
                "tier cut-offs {:?} must be 6 ascending percentiles within 0..=100",
                self.0
            )))
        }
    }
}

impl FromStr for TierCuts {
    type Err = ScoreFileError;

    /// `10,25,50,75,90,97`: lower bounds of low, normal, good, great, best, masterpiece.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |why: String| ScoreFileError::Invalid(format!("tier cut-offs `{s}`: {why}"));
        let values: Vec<f64> = s
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        let cuts: [f64; 6] = values.try_into().map_err(|v: Vec<f64>| {
            invalid(format!(
                "{} values, expected 6 (lower bounds of {})",
                v.len(),
                Tier::ALL[1..].iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        Self(cuts).validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_by_rank() {
        for (i, t) in Tier::ALL.into_iter().enumerate() {
            assert_eq!(t.name().parse::<Tier>().unwrap(), t);
            assert_eq!(t.rank(), i);
        }
        assert_eq!("Great".parse::<Tier>().unwrap(), Tier::Great);
        for bad in ["awful", "../x", "/tmp", ""] {
            assert!(bad.parse::<Tier>().is_err(), "{bad}");
        }
        assert!(Tier::Worst < Tier::Masterpiece);
    }

    #[test]
    fn cuts_parse_and_place() {
        let cuts: TierCuts = "10,25,50,75,90,97".parse().unwrap();
        assert_eq!(cuts, TierCuts::default());
        assert_eq!(cuts.tier(5.0), Tier::Worst);
        assert_eq!(cuts.tier(97.0), Tier::Masterpiece);
        assert_eq!(cuts.tier(60.0), Tier::Good);
        for bad in ["10,25,50", "25,10,50,75,90,97", "10,25,50,75,90,101", "a,b,c,d,e,f"] {
            assert!(bad.parse::<TierCuts>().is_err(), "{bad}");
        }
    }
}
