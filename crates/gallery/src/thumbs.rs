//! Thumbnails as `data:` URIs (downscaled JPEG, base64), so the page needs no other file.

use std::path::Path;

use animescore_backbones::load_image;
use image::ImageFormat;
use image::imageops::FilterType;

/// A `data:image/jpeg;base64,…` thumbnail whose longer side is at most `max_side`.
pub fn thumbnail_uri(path: &Path, max_side: u32) -> Result<String, String> {
    let image = load_image(path).map_err(|e| e.to_string())?;
    // Transparent pixels composited onto white, as they are shown elsewhere.
    let thumb = image.resize(max_side, max_side, FilterType::Triangle).to_rgba8();
    let rgb = image::RgbImage::from_fn(thumb.width(), thumb.height(), |x, y| {
        let p = thumb.get_pixel(x, y).0;
        let a = f32::from(p[3]) / 255.0;
        image::Rgb([0, 1, 2].map(|c| (f32::from(p[c]) * a + 255.0 * (1.0 - a)).round() as u8))
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    rgb.write_to(&mut bytes, ImageFormat::Jpeg).map_err(|e| e.to_string())?;
    Ok(format!("data:image/jpeg;base64,{}", base64(bytes.get_ref())))
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
