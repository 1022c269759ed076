//! The attribution methods and which one `auto` picks for a variant.

use std::fmt;
use std::str::FromStr;

use animescore_heads::Variant;

use crate::error::{ExplainError, Result};

/// How a heat map is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// The best available for the variant (see [`Method::resolve`]).
    #[default]
    Auto,
    /// Attention rollout over the `attention` variant's blocks.
    Attention,
    /// Grad-CAM on the backbone's last feature map.
    GradCam,
    /// Occlusion: a grey patch slid over the image, heat = how much the score moves.
    Occlusion,
}

impl Method {
    /// Every concrete method (not `Auto`).
    pub const CONCRETE: [Method; 3] = [Method::Attention, Method::GradCam, Method::Occlusion];

    /// The name used on the command line and in `explanations.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Attention => "attention",
            Self::GradCam => "gradcam",
            Self::Occlusion => "occlusion",
        }
    }

    /// The concrete method for a model of `variant`. `Auto` is Grad-CAM: one backward pass,
    /// available for every variant, and on the synthetic probe it localises as well as
    /// occlusion at a fraction of the cost (docs/explain.md). Attention rollout on a variant
    /// without attention is an error.
    pub fn resolve(self, variant: Variant) -> Result<Method> {
        match self {
            Self::Auto => Ok(Self::GradCam),
            Self::Attention if variant != Variant::Attention => Err(ExplainError::Unavailable {
                method: self.name(),
                variant: variant.name(),
                reason: "the model has no attention blocks; use gradcam or occlusion".into(),
            }),
            other => Ok(other),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = ExplainError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "attention" | "rollout" => Ok(Self::Attention),
            "gradcam" | "grad-cam" => Ok(Self::GradCam),
            "occlusion" => Ok(Self::Occlusion),
            _ => Err(ExplainError::UnknownMethod(s.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_auto_resolves() {
        for m in [Method::Auto, Method::Attention, Method::GradCam, Method::Occlusion] {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        assert!("saliency".parse::<Method>().is_err());
        assert_eq!(Method::Auto.resolve(Variant::Multitask).unwrap(), Method::GradCam);
        assert!(Method::Attention.resolve(Variant::MetaEmbed).is_err());
        assert_eq!(Method::Attention.resolve(Variant::Attention).unwrap(), Method::Attention);
    }
}
