//! The decode path (`animescore_backbones::decode_rgb` + `Preprocess::load_rgb`): the SIMD resize
//! and the reduced-scale JPEG decode stay within a stated tolerance of the previous full decode
//! + `image` `Triangle` resize on textured pictures; WebP, EXIF orientation and transparency.

use std::path::PathBuf;

use animescore_backbones::{MAX_IMAGE_SIDE, decode_rgb, load_rgb};
use animescore_backbones::{Preprocess, ResizeMode, load_image};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

/// An illustration-like picture: smooth shading, hard line art, a fine screentone and grain,
/// so that filters which treat high frequencies differently disagree visibly.
fn textured(width: u32, height: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let grain = (x.wrapping_mul(374_761_393) ^ y.wrapping_mul(668_265_263) ^ seed)
            .wrapping_mul(1_274_126_177)
            >> 27;
        let line = (x + 2 * y + seed) % 97 < 3 || (3 * x + y) % 151 < 2;
        let tone = if (x / 3 + y / 3) % 2 == 0 { 30.0 } else { 0.0 };
        let shade = |phase: f32| 120.0 + 90.0 * (fx * 7.0 + fy * 4.0 + phase).sin();
        let px = [shade(0.0), shade(2.0) + tone, shade(4.0) - tone]
            .map(|v| if line { 20.0 } else { v + grain as f32 });
        Rgb(px.map(|v| v.clamp(0.0, 255.0) as u8))
    })
}

/// (mean, max) absolute difference per channel value.
fn difference(a: &RgbImage, b: &RgbImage) -> (f64, u8) {
    assert_eq!(a.dimensions(), b.dimensions());
    let diffs: Vec<u8> = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).collect();
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    (mean, diffs.iter().copied().max().unwrap_or(0))
}

