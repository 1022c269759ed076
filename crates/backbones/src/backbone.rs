//! The [`Backbone`] trait: what every image feature extractor offers to the heads.
//!
//! Heads only ever see a backbone through this trait, so a ResNet, an EfficientNet or a
//! user-configured network are interchangeable in every model variant.

use burn::prelude::*;

/// ImageNet channel means (RGB, in 0..1 units), as torchvision normalises.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB, in 0..1 units).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// What a backbone expects of its input images.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputSpec {
    /// Default square input side in pixels (224 for ResNets, 600 for EfficientNet-B7).
    pub image_size: usize,
    /// Per-channel mean subtracted after scaling pixels to 0..1.
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided after subtracting the mean.
    pub std: [f32; 3],
}

impl InputSpec {
    /// ImageNet normalisation at the given default size.
    pub fn imagenet(image_size: usize) -> Self {
        Self { image_size, mean: IMAGENET_MEAN, std: IMAGENET_STD }
    }
}

/// An image feature extractor.
///
/// Input: a normalised batch `[B, 3, H, W]`. Output: the last spatial feature map
/// `[B, C, h, w]` (used as attention tokens) and its global average pool `[B, C]`.
pub trait Backbone: Module {
    /// The last spatial feature map, `[B, out_channels, h, w]`.
    fn feature_map(&self, images: Tensor<4>) -> Tensor<4>;

    /// The pooled feature vector `[B, out_channels]` (global average pool of the map).
    fn pooled(&self, images: Tensor<4>) -> Tensor<2> {
        global_average_pool(self.feature_map(images))
    }

    /// Channels of the feature map (= width of the pooled vector).
    fn out_channels(&self) -> usize;

    /// Expected input size and normalisation.
    fn input_spec(&self) -> InputSpec;

    /// Names of the trainable stages in forward order (e.g. `stem, layer1, .., layer4`).
    fn stage_names(&self) -> Vec<String>;

    /// Freezes every stage before `stage`; `stage` and later stay trainable. `None` freezes
    /// the whole backbone.
    ///
    /// Frozen stages get burn's [`Module::freeze`]: their parameters need no gradient *and* their
    /// batch norms run on the stored running statistics even in training mode (as Keras does for
    /// non-trainable layers), so a frozen pretrained stage computes exactly what it was trained to.
    /// Stages from `stage` on are untouched.
    fn freeze_before(self, stage: Option<&str>) -> Result<Self, crate::BackboneError>
    where
        Self: Sized;
}

/// Mean over the spatial dimensions: `[B, C, H, W] -> [B, C]`.
pub fn global_average_pool(map: Tensor<4>) -> Tensor<2> {
    let [b, c, _, _] = map.dims();
    map.mean_dim(3).mean_dim(2).reshape([b, c])
}

/// Index of the first trainable stage for [`Backbone::freeze_before`]: the position of `stage`
/// in `names`, or `names.len()` (freeze everything) for `None`.
pub(crate) fn stage_index(
    names: &[String],
    stage: Option<&str>,
) -> Result<usize, crate::BackboneError> {
    match stage {
        None => Ok(names.len()),
        Some(stage) => names.iter().position(|n| n == stage).ok_or_else(|| {
            crate::BackboneError::UnknownStage {
                stage: stage.to_string(),
                available: names.join(", "),
            }
        }),
    }
}
