//! [`BackboneConfig`] (any backbone, by name or from a file) and [`AnyBackbone`] (the built
//! network), so that callers pick a backbone at run time without generics.

use std::path::Path;

use burn::prelude::*;

use crate::backbone::{Backbone, InputSpec};
use crate::efficientnet::{EfficientNet, EfficientNetConfig};
use crate::error::BackboneError;
use crate::resnet::{ResNet, ResNetConfig};
use crate::size::NetworkSize;

/// Names accepted by [`BackboneConfig::from_name`].
pub const BACKBONE_NAMES: &[&str] = &[
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "efficientnet-b0",
    "efficientnet-b1",
    "efficientnet-b2",
    "efficientnet-b3",
    "efficientnet-b4",
    "efficientnet-b5",
    "efficientnet-b6",
    "efficientnet-b7",
    "tiny",
];

/// Any backbone's configuration. Serialised with a `kind` tag, e.g.
/// `{"kind": "resnet", "widths": [..], "blocks": [..], "block": "basic"}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackboneConfig {
    /// A (possibly custom) ResNet.
    #[serde(rename = "resnet")]
    ResNet(ResNetConfig),
    /// An EfficientNet (any width/depth multipliers).
    #[serde(rename = "efficientnet")]
    EfficientNet(EfficientNetConfig),
}

impl BackboneConfig {
    /// A preset by name: `resnet18|34|50|101|152`, `efficientnet-b0..b7`, `tiny`.
    pub fn from_name(name: &str) -> Result<Self, BackboneError> {
        let efficientnet = name
            .strip_prefix("efficientnet-b")
            .and_then(|v| v.parse::<usize>().ok())
            .and_then(EfficientNetConfig::variant);
        if let Some(cfg) = efficientnet {
            return Ok(Self::EfficientNet(cfg));
        }
        let cfg = match name {
            "resnet18" => ResNetConfig::resnet18(),
            "resnet34" => ResNetConfig::resnet34(),
            "resnet50" => ResNetConfig::resnet50(),
            "resnet101" => ResNetConfig::resnet101(),
            "resnet152" => ResNetConfig::resnet152(),
            "tiny" => ResNetConfig::tiny(),
            _ => {
                return Err(BackboneError::UnknownBackbone {
                    name: name.to_string(),
                    known: BACKBONE_NAMES.join(", "),
                });
            }
        };
        Ok(Self::ResNet(cfg))
    }

    /// A preset name, or `custom:FILE` for a JSON file holding a serialised `BackboneConfig`.
    pub fn from_spec(spec: &str) -> Result<Self, BackboneError> {
        match spec.strip_prefix("custom:") {
            Some(path) => Self::from_file(path),
            None => Self::from_name(spec),
        }
    }

    /// Reads and validates a JSON file holding a serialised `BackboneConfig`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BackboneError> {
        let path = path.as_ref();
        let file_err = |reason: String| BackboneError::File { path: path.to_path_buf(), reason };
        let text = animescore_fs::read_config(path).map_err(|e| file_err(e.to_string()))?;
        let cfg: Self = serde_json::from_str(&text).map_err(|e| file_err(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the config describes a buildable network.
    pub fn validate(&self) -> Result<(), BackboneError> {
        match self {
            Self::ResNet(c) => c.validate(),
            Self::EfficientNet(c) => c.validate(),
        }
    }

    /// Input size and normalisation the network expects, without building it (the same as
    /// [`Backbone::input_spec`] of [`init`](Self::init)'s result).
    pub fn input_spec(&self) -> InputSpec {
        let image_size = match self {
            Self::ResNet(c) => c.image_size,
            Self::EfficientNet(c) => c.image_size,
        };
        InputSpec::imagenet(image_size)
    }

    /// Parameters and activations at `image_size` px, and the feature map `[C, h, w]`,
    /// computed from the configuration without building anything (see [`NetworkSize`]).
    pub fn size(&self, image_size: usize) -> (NetworkSize, [f64; 3]) {
        match self {
            Self::ResNet(c) => c.size(image_size),
            Self::EfficientNet(c) => c.size(image_size),
        }
    }

    /// Builds the backbone with from-scratch init.
    pub fn init(&self, device: &Device) -> AnyBackbone {
        match self {
            Self::ResNet(c) => AnyBackbone::ResNet(c.init(device)),
            Self::EfficientNet(c) => AnyBackbone::EfficientNet(c.init(device)),
        }
    }
}

/// A built backbone of any kind.
// One value per model, so the variants' size difference costs nothing; boxing would also need
// `Module` for `Box`, which burn does not provide.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnyBackbone {
    /// A ResNet (any preset or custom).
    ResNet(ResNet),
    /// An EfficientNet.
    EfficientNet(EfficientNet),
}

impl Backbone for AnyBackbone {
    fn feature_map(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            Self::ResNet(m) => m.feature_map(images),
            Self::EfficientNet(m) => m.feature_map(images),
        }
    }

    fn out_channels(&self) -> usize {
        match self {
            Self::ResNet(m) => m.out_channels(),
            Self::EfficientNet(m) => m.out_channels(),
        }
    }

    fn input_spec(&self) -> InputSpec {
        match self {
            Self::ResNet(m) => m.input_spec(),
            Self::EfficientNet(m) => m.input_spec(),
        }
    }

    fn stage_names(&self) -> Vec<String> {
        match self {
            Self::ResNet(m) => Backbone::stage_names(m),
            Self::EfficientNet(m) => Backbone::stage_names(m),
        }
    }

    fn freeze_before(self, stage: Option<&str>) -> Result<Self, BackboneError> {
        Ok(match self {
            Self::ResNet(m) => Self::ResNet(m.freeze_before(stage)?),
            Self::EfficientNet(m) => Self::EfficientNet(m.freeze_before(stage)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_those_of_the_built_networks() {
        let device = Device::flex();
        for name in ["tiny", "resnet18", "resnet50", "efficientnet-b0", "efficientnet-b3"] {
            let config = BackboneConfig::from_name(name).unwrap();
            let built = config.init(&device);
            let (size, dims) = config.size(64);
            assert_eq!(size.parameters, built.num_params() as f64, "{name}");
            assert!(size.activations > size.peak && size.peak > 0.0, "{name}");
            let probe = Tensor::<4>::zeros([1, 3, 64, 64], &device);
            let got = built.feature_map(probe).dims();
            assert_eq!(dims, [got[1] as f64, got[2] as f64, got[3] as f64], "{name}");
        }
    }

    #[test]
    fn absurd_widths_and_depths_give_large_numbers_at_once() {
        let config: BackboneConfig = serde_json::from_str(
            r#"{"kind": "resnet", "stem_width": 64, "widths": [18446744073709551615],
                "blocks": [1000000000000], "block": "bottleneck", "zero_init_residual": true,
                "image_size": 224}"#,
        )
        .unwrap();
        let (size, _) = config.size(224);
        assert!(size.parameters > 1e30, "{size:?}");
    }
}
