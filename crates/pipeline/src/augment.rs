//! Random zoom, rotation and horizontal flip of a resized image, fused with normalisation.
//!
//! Applied after the resize, as Keras' preprocessing layers act on the resized batch: one
//! inverse affine map per image, bilinear sampling, and the mean colour (0 after
//! normalisation, like the letterbox border) outside the source. The input is the `u8` RGB
//! image that the image cache stores, so an epoch over cached images costs one pass per
//! image: sample, normalise, write channel-first.

use animescore_backbones::Preprocess;
use rand::Rng;

use animescore_run::AugmentConfig;

/// One draw of the augmentations: mirror, then zoom by `scale` (> 1 zooms in) and rotate by
/// `angle` radians about the centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Mirror left–right.
    pub flip: bool,
    /// Zoom factor.
    pub scale: f64,
    /// Rotation in radians.
    pub angle: f64,
}

impl Affine {
    /// No change.
    pub const IDENTITY: Self = Self { flip: false, scale: 1.0, angle: 0.0 };

    /// A random draw from `config`.
    pub fn draw(config: &AugmentConfig, rng: &mut impl Rng) -> Self {
        let flip = config.flip && rng.random_bool(0.5);
        let zoom =
            if config.zoom > 0.0 { rng.random_range(-config.zoom..config.zoom) } else { 0.0 };
        let angle = if config.rotation > 0.0 {
            rng.random_range(-config.rotation..config.rotation) * std::f64::consts::TAU
        } else {
            0.0
        };
        Self { flip, scale: 1.0 + zoom, angle }
    }

    /// Whether this draw changes nothing.
    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }
}

/// The normalised, channel-first (`3 · size · size`) image of a resized `size × size` RGB
/// image (interleaved `u8`) under `affine`.
///
/// Output pixel `p` samples the source at `R(-angle)·(p − c)/scale + c`, mirrored first
/// when `flip`.
pub fn render(rgb: &[u8], preprocess: &Preprocess, affine: Affine) -> Vec<f32> {
    if affine.is_identity() {
        return preprocess.normalize(rgb);
    }
    let size = preprocess.size;
    let plane = size * size;
    let (scale, shift) = preprocess.affine();
    // Outside the source: the mean colour, which normalises to 0.
    let mut out = vec![0.0f32; 3 * plane];
    let c = (size as f64 - 1.0) / 2.0;
    let (sin, cos) = (-affine.angle).sin_cos();
    // Source coordinates are affine in x: step along a row instead of recomputing.
    let dx_step = if affine.flip { -1.0 } else { 1.0 } / affine.scale;
    let (step_x, step_y) = ((cos * dx_step) as f32, (sin * dx_step) as f32);
    let max = size as f32 - 1.0;
    let inner = size as f32 - 2.0;
    for y in 0..size {
        let x0 = if affine.flip { size as f64 - 1.0 } else { 0.0 };
        let (dx, dy) = ((x0 - c) / affine.scale, (y as f64 - c) / affine.scale);
        let mut sx = (cos * dx - sin * dy + c) as f32;
        let mut sy = (sin * dx + cos * dy + c) as f32;
        for x in 0..size {
            let px = if sx >= 0.0 && sy >= 0.0 && sx < inner && sy < inner {
                // All four taps inside: the common case, without per-tap checks.
                bilinear_inside(rgb, size, sx, sy)
            } else if sx > -1.0 && sy > -1.0 && sx < max + 1.0 && sy < max + 1.0 {
                bilinear(rgb, size, sx, sy, preprocess.mean)
            } else {
                sx += step_x;
                sy += step_y;
                continue;
            };
            let i = y * size + x;
            for ch in 0..3 {
                out[ch * plane + i] = px[ch] * scale[ch] + shift[ch];
            }
            sx += step_x;
            sy += step_y;
        }
    }
    out
}

/// [`bilinear`] for `0 ≤ x, y < size − 2`, where every tap is inside the image.
#[inline]
fn bilinear_inside(rgb: &[u8], size: usize, x: f32, y: f32) -> [f32; 3] {
    let (xi, yi) = (x as usize, y as usize);
    let (fx, fy) = (x - xi as f32, y - yi as f32);
    let top = (yi * size + xi) * 3;
    let bottom = top + size * 3;
    let (a, b) = (&rgb[top..top + 6], &rgb[bottom..bottom + 6]);
    let mut px = [0.0f32; 3];
    for ch in 0..3 {
        let (p00, p01) = (f32::from(a[ch]), f32::from(a[ch + 3]));
        let (p10, p11) = (f32::from(b[ch]), f32::from(b[ch + 3]));
        let t = p00 + (p01 - p00) * fx;
        let u = p10 + (p11 - p10) * fx;
        px[ch] = t + (u - t) * fy;
    }
    px
}

