//! Synthetic probe images whose score depends on one known region, for testing attribution:
//! a bright disc at a random position on a dark, noisy background (drawn the way
//! `animescore_dataset::synthesize` draws its discs); the score is the disc's brightness. An
//! attribution method that works must put its heat on the disc. [`centred_probe_image`] puts
//! the disc in the middle of every image: a score that depends on a central region.

use image::{Rgb, RgbImage};
use rand::Rng;

/// The disc of a probe image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Centre column.
    pub cx: f32,
    /// Centre row.
    pub cy: f32,
    /// Radius.
    pub radius: f32,
}

impl Region {
    /// Whether pixel `(x, y)` (its centre) lies in the disc.
    pub fn contains(&self, x: usize, y: usize) -> bool {
        let (dx, dy) = (x as f32 + 0.5 - self.cx, y as f32 + 0.5 - self.cy);
        dx * dx + dy * dy < self.radius * self.radius
    }
}

/// One probe image, its region and its score (1..100).
#[derive(Debug, Clone)]
pub struct ProbeImage {
    /// The pixels.
    pub image: RgbImage,
    /// Where the score comes from.
    pub region: Region,
    /// Target score, 1..100, linear in the disc's brightness.
    pub score: f32,
}

/// Draws a `size × size` probe image, its disc at a random position.
pub fn probe_image(size: u32, rng: &mut impl Rng) -> ProbeImage {
    let s = size as f32;
    let radius = s * 0.12;
    let cx = rng.random_range(radius..s - radius);
    let cy = rng.random_range(radius..s - radius);
    draw(size, Region { cx, cy, radius }, rng)
}

/// Draws a `size × size` probe image whose disc (a sixth of the side in radius) sits in the
/// centre.
pub fn centred_probe_image(size: u32, rng: &mut impl Rng) -> ProbeImage {
    let s = size as f32;
    draw(size, Region { cx: s / 2.0, cy: s / 2.0, radius: s / 6.0 }, rng)
}

/// A probe image with its disc at `region`.
fn draw(size: u32, region: Region, rng: &mut impl Rng) -> ProbeImage {
    let s = size as f32;
    let brightness: f32 = rng.random_range(0.0..1.0);
    let disc = (90.0 + 165.0 * brightness) as i16;
    let bg =
        [rng.random_range(20..70i16), rng.random_range(20..70i16), rng.random_range(20..70i16)];
    let mut image = RgbImage::new(size, size);
    for (x, y, px) in image.enumerate_pixels_mut() {
        let shade = (y as f32 / s * 20.0) as i16;
        let base =
            if region.contains(x as usize, y as usize) { [disc; 3] } else { bg.map(|v| v + shade) };
        let noise = rng.random_range(-8i16..=8);
        *px = Rgb(base.map(|v| (v + noise).clamp(0, 255) as u8));
    }
    ProbeImage { image, region, score: 1.0 + 99.0 * brightness }
}
