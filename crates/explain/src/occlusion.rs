//! Occlusion (Zeiler & Fergus, 2014), the model-agnostic reference: a patch of the mean
//! colour (0 after normalisation) is slid over the input, and each pixel's heat is the mean
//! absolute change of the score over the patches that covered it. It costs one forward pass
//! per patch position, so the occluded copies of an image are scored in batches.

use burn::prelude::*;

use crate::error::{ExplainError, Result};
use crate::heatmap::HeatMap;

/// Patch geometry of [`occlusion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcclusionConfig {
    /// Patch side in input pixels.
    pub patch: usize,
    /// Step between patch positions in input pixels.
    pub stride: usize,
    /// Occluded copies per forward pass.
    pub batch_size: usize,
}

impl OcclusionConfig {
    /// An eighth of the input side, half-overlapping: 15×15 = 225 positions at any size.
    pub fn for_size(size: usize) -> Self {
        let patch = (size / 8).max(1);
        Self { patch, stride: (patch / 2).max(1), batch_size: 64 }
    }

    fn validate(&self, size: usize) -> Result<()> {
        if self.patch == 0 || self.stride == 0 || self.batch_size == 0 || self.patch > size {
            return Err(ExplainError::InvalidSetting(format!(
                "occlusion patch {} / stride {} / batch {} on a {size} px input",
                self.patch, self.stride, self.batch_size
            )));
        }
        Ok(())
    }

    /// Patch start offsets along one side, the last one flush with the edge.
    fn starts(&self, size: usize) -> Vec<usize> {
        let mut starts: Vec<usize> = (0..=size - self.patch).step_by(self.stride).collect();
        if starts.last() != Some(&(size - self.patch)) {
            starts.push(size - self.patch);
        }
        starts
    }
}

/// Occlusion maps (over the `size × size` input) of normalised images `[B, 3, size, size]`.
/// `score(b, copies)` scores occluded copies of image `b` (one score per copy); `base` holds
/// the unoccluded scores.
pub fn occlusion(
    score: &dyn Fn(usize, Tensor<4>) -> Result<Vec<f32>>,
    images: Tensor<4>,
    base: &[f32],
    config: OcclusionConfig,
) -> Result<Vec<HeatMap>> {
    let [batch, _, size, _] = images.dims();
    config.validate(size)?;
    if base.len() != batch {
        return Err(ExplainError::Shape(format!("{} base scores for {batch} images", base.len())));
    }
    let starts = config.starts(size);
    let positions: Vec<(usize, usize)> =
        starts.iter().flat_map(|&y| starts.iter().map(move |&x| (x, y))).collect();
    let device = images.device();
    let mut maps = Vec::with_capacity(batch);
    for (b, &base_score) in base.iter().enumerate() {
        let image = images.clone().narrow(0, b, 1);
        let mut changes = Vec::with_capacity(positions.len());
        for chunk in positions.chunks(config.batch_size) {
            let masks = patch_masks(chunk, size, config.patch, &device);
            let copies = image.clone().repeat_dim(0, chunk.len()) * masks;
            changes.extend(score(b, copies)?.into_iter().map(|s| (base_score - s).abs()));
        }
        maps.push(spread(&positions, &changes, size, config.patch)?);
    }
    Ok(maps)
}

/// `[k, 1, size, size]`: ones, with zeros over each position's patch.
fn patch_masks(
    positions: &[(usize, usize)],
    size: usize,
    patch: usize,
    device: &Device,
) -> Tensor<4> {
    let mut mask = vec![1.0f32; positions.len() * size * size];
    for (i, &(x0, y0)) in positions.iter().enumerate() {
        for y in y0..y0 + patch {
            let row = i * size * size + y * size;
            mask[row + x0..row + x0 + patch].fill(0.0);
        }
    }
    Tensor::<1>::from_floats(mask.as_slice(), device).reshape([positions.len(), 1, size, size])
}

/// Each pixel's mean score change over the patches that covered it.
fn spread(
    positions: &[(usize, usize)],
    changes: &[f32],
    size: usize,
    patch: usize,
) -> Result<HeatMap> {
    let mut sum = vec![0.0f32; size * size];
    let mut count = vec![0u32; size * size];
    for (&(x0, y0), &change) in positions.iter().zip(changes) {
        for y in y0..y0 + patch {
            for x in x0..x0 + patch {
                sum[y * size + x] += change;
                count[y * size + x] += 1;
            }
        }
    }
    let values = sum.iter().zip(&count).map(|(&s, &c)| if c > 0 { s / c as f32 } else { 0.0 });
    HeatMap::new(size, size, values.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_cover_every_pixel() {
        let c = OcclusionConfig { patch: 5, stride: 3, batch_size: 4 };
        assert_eq!(c.starts(12), vec![0, 3, 6, 7]);
        assert!(OcclusionConfig { patch: 13, ..c }.validate(12).is_err());
    }

    /// A "model" whose score is the mean of one input corner: occlusion finds that corner.
    #[test]
    fn finds_the_pixels_the_score_reads() {
        let device = Device::flex();
        let size = 16;
        let images = Tensor::<4>::ones([2, 3, size, size], &device);
        let score = |_: usize, x: Tensor<4>| -> Result<Vec<f32>> {
            let b = x.dims()[0];
            let corner = x.narrow(2, 0, 4).narrow(3, 0, 4).mean_dim(3).mean_dim(2).mean_dim(1);
            crate::rollout::read(corner.reshape([b]))
        };
        let base = score(0, images.clone()).unwrap();
        let config = OcclusionConfig { patch: 4, stride: 2, batch_size: 10 };
        let maps = occlusion(&score, images, &base, config).unwrap();
        assert_eq!(maps.len(), 2);
        let (inside, outside) = maps[0].mean_inside_outside(|x, y| x < 4 && y < 4);
        assert!(inside > 0.2 && outside < 0.05, "inside {inside} outside {outside}");
    }
}