/// Bilinear sample of an interleaved RGB image at `(x, y)`, in byte units; taps outside the
/// image count as the mean colour.
fn bilinear(rgb: &[u8], size: usize, x: f32, y: f32, mean: [f32; 3]) -> [f32; 3] {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (xi, yi) = (x0 as isize, y0 as isize);
    let fill = mean.map(|m| m * 255.0);
    let tap = |xx: isize, yy: isize| -> [f32; 3] {
        if xx < 0 || yy < 0 || xx >= size as isize || yy >= size as isize {
            return fill;
        }
        let o = (yy as usize * size + xx as usize) * 3;
        [f32::from(rgb[o]), f32::from(rgb[o + 1]), f32::from(rgb[o + 2])]
    };
    let (a, b, c, d) = (tap(xi, yi), tap(xi + 1, yi), tap(xi, yi + 1), tap(xi + 1, yi + 1));
    let mut px = [0.0f32; 3];
    for ch in 0..3 {
        let top = a[ch] + (b[ch] - a[ch]) * fx;
        let bottom = c[ch] + (d[ch] - c[ch]) * fx;
        px[ch] = top + (bottom - top) * fy;
    }
    px
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// `size × size` RGB whose red channel is the column index.
    fn ramp(size: usize) -> Vec<u8> {
        (0..size * size).flat_map(|i| [(i % size) as u8, 7, 9]).collect()
    }

    /// Mean 0, std 1/255: normalised values are the bytes themselves.
    fn raw(size: usize) -> Preprocess {
        Preprocess { size, mean: [0.0; 3], std: [1.0 / 255.0; 3], mode: Default::default() }
    }

    #[test]
    fn identity_flip_and_quarter_turn() {
        let size = 4;
        let (img, p) = (ramp(size), raw(size));
        let plain = render(&img, &p, Affine::IDENTITY);
        assert_eq!(&plain[..4], &[0.0, 1.0, 2.0, 3.0]);
        let flipped = render(&img, &p, Affine { flip: true, ..Affine::IDENTITY });
        assert_eq!(&flipped[..4], &[3.0, 2.0, 1.0, 0.0]);
        assert_eq!(flipped[16], 7.0, "green plane");
        // A quarter turn maps the x ramp onto a y ramp (exact at integer pixels).
        let turned =
            render(&img, &p, Affine { angle: std::f64::consts::FRAC_PI_2, ..Affine::IDENTITY });
        let column: Vec<f32> = (0..size).map(|y| turned[y * size]).collect();
        let row: Vec<f32> = (0..size).map(|x| turned[x]).collect();
        assert!(row.windows(2).all(|w| (w[0] - w[1]).abs() < 1e-4), "{row:?}");
        assert!(column.windows(2).all(|w| (w[1] - w[0]).abs() > 0.99), "{column:?}");
    }

    #[test]
    fn zoom_out_leaves_mean_border() {
        let size = 8;
        let img = vec![200u8; 3 * size * size];
        let p = Preprocess::imagenet(size);
        let out = render(&img, &p, Affine { scale: 0.5, ..Affine::IDENTITY });
        assert_eq!(out[0], 0.0, "corner is outside the shrunken source: the mean colour");
        let inside = p.normalize(&img)[3 * size + 3];
        assert!((out[3 * size + 3] - inside).abs() < 1e-5, "centre keeps the image");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let aug = render(&img, &p, Affine::draw(&AugmentConfig::default(), &mut rng));
        assert_eq!(aug.len(), 3 * size * size);
        assert!(aug.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn matches_sampling_each_pixel_directly() {
        // The row-stepping must agree with the per-pixel formula.
        let size = 16;
        let img: Vec<u8> = (0..3 * size * size).map(|i| (i * 37 % 251) as u8).collect();
        let p = raw(size);
        let affine = Affine { flip: true, scale: 1.13, angle: 0.37 };
        let fast = render(&img, &p, affine);
        let c = (size as f64 - 1.0) / 2.0;
        let (sin, cos) = (-affine.angle).sin_cos();
        for y in 0..size {
            for x in 0..size {
                let xf = (size - 1 - x) as f64;
                let (dx, dy) = ((xf - c) / affine.scale, (y as f64 - c) / affine.scale);
                let sx = (cos * dx - sin * dy + c) as f32;
                let sy = (sin * dx + cos * dy + c) as f32;
                let want = bilinear(&img, size, sx, sy, p.mean)[0];
                let got = fast[y * size + x];
                assert!((got - want).abs() < 0.05, "({x},{y}): {got} vs {want}");
            }
        }
    }
}
