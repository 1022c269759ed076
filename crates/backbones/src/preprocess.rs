//! Image → normalised tensor, shared by `embed`, feature caching and training: RGB, resize to a
//! square (stretch or letterbox), scale to 0..1, subtract the mean and divide by the std per
//! channel, channel-first.

use std::path::Path;

use burn::prelude::*;
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};

use crate::backbone::{IMAGENET_MEAN, IMAGENET_STD, InputSpec};
use crate::error::BackboneError;

/// How a non-square image becomes `size × size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Resize both sides to `size` (aspect ratio not kept), as torchvision's `Resize((n, n))`.
    #[default]
    Stretch,
    /// Fit the longer side to `size`, centre, and fill the border with the mean colour
    /// (0 after normalisation), so nothing is cropped or distorted.
    Letterbox,
}

/// Preprocessing settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preprocess {
    /// Output side in pixels.
    pub size: usize,
    /// Per-channel mean (0..1 units).
    pub mean: [f32; 3],
    /// Per-channel standard deviation (0..1 units).
    pub std: [f32; 3],
    /// Resize mode.
    #[serde(default)]
    pub mode: ResizeMode,
}

impl Preprocess {
    /// ImageNet normalisation, stretch resize to `size × size`.
    pub fn imagenet(size: usize) -> Self {
        Self { size, mean: IMAGENET_MEAN, std: IMAGENET_STD, mode: ResizeMode::Stretch }
    }

    /// What a backbone expects ([`crate::Backbone::input_spec`]).
    pub fn from_spec(spec: InputSpec) -> Self {
        Self { size: spec.image_size, mean: spec.mean, std: spec.std, mode: ResizeMode::Stretch }
    }

    /// Same settings, another resize mode.
    pub fn with_mode(mut self, mode: ResizeMode) -> Self {
        self.mode = mode;
        self
    }

    /// Resizes an image to `size × size` RGB (bilinear; untouched when already that size).
    pub fn resize(&self, image: &DynamicImage) -> RgbImage {
        let rgb = image.to_rgb8();
        let n = self.size as u32;
        if rgb.width() == n && rgb.height() == n {
            return rgb;
        }
        match self.mode {
            ResizeMode::Stretch => image::imageops::resize(&rgb, n, n, FilterType::Triangle),
            ResizeMode::Letterbox => {
                let scale = n as f64 / rgb.width().max(rgb.height()) as f64;
                let w = ((rgb.width() as f64 * scale).round() as u32).clamp(1, n);
                let h = ((rgb.height() as f64 * scale).round() as u32).clamp(1, n);
                let inner = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
                let fill = self.mean.map(|m| (m * 255.0).round().clamp(0.0, 255.0) as u8);
                let mut canvas = RgbImage::from_pixel(n, n, image::Rgb(fill));
                image::imageops::replace(
                    &mut canvas,
                    &inner,
                    ((n - w) / 2).into(),
                    ((n - h) / 2).into(),
                );
                canvas
            }
        }
    }

    /// The normalised image, channel-first: `3 · size · size` values.
    pub fn chw(&self, image: &DynamicImage) -> Vec<f32> {
        let rgb = self.resize(image);
        let plane = self.size * self.size;
        let mut out = vec![0.0f32; 3 * plane];
        for (i, pixel) in rgb.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (pixel[c] as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        out
    }

    /// Loads an image file (PNG or JPEG) and preprocesses it.
    pub fn load_chw(&self, path: impl AsRef<Path>) -> Result<Vec<f32>, BackboneError> {
        let path = path.as_ref();
        let image = image::open(path)
            .map_err(|e| BackboneError::File { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(self.chw(&image))
    }

    /// Stacks preprocessed images into a batch `[B, 3, size, size]`.
    pub fn batch(&self, images: &[DynamicImage], device: &Device) -> Tensor<4> {
        let chws: Vec<Vec<f32>> = images.iter().map(|img| self.chw(img)).collect();
        self.stack(chws, device)
    }

    /// Stacks channel-first buffers from [`chw`](Self::chw) into `[B, 3, size, size]`.
    pub fn stack(&self, chws: Vec<Vec<f32>>, device: &Device) -> Tensor<4> {
        let b = chws.len();
        let flat: Vec<f32> = chws.into_iter().flatten().collect();
        Tensor::<1>::from_floats(flat.as_slice(), device).reshape([b, 3, self.size, self.size])
    }
}
