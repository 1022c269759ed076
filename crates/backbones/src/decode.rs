//! Image file → upright RGB pixels on white, the one decoder behind every image the project
//! reads (`predict`, `embed`, training, the caches).
//!
//! Inputs people actually have: PNG, JPEG and WebP (by content, not extension), EXIF
//! orientation applied, transparency composited onto white (as imgutils and waifu-scorer do,
//! so a transparent background does not turn black). Size limits make a decompression bomb an
//! error instead of an out-of-memory.
//!
//! Speed: the caller usually shrinks a 1000–3000 px picture to 224–600 px, so a JPEG is decoded
//! at reduced scale in the DCT domain (1/2, 1/4, 1/8 of each side, `jpeg-decoder`'s `scale`),
//! never below the size the caller asks for; the rest of the way is the caller's resize.

use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, RgbImage, RgbaImage};

use crate::error::BackboneError;

/// Largest image side we decode; larger images are refused before their pixels are allocated.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest decoder allocation (bytes) for one image; loader workers decode in parallel, so
/// this bounds memory per worker.
pub const MAX_IMAGE_BYTES: u64 = 256 * 1024 * 1024;
/// Largest image file (compressed bytes) we read.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The largest DCT-domain reduction `jpeg-decoder` offers (1/8 of each side).
const MIN_JPEG_SCALE: f64 = 0.125;

/// Decodes an image file at full size: upright, RGB, transparency on white.
///
/// Content wins over the extension (a PNG saved as `.jpg` loads). A JPEG without its
/// end-of-image marker is refused: the decoder would otherwise fill the missing rows of a
/// truncated file with grey and train on them.
pub fn load_image(path: &Path) -> Result<DynamicImage, BackboneError> {
    load_rgb(path, |_, _| 1.0).map(DynamicImage::ImageRgb8)
}

/// Decodes an image file like [`load_image`], but a JPEG may come back smaller than stored:
/// `min_scale(width, height)` (of the stored size, before orientation) is the smallest
/// fraction of each side the caller can use; the decoder picks the smallest DCT scale
/// (1, 1/2, 1/4, 1/8) at or above it. Other formats always decode at full size.
pub fn load_rgb(
    path: &Path,
    min_scale: impl Fn(u32, u32) -> f64,
) -> Result<RgbImage, BackboneError> {
    let fail = |reason: String| BackboneError::File { path: path.to_path_buf(), reason };
    // Only a regular file, and never more than the limit (a link to /dev/zero claims size 0).
    let bytes =
        animescore_fs::read_regular(path, MAX_IMAGE_FILE_BYTES).map_err(|e| fail(e.to_string()))?;
    decode_rgb(&bytes, min_scale).map_err(fail)
}

/// [`load_rgb`] on bytes in memory; the error is the reason only (the caller names the file).
pub fn decode_rgb(bytes: &[u8], min_scale: impl Fn(u32, u32) -> f64) -> Result<RgbImage, String> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        if !has_jpeg_end_marker(bytes) {
            return Err("truncated JPEG (no end-of-image marker)".into());
        }
        if let Some(rgb) = decode_jpeg_scaled(bytes, &min_scale)? {
            return Ok(rgb);
        }
    }
    decode_full(reader)
}

/// Whether the last 64 KiB of a JPEG hold its end-of-image marker (`FF D9`); encoders may
/// append padding or trailers after it.
fn has_jpeg_end_marker(bytes: &[u8]) -> bool {
    bytes.windows(2).rev().take(1 << 16).any(|w| w == [0xFF, 0xD9])
}

/// The decoder limits every path shares.
fn limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    limits
}

/// Full-size decode through the `image` crate (PNG, WebP, JPEG that the scaled path leaves).
fn decode_full(mut reader: image::ImageReader<std::io::Cursor<&[u8]>>) -> Result<RgbImage, String> {
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    // A broken EXIF block is no reason to drop the pixels: treat it as "no rotation".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(orientation);
    Ok(flatten_onto_white(image))
}

/// A JPEG decoded at the smallest DCT scale that `min_scale` allows, upright; `None` when a
/// reduced scale would not help (full size asked for) or the colour layout is one we leave to
/// the `image` crate (CMYK, 16-bit).
fn decode_jpeg_scaled(
    bytes: &[u8],
    min_scale: &impl Fn(u32, u32) -> f64,
) -> Result<Option<RgbImage>, String> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().map_err(|e| e.to_string())?;
    let Some(info) = decoder.info() else { return Ok(None) };
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_size(width, height, 3)?;
    let scale = min_scale(width, height).max(MIN_JPEG_SCALE);
    if scale > 0.5 {
        return Ok(None);
    }
    if !matches!(
        info.pixel_format,
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24
    ) {
        return Ok(None);
    }
    decoder.set_max_decoding_buffer_size(MAX_IMAGE_BYTES as usize);
    // `scale` picks the smallest factor with the output at least this large on one axis; the
    // same factor applies to both, so asking for the scaled size of each covers both.
    let want = |side: u32| (f64::from(side) * scale).ceil().clamp(1.0, f64::from(u16::MAX)) as u16;
    let (out_w, out_h) = decoder.scale(want(width), want(height)).map_err(|e| e.to_string())?;
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageLuma8)
        }
        _ => RgbImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageRgb8),
    };
    let mut image = image.ok_or("JPEG decoder returned fewer pixels than its size")?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    image.apply_orientation(orientation);
    Ok(Some(image.into_rgb8()))
}

/// Refuses sides over [`MAX_IMAGE_SIDE`] or pixel buffers over [`MAX_IMAGE_BYTES`].
fn check_size(width: u32, height: u32, channels: u64) -> Result<(), String> {
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(format!("image is {width}×{height} px, more than {MAX_IMAGE_SIDE} on a side"));
    }
    if u64::from(width) * u64::from(height) * channels > MAX_IMAGE_BYTES {
        return Err(format!("image is {width}×{height} px, over the {MAX_IMAGE_BYTES}-byte limit"));
    }
    Ok(())
}

/// RGB, with any transparency composited onto white.
pub fn flatten_onto_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    composite_onto_white(&image.into_rgba8())
}

/// `colour · α + white · (1 − α)` per channel, rounded.
fn composite_onto_white(rgba: &RgbaImage) -> RgbImage {
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.as_mut().chunks_exact_mut(3).zip(rgba.as_raw().chunks_exact(4)) {
        let alpha = u32::from(src[3]);
        for c in 0..3 {
            let mixed = u32::from(src[c]) * alpha + 255 * (255 - alpha);
            dst[c] = ((mixed + 127) / 255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
