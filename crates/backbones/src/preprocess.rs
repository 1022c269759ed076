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

    /// Loads an image file (PNG or JPEG) and resizes it to `size × size` RGB.
    pub fn load_rgb(&self, path: impl AsRef<Path>) -> Result<RgbImage, BackboneError> {
        Ok(self.resize(&load_image(path.as_ref())?))
    }

    /// Loads an image file (PNG or JPEG) and preprocesses it.
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

/// Largest image side we decode; larger images are refused before their pixels are allocated.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest decoder allocation (bytes) for one image; loader workers decode in parallel, so
/// this bounds memory per worker.
pub const MAX_IMAGE_BYTES: u64 = 256 * 1024 * 1024;

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

/// Largest image file (compressed bytes) we read.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Decodes an image file, trusting its content over its extension (a PNG saved as `.jpg`
/// loads), with size limits so that a decompression bomb is an error, not an out-of-memory.
/// A JPEG without its end-of-image marker is refused: the decoder would otherwise fill the
/// missing rows of a truncated file with grey and train on them.
pub fn load_image(path: &Path) -> Result<DynamicImage, BackboneError> {
    let fail = |reason: String| BackboneError::File { path: path.to_path_buf(), reason };
    // Only a regular file, and never more than the limit (a link to /dev/zero claims size 0).
    let bytes =
        animescore_fs::read_regular(path, MAX_IMAGE_FILE_BYTES).map_err(|e| fail(e.to_string()))?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes.as_slice()))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    if reader.format() == Some(image::ImageFormat::Jpeg)
        && !bytes.windows(2).rev().take(1 << 16).any(|w| w == [0xFF, 0xD9])
    {
        return Err(fail("truncated JPEG (no end-of-image marker)".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod load_tests {
    use super::*;

    #[test]
    fn hostile_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("animescore-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut png = std::io::Cursor::new(Vec::new());
        RgbImage::new(4, 4).write_to(&mut png, image::ImageFormat::Png).unwrap();
        let png = png.into_inner();
        // A PNG header that claims 100 000 × 100 000 pixels: refused by the limits.
        let mut bomb = png.clone();
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let cases: [(&str, &[u8]); 4] = [
            ("empty.png", b""),
            ("text.png", b"hello, not an image"),
            ("truncated.png", &png[..png.len() / 2]),
            ("bomb.png", &bomb),
        ];
        for (name, bytes) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            assert!(load_image(&path).is_err(), "{name}");
        }
        // Content wins over the extension.
        let path = dir.join("really_png.jpg");
        std::fs::write(&path, &png).unwrap();
        assert_eq!(load_image(&path).unwrap().width(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
