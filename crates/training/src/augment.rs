//! Random zoom, rotation and horizontal flip of a preprocessed image.
//!
//! Applied to the normalised channel-first buffer after the resize, as Keras' preprocessing
//! layers act on the resized batch: one inverse affine map per image, bilinear sampling, and
//! 0 (the mean colour after normalisation, like the letterbox border) outside the source.

use rand::Rng;

use crate::config::AugmentConfig;

/// Augments a `3 × size × size` normalised image in place of a copy.
pub fn augment(chw: &[f32], size: usize, config: &AugmentConfig, rng: &mut impl Rng) -> Vec<f32> {
    let flip = config.flip && rng.random_bool(0.5);
    let zoom = if config.zoom > 0.0 { rng.random_range(-config.zoom..config.zoom) } else { 0.0 };
    let angle = if config.rotation > 0.0 {
        rng.random_range(-config.rotation..config.rotation) * std::f64::consts::TAU
    } else {
        0.0
    };
    transform(chw, size, flip, 1.0 + zoom, angle)
}

/// Output pixel `p` samples the source at `R(-angle)·(p − c)/scale + c`, mirrored first when
/// `flip`. `scale > 1` zooms in.
pub fn transform(chw: &[f32], size: usize, flip: bool, scale: f64, angle: f64) -> Vec<f32> {
    let plane = size * size;
    if !flip && scale == 1.0 && angle == 0.0 {
        return chw.to_vec();
    }
    let mut out = vec![0.0f32; chw.len()];
    let c = (size as f64 - 1.0) / 2.0;
    let (sin, cos) = (-angle).sin_cos();
    for y in 0..size {
        for x in 0..size {
            let xf = (if flip { size - 1 - x } else { x }) as f64;
            let (dx, dy) = ((xf - c) / scale, (y as f64 - c) / scale);
            let sx = cos * dx - sin * dy + c;
            let sy = sin * dx + cos * dy + c;
            for ch in 0..3 {
                out[ch * plane + y * size + x] =
                    bilinear(&chw[ch * plane..(ch + 1) * plane], size, sx, sy);
            }
        }
    }
    out
}

fn bilinear(plane: &[f32], size: usize, x: f64, y: f64) -> f32 {
    let max = size as f64 - 1.0;
    if !(x > -1.0 && y > -1.0 && x < max + 1.0 && y < max + 1.0) {
        return 0.0;
    }
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
    let at = |xi: f64, yi: f64| {
        if xi < 0.0 || yi < 0.0 || xi > max || yi > max {
            0.0
        } else {
            plane[yi as usize * size + xi as usize]
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
    let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp(size: usize) -> Vec<f32> {
        (0..3 * size * size).map(|i| (i % size) as f32).collect()
    }

    #[test]
    fn identity_flip_and_quarter_turn() {
        let size = 4;
        let img = ramp(size);
        assert_eq!(transform(&img, size, false, 1.0, 0.0), img);
        let flipped = transform(&img, size, true, 1.0, 0.0);
        assert_eq!(&flipped[..4], &[3.0, 2.0, 1.0, 0.0]);
        // A quarter turn maps the x ramp onto a y ramp (exact at integer pixels).
        let turned = transform(&img, size, false, 1.0, std::f64::consts::FRAC_PI_2);
        let column: Vec<f32> = (0..size).map(|y| turned[y * size]).collect();
        let row: Vec<f32> = (0..size).map(|x| turned[x]).collect();
        assert!(row.windows(2).all(|w| (w[0] - w[1]).abs() < 1e-4), "{row:?}");
        assert!(column.windows(2).all(|w| (w[1] - w[0]).abs() > 0.99), "{column:?}");
    }

    #[test]
    fn zoom_out_leaves_mean_border() {
        let size = 8;
        let img = vec![1.0f32; 3 * size * size];
        let out = transform(&img, size, false, 0.5, 0.0);
        assert_eq!(out[0], 0.0, "corner is outside the shrunken source");
        assert!((out[3 * size + 3] - 1.0).abs() < 1e-6, "centre keeps the image");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let aug = augment(&img, size, &AugmentConfig::default(), &mut rng);
        assert_eq!(aug.len(), img.len());
        assert!(aug.iter().all(|v| (0.0..=1.0 + 1e-6).contains(v)));
    }
}
