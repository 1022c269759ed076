//! The attribution methods, and which one `auto` picks for a model: Grad-CAM when the
//! backbone's feature grid at the model's input size is fine enough to localise, occlusion
//! when it is coarser than [`MIN_GRID_SIDE`] cells on a side.

use std::fmt;
use std::str::FromStr;

use animescore_heads::Variant;

use crate::error::{ExplainError, Result};

/// How a heat map is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// The best available for the variant (see [`Method::choose`]).
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

    /// Whether the map has the feature grid's resolution (attention rollout, Grad-CAM).
    pub fn on_feature_grid(self) -> bool {
        matches!(self, Self::Attention | Self::GradCam)
    }

    /// The concrete method for a model of `variant` whose feature grid at its input size is
    /// `grid` (columns, rows).
    ///
    /// `Auto` is Grad-CAM (one backward pass, every variant has it) when the grid has at
    /// least [`MIN_GRID_SIDE`] cells on its shorter side, and occlusion otherwise: on a
    /// coarser grid Grad-CAM and rollout cannot localise (on `tiny` at 64 px, a 2×2 grid, both
    /// drew the same map for every image). A method asked for runs as asked; on a coarse grid
    /// the choice carries a [`warning`](MethodChoice::warning). Attention rollout on a variant
    /// without attention is an error.
    pub fn choose(self, variant: Variant, grid: (usize, usize)) -> Result<MethodChoice> {
        let coarse = grid.0.min(grid.1) < MIN_GRID_SIDE;
        let method = match self {
            Self::Auto if coarse => Self::Occlusion,
            Self::Auto => Self::GradCam,
            Self::Attention if variant != Variant::Attention => {
                return Err(ExplainError::Unavailable {
                    method: self.name(),
                    variant: variant.name(),
                    reason: "the model has no attention blocks; use gradcam or occlusion".into(),
                });
            }
            other => other,
        };
        Ok(MethodChoice { method, asked: self != Self::Auto, grid })
    }
}

/// Cells a feature grid needs on its shorter side for Grad-CAM and attention rollout to
/// localise (a ResNet at 224 px has 7×7).
pub const MIN_GRID_SIDE: usize = 6;

/// The method an explanation uses, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodChoice {
    /// The method that runs (never `Auto`).
    pub method: Method,
    /// Whether it was asked for (`false`: `auto` chose it).
    pub asked: bool,
    /// The backbone's feature grid at the model's input size (columns, rows).
    pub grid: (usize, usize),
}

impl MethodChoice {
    /// Whether the method works on the feature grid and the grid is too coarse to localise.
    pub fn coarse(&self) -> bool {
        self.method.on_feature_grid() && self.grid.0.min(self.grid.1) < MIN_GRID_SIDE
    }

    /// Why this method, in a few words (the `method_reason` column of `explanations.csv`).
    pub fn reason(&self) -> String {
        let (w, h) = self.grid;
        let m = MIN_GRID_SIDE;
        match (self.asked, self.method) {
            (false, Method::Occlusion) => {
                format!("auto: the {w}x{h} feature grid is coarser than {m}x{m}")
            }
            (false, method) => {
                format!("auto: the {w}x{h} feature grid is fine enough for {method}")
            }
            (true, _) if self.coarse() => {
                format!("asked; the {w}x{h} feature grid is coarser than {m}x{m}")
            }
            (true, _) => "asked".into(),
        }
    }

    /// A warning for a method asked for on a grid too coarse for it, naming the grid.
    pub fn warning(&self) -> Option<String> {
        let (w, h) = self.grid;
        (self.asked && self.coarse()).then(|| {
            format!(
                "warning: {} works on the model's feature grid, which is only {w}x{h} at its \
                 input size (coarser than {m}x{m}): the maps can hardly depend on the image. \
                 `--method occlusion` (or `auto`) localises on this model.",
                self.method,
                m = MIN_GRID_SIDE
            )
        })
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
    fn names_round_trip() {
        for m in [Method::Auto, Method::Attention, Method::GradCam, Method::Occlusion] {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        assert!("saliency".parse::<Method>().is_err());
    }

    #[test]
    fn auto_follows_the_feature_grid() {
        let choose = |m: Method, v: Variant, grid| m.choose(v, grid).unwrap();
        // A ResNet at 224 px: 7×7, Grad-CAM.
        let fine = choose(Method::Auto, Variant::Multitask, (7, 7));
        assert_eq!((fine.method, fine.asked, fine.coarse()), (Method::GradCam, false, false));
        assert!(fine.warning().is_none());
        assert_eq!(fine.reason(), "auto: the 7x7 feature grid is fine enough for gradcam");
        // `tiny` at 64 px: 2×2, occlusion; a grid coarse on one side only is coarse.
        for grid in [(2, 2), (8, 5)] {
            let coarse = choose(Method::Auto, Variant::Attention, grid);
            assert_eq!(coarse.method, Method::Occlusion, "{grid:?}");
            assert!(coarse.warning().is_none(), "occlusion does not work on the grid");
        }
        assert!(choose(Method::Auto, Variant::Multitask, (2, 2)).reason().contains("2x2"));
        assert_eq!(choose(Method::Auto, Variant::Multitask, (6, 6)).method, Method::GradCam);
        // Asked for on a coarse grid: runs, with a warning naming the grid.
        for method in [Method::GradCam, Method::Attention] {
            let asked = choose(method, Variant::Attention, (2, 2));
            assert_eq!((asked.method, asked.asked), (method, true));
            assert!(asked.warning().is_some_and(|w| w.contains("2x2")), "{asked:?}");
            assert!(choose(method, Variant::Attention, (7, 7)).warning().is_none());
        }
        assert!(choose(Method::Occlusion, Variant::Multitask, (1, 1)).warning().is_none());
        assert!(Method::Attention.choose(Variant::MetaEmbed, (7, 7)).is_err());
    }
}
