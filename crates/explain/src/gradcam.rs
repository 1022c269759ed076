//! Grad-CAM (Selvaraju et al., 2017) on the backbone's last feature map: each channel is
//! weighted by the spatial mean of the score's gradient with respect to it, the weighted sum
//! over channels is clipped at zero. The map has the feature grid's resolution (7×7 for a
//! ResNet at 224 px), so it is coarse by construction.

use animescore_heads::{KnownMetadata, ScoringHead};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::error::{ExplainError, Result};
use crate::heatmap::HeatMap;
use crate::rollout::read;

/// Grad-CAM maps of a batch of feature maps `[B, C, h, w]` through `head`, with the batch's
/// `known` metadata in place of the model's own predictions when given.
///
/// The feature map becomes a fresh autodiff leaf, so only the head is differentiated; the
/// images of a batch do not interact (no batch statistics at inference), so the gradient of
/// the summed scores holds each image's own gradient.
pub fn grad_cam(
    head: &ScoringHead,
    feature_map: Tensor<4>,
    known: Option<&KnownMetadata>,
) -> Result<Vec<HeatMap>> {
    let [batch, _, h, w] = feature_map.dims();
    let features = feature_map.inner().autodiff().require_grad();
    let known = known.map(|k| KnownMetadata {
        ai: k.ai.clone().map(Tensor::autodiff),
        sanity: k.sanity.clone().map(Tensor::autodiff),
        tags: k.tags.clone().map(Tensor::autodiff),
    });
    let out = head.forward(features.clone(), known.as_ref())?;
    let grads = out.score.sum().backward();
    let gradient = features.grad(&grads).ok_or(ExplainError::NoGradient)?;
    let weights = gradient.mean_dim(3).mean_dim(2);
    let cam = relu((features.inner() * weights).sum_dim(1));
    let values = read(cam)?;
    values.chunks(h * w).take(batch).map(|v| HeatMap::new(w, h, v.to_vec())).collect()
}
