//! Drawing explanations: a colour heat map blended over the image, and a label (score and
//! tier) in the top-left corner in a built-in 5×7 bitmap font (no font files needed).

use image::{Rgb, RgbImage};

use crate::heatmap::ImageHeat;

/// Overlays are enlarged (nearest neighbour, integer factor) until the shorter side reaches
/// this, so that the label stays legible on small images.
const MIN_OVERLAY_SIDE: u32 = 256;

/// Stops of the colour map (inferno-like: black → purple → red → orange → pale yellow).
const STOPS: [(f32, [f32; 3]); 5] = [
    (0.0, [0.0, 0.0, 4.0]),
    (0.25, [87.0, 16.0, 110.0]),
    (0.5, [188.0, 55.0, 84.0]),
    (0.75, [249.0, 142.0, 9.0]),
    (1.0, [252.0, 255.0, 164.0]),
];

/// The colour of a heat value in `0..=1`.
pub fn colormap(v: f32) -> [f32; 3] {
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    for pair in STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (pair[0], pair[1]);
        if v <= b {
            let t = (v - a) / (b - a);
            return [0, 1, 2].map(|c| ca[c] + t * (cb[c] - ca[c]));
        }
    }
    STOPS[STOPS.len() - 1].1
}

/// `image` with `heat` blended over it — the hotter, the more opaque — enlarged for small
/// images, with `label` in the top-left corner. `image` is the picture the heat map was made
/// for, at its size or smaller (each pixel takes the heat at its centre).
pub fn overlay(image: &RgbImage, heat: &ImageHeat, label: &str) -> RgbImage {
    let mut out = image.clone();
    let sx = heat.width() as f32 / out.width().max(1) as f32;
    let sy = heat.height() as f32 / out.height().max(1) as f32;
    for (x, y, px) in out.enumerate_pixels_mut() {
        let v = heat.at((x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy);
        let alpha = 0.15 + 0.6 * v.clamp(0.0, 1.0);
        let colour = colormap(v);
        *px = Rgb([0, 1, 2].map(|c| {
            (f32::from(px[c]) * (1.0 - alpha) + colour[c] * alpha).round().clamp(0.0, 255.0) as u8
        }));
    }
    let shorter = out.width().min(out.height()).max(1);
    let factor = MIN_OVERLAY_SIDE.div_ceil(shorter).max(1);
    if factor > 1 {
        out = image::imageops::resize(
            &out,
            out.width() * factor,
            out.height() * factor,
            image::imageops::FilterType::Nearest,
        );
    }
    draw_label(&mut out, label);
    out
}

/// White text on a dark box in the top-left corner, scaled with the image.
pub fn draw_label(image: &mut RgbImage, text: &str) {
    let scale = (image.width().min(image.height()) / 160).max(1);
    let (advance, pad) = (6 * scale, 2 * scale);
    let width = (text.chars().count() as u32 * advance + 2 * pad).min(image.width());
    let height = (7 * scale + 2 * pad).min(image.height());
    for y in 0..height {
        for x in 0..width {
            let px = image.get_pixel_mut(x, y);
            *px = Rgb(px.0.map(|v| (f32::from(v) * 0.25) as u8));
        }
    }
    for (i, ch) in text.chars().enumerate() {
        let rows = glyph(ch);
        let x0 = pad + i as u32 * advance;
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (x, y) = (x0 + col * scale + dx, pad + row as u32 * scale + dy);
                        if x < image.width() && y < image.height() {
                            image.put_pixel(x, y, Rgb([255, 255, 255]));
                        }
                    }
                }
            }
        }
    }
}

/// 5×7 bitmap of a character (rows top to bottom, bit 4 = leftmost column); letters are
/// drawn in capitals, unknown characters as `?`.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        ' ' => [0x00; 7],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormap_runs_dark_to_bright() {
        let lum = |c: [f32; 3]| c[0] + c[1] + c[2];
        let values: Vec<f32> = (0..=10).map(|i| lum(colormap(i as f32 / 10.0))).collect();
        assert!(values.windows(2).all(|w| w[1] >= w[0]), "{values:?}");
    }

    #[test]
    fn small_images_are_enlarged_and_labelled() {
        let img = RgbImage::from_pixel(64, 32, Rgb([128, 128, 128]));
        let grid = crate::heatmap::HeatMap::new(2, 2, vec![0.0, 1.0, 0.0, 1.0]).unwrap();
        let geometry = crate::heatmap::InputGeometry {
            image_width: 64,
            image_height: 32,
            size: 8,
            mode: animescore_backbones::ResizeMode::Stretch,
        };
        let heat = ImageHeat::new(grid, geometry);
        let out = overlay(&img, &heat, "72.3 GREAT");
        assert_eq!((out.width(), out.height()), (512, 256));
        // The label's box is darker than the image, with white text inside it.
        assert!(out.get_pixel(1, 1)[0] < 64);
        assert!(out.pixels().take(512 * 20).any(|p| p.0 == [255, 255, 255]));
    }
}
