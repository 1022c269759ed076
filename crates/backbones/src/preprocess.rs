//! Image → normalised tensor, shared by `embed`, feature caching and training: RGB, resize to a
//! square (stretch or letterbox), scale to 0..1, subtract the mean and divide by the std per
//! channel, channel-first.

use std::path::Path;

use burn::prelude::*;
use fast_image_resize as fir;
use image::{DynamicImage, RgbImage};

use crate::backbone::{IMAGENET_MEAN, IMAGENET_STD, InputSpec};
use crate::decode::{flatten_onto_white, load_rgb};
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

    /// Resizes an image to `size × size` RGB (transparency onto white; bilinear; untouched
    /// when already that size).
    pub fn resize(&self, image: &DynamicImage) -> RgbImage {
        self.fit(flatten_onto_white(image.clone()))
    }

    /// Resizes RGB pixels to `size × size` by the resize mode: a separable bilinear
    /// convolution whose support widens with the reduction (so every source pixel counts, as
    /// with `image`'s `Triangle` filter, which this replaced), in SIMD fixed point.
    pub fn fit(&self, rgb: RgbImage) -> RgbImage {
        let n = self.size as u32;
        if rgb.width() == n && rgb.height() == n {
            return rgb;
        }
        match self.mode {
            ResizeMode::Stretch => resize_bilinear(&rgb, n, n),
            ResizeMode::Letterbox => {
                let scale = n as f64 / rgb.width().max(rgb.height()) as f64;
                let w = ((rgb.width() as f64 * scale).round() as u32).clamp(1, n);
                let h = ((rgb.height() as f64 * scale).round() as u32).clamp(1, n);
                let inner = resize_bilinear(&rgb, w, h);
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

    /// The smallest fraction of a `width × height` source's sides that still covers the
    /// output: decoding (a JPEG) at that scale loses nothing the resize would keep.
    pub fn min_source_scale(&self, width: u32, height: u32) -> f64 {
        let n = self.size as f64;
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        match self.mode {
            ResizeMode::Stretch => (n / w).max(n / h),
            ResizeMode::Letterbox => n / w.max(h),
        }
    }

    /// The normalised image, channel-first: `3 · size · size` values.
    pub fn chw(&self, image: &DynamicImage) -> Vec<f32> {
        self.normalize(self.resize(image).as_raw())
    }

    /// Normalises a resized `size × size` RGB image (row-major, interleaved `u8`, as
    /// [`resize`](Self::resize) returns it) into `3 · size · size` channel-first values.
    pub fn normalize(&self, rgb: &[u8]) -> Vec<f32> {
        let plane = self.size * self.size;
        let mut out = vec![0.0f32; 3 * plane];
        let (scale, shift) = self.affine();
        for (i, pixel) in rgb.chunks_exact(3).take(plane).enumerate() {
            for c in 0..3 {
                out[c * plane + i] = f32::from(pixel[c]) * scale[c] + shift[c];
            }
        }
        out
    }

    /// Per channel, `normalised = byte · scale + shift`.
    pub fn affine(&self) -> ([f32; 3], [f32; 3]) {
        let scale = [0, 1, 2].map(|c| 1.0 / (255.0 * self.std[c]));
        let shift = [0, 1, 2].map(|c| -self.mean[c] / self.std[c]);
        (scale, shift)
    }

    /// Loads an image file (PNG, JPEG or WebP; see [`crate::load_image`]) and resizes it to
    /// `size × size` RGB. A large JPEG is decoded at reduced scale first.
    pub fn load_rgb(&self, path: impl AsRef<Path>) -> Result<RgbImage, BackboneError> {
        let rgb = load_rgb(path.as_ref(), |w, h| self.min_source_scale(w, h))?;
        Ok(self.fit(rgb))
    }

    /// Loads an image file (PNG, JPEG or WebP) and preprocesses it.
    pub fn load_chw(&self, path: impl AsRef<Path>) -> Result<Vec<f32>, BackboneError> {
        Ok(self.normalize(self.load_rgb(path)?.as_raw()))
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

/// Smallest and largest model input side in pixels. A side of 100 000 would ask for a 30 GB
/// batch buffer; the largest standard input (EfficientNet-B7) is 600.
pub const INPUT_SIZE_RANGE: std::ops::RangeInclusive<usize> = 8..=4096;

/// Checks a requested input side against [`INPUT_SIZE_RANGE`] before anything is allocated.
pub fn check_input_size(size: usize) -> Result<(), BackboneError> {
    if INPUT_SIZE_RANGE.contains(&size) {
        Ok(())
    } else {
        Err(BackboneError::InvalidConfig(format!(
            "image size {size} is outside {}..={} pixels",
            INPUT_SIZE_RANGE.start(),
            INPUT_SIZE_RANGE.end()
        )))
    }
}

/// `rgb` resized to `width × height` with a bilinear convolution (support scaled by the
/// reduction).
fn resize_bilinear(rgb: &RgbImage, width: u32, height: u32) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    match fir_resize(rgb, &mut out) {
        Ok(()) => out,
        // Both buffers are `RgbImage`s of their stated size, so fir has nothing to refuse;
        // should a future version disagree, the portable filter gives the same picture.
        Err(e) => {
            tracing::warn!("SIMD resize failed ({e}); using the portable one");
            image::imageops::resize(rgb, width, height, image::imageops::FilterType::Triangle)
        }
    }
}

/// `src` resized into `dst` by `fast_image_resize`.
fn fir_resize(src: &RgbImage, dst: &mut RgbImage) -> Result<(), String> {
    let (width, height) = dst.dimensions();
    let src =
        fir::images::ImageRef::new(src.width(), src.height(), src.as_raw(), fir::PixelType::U8x3)
            .map_err(|e| e.to_string())?;
    let mut dst = fir::images::Image::from_slice_u8(width, height, dst, fir::PixelType::U8x3)
        .map_err(|e| e.to_string())?;
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear));
    fir::Resizer::new().resize(&src, &mut dst, &options).map_err(|e| e.to_string())
}