/// What `Preprocess::resize` did before the SIMD resize: `image`'s `Triangle` filter.
fn previous_fit(p: &Preprocess, rgb: &RgbImage) -> RgbImage {
    let n = p.size as u32;
    match p.mode {
        ResizeMode::Stretch => image::imageops::resize(rgb, n, n, FilterType::Triangle),
        ResizeMode::Letterbox => {
            let scale = n as f64 / rgb.width().max(rgb.height()) as f64;
            let w = ((rgb.width() as f64 * scale).round() as u32).clamp(1, n);
            let h = ((rgb.height() as f64 * scale).round() as u32).clamp(1, n);
            let inner = image::imageops::resize(rgb, w, h, FilterType::Triangle);
            let fill = p.mean.map(|m| (m * 255.0).round() as u8);
            let mut canvas = RgbImage::from_pixel(n, n, Rgb(fill));
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

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("animescore-decode-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn jpeg_bytes(rgb: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 92);
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif).unwrap();
    }
    encoder.write_image(rgb, rgb.width(), rgb.height(), image::ExtendedColorType::Rgb8).unwrap();
    out
}

fn encoded(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A big-endian TIFF block with one entry: Orientation (0x0112) = `value`.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&value.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    tiff
}

/// Tolerances of the SIMD resize against `image`'s `Triangle` (same filter, fixed point
/// instead of f32): measured 0.04–0.16 mean, 1 max on these pictures.
const RESIZE_MEAN: f64 = 0.25;
const RESIZE_MAX: u8 = 1;

#[test]
fn simd_resize_matches_the_previous_filter() {
    let source = textured(900, 1275, 7);
    for mode in [ResizeMode::Stretch, ResizeMode::Letterbox] {
        for size in [224, 97, 600] {
            let p = Preprocess::imagenet(size).with_mode(mode);
            let (mean, max) = difference(&p.fit(source.clone()), &previous_fit(&p, &source));
            eprintln!("resize {mode:?} {size}: mean {mean:.3} max {max}");
            assert!(mean <= RESIZE_MEAN && max <= RESIZE_MAX, "{mode:?} {size}: {mean} {max}");
        }
    }
    // Upscaling (tiny inputs) too.
    let small = textured(13, 7, 3);
    let p = Preprocess::imagenet(32);
    let (mean, max) = difference(&p.fit(small.clone()), &previous_fit(&p, &small));
    eprintln!("resize upscale: mean {mean:.3} max {max}");
    assert!(mean <= RESIZE_MEAN && max <= RESIZE_MAX, "upscale: {mean} {max}");
}

/// Tolerances of the reduced-scale JPEG decode + resize against the full decode + previous
/// resize: the DCT-domain reduction is itself a low-pass filter, not the bilinear one, so
/// single pixels on line art differ more; on average it stays near one level. Measured:
/// mean 0.47 (letterbox 224, 1/4 scale) to 1.35 (stretch 120, 1/8), 99th percentile 3–6,
/// max 13 of 255.
const SCALED_JPEG_MEAN: f64 = 1.5;
const SCALED_JPEG_P99: u8 = 8;

#[test]
fn reduced_scale_jpeg_stays_close_to_full_decode() {
    let dir = temp_dir("scaled");
    let source = textured(1000, 1400, 11);
    let path = dir.join("big.jpg");
    std::fs::write(&path, jpeg_bytes(&source, None)).unwrap();
    let full = image::open(&path).unwrap().into_rgb8();
    for (mode, size) in
        [(ResizeMode::Letterbox, 224), (ResizeMode::Stretch, 224), (ResizeMode::Stretch, 120)]
    {
        let p = Preprocess::imagenet(size).with_mode(mode);
        // The decode really is reduced: ≥ the output, < the stored size.
        let decoded = load_rgb(&path, |w, h| p.min_source_scale(w, h)).unwrap();
        assert!(decoded.width() < 1000 && decoded.width().max(decoded.height()) >= size as u32);
        let ours = p.load_rgb(&path).unwrap();
        let before = previous_fit(&p, &full);
        let (mean, _) = difference(&ours, &before);
        let mut diffs: Vec<u8> =
            ours.as_raw().iter().zip(before.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
        diffs.sort_unstable();
        let p99 = diffs[diffs.len() * 99 / 100];
        eprintln!(
            "scaled JPEG {mode:?} {size}: decoded {:?}, mean {mean:.3} p99 {p99} max {}",
            decoded.dimensions(),
            diffs[diffs.len() - 1]
        );
        assert!(
            mean <= SCALED_JPEG_MEAN && p99 <= SCALED_JPEG_P99,
            "{mode:?} {size}: mean {mean} p99 {p99}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Left half red, right half blue: after orientation 6 (rotate 90° clockwise) red is on top.
fn assert_red_on_top(image: &RgbImage, what: &str) {
    assert!(image.height() > image.width(), "{what}: {:?}", image.dimensions());
    let top = image.get_pixel(image.width() / 2, image.height() / 8);
    let bottom = image.get_pixel(image.width() / 2, image.height() * 7 / 8);
    assert!(top[0] > 200 && top[2] < 60, "{what}: top {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "{what}: bottom {bottom:?}");
}

#[test]
fn exif_orientation_is_applied_at_full_and_reduced_scale() {
    let dir = temp_dir("exif");
    let halves =
        RgbImage::from_fn(
            320,
            160,
            |x, _| if x < 160 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) },
        );
    let path = dir.join("rotated.jpg");
    std::fs::write(&path, jpeg_bytes(&halves, Some(exif_orientation(6)))).unwrap();
    assert_red_on_top(&load_image(&path).unwrap().into_rgb8(), "full");
    let reduced = load_rgb(&path, |_, _| 0.25).unwrap();
    assert_eq!(reduced.dimensions(), (40, 80));
    assert_red_on_top(&reduced, "reduced");
    // Through the preprocessing: stretched to a square, red still on top.
    let square = Preprocess::imagenet(16).load_rgb(&path).unwrap();
    assert!(square.get_pixel(8, 1)[0] > 200 && square.get_pixel(8, 14)[2] > 200);
    // Without EXIF the same file is left as stored.
    std::fs::write(&path, jpeg_bytes(&halves, None)).unwrap();
    assert_eq!(load_image(&path).unwrap().width(), 320);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Half transparent red over a fully transparent background.
fn transparent_sample() -> RgbaImage {
    RgbaImage::from_fn(8, 4, |x, _| if x < 4 { Rgba([0, 0, 0, 0]) } else { Rgba([255, 0, 0, 128]) })
}

fn assert_on_white(rgb: &RgbImage, what: &str) {
    assert_eq!(rgb.get_pixel(1, 1), &Rgb([255, 255, 255]), "{what}: transparent");
    // 255·128/255 + 255·127/255 = 255; 0·128/255 + 255·127/255 = 127.
    assert_eq!(rgb.get_pixel(6, 2), &Rgb([255, 127, 127]), "{what}: half transparent");
}

#[test]
fn transparency_is_composited_onto_white() {
    let rgba = DynamicImage::ImageRgba8(transparent_sample());
    let png = encoded(&rgba, image::ImageFormat::Png);
    assert_on_white(&decode_rgb(&png, |_, _| 1.0).unwrap(), "png");
    // In-memory images through `Preprocess::resize` too (8×4 stretched to 8×8: columns kept).
    assert_on_white(&Preprocess::imagenet(8).resize(&rgba), "resize");
    // 16-bit grey + alpha.
    let la16 =
        DynamicImage::ImageLumaA16(image::ImageBuffer::from_pixel(2, 2, image::LumaA([0u16, 0])));
    let png16 = encoded(&la16, image::ImageFormat::Png);
    assert_eq!(decode_rgb(&png16, |_, _| 1.0).unwrap().get_pixel(0, 0), &Rgb([255, 255, 255]));
}

#[test]
fn webp_decodes_lossless_and_with_alpha() {
    let dir = temp_dir("webp");
    let source = textured(48, 40, 5);
    let path = dir.join("picture.webp");
    std::fs::write(
        &path,
        encoded(&DynamicImage::ImageRgb8(source.clone()), image::ImageFormat::WebP),
    )
    .unwrap();
    assert_eq!(load_image(&path).unwrap().into_rgb8(), source);
    assert_eq!(Preprocess::imagenet(24).load_rgb(&path).unwrap().dimensions(), (24, 24));
    let alpha = encoded(&DynamicImage::ImageRgba8(transparent_sample()), image::ImageFormat::WebP);
    assert_on_white(&decode_rgb(&alpha, |_, _| 0.125).unwrap(), "webp");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The JPEG start-of-frame segment's height and width fields.
fn set_jpeg_size(jpeg: &mut [u8], width: u16, height: u16) {
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
}

#[test]
fn jpeg_size_limits_hold_on_the_reduced_path() {
    let mut bomb = jpeg_bytes(&textured(16, 16, 1), None);
    let side = (MAX_IMAGE_SIDE + 1) as u16;
    set_jpeg_size(&mut bomb, side, side);
    for scale in [1.0, 0.125] {
        let err = decode_rgb(&bomb, |_, _| scale).unwrap_err();
        assert!(err.contains("16384") || err.contains("limit"), "{scale}: {err}");
    }
    // 60 000 × 60 000 fits no limit either (under both side limits' u16 range).
    set_jpeg_size(&mut bomb, 60_000, 60_000);
    assert!(decode_rgb(&bomb, |_, _| 0.125).is_err());
    // A truncated JPEG is refused whatever the scale.
    let whole = jpeg_bytes(&textured(64, 64, 2), None);
    assert!(decode_rgb(&whole[..whole.len() / 2], |_, _| 0.125).is_err());
}
