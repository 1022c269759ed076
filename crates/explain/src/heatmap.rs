//! Heat maps: a grid of influence values over the model's input square, and its mapping back
//! onto the pixels of the original image (undoing the stretch or the letterbox).
//!
//! The map at the image's own size ([`ImageHeat`]) is computed row by row when it is drawn or
//! encoded, never held whole: for a 16000 × 16000 image it would be a gigabyte of `f32`.

use animescore_backbones::ResizeMode;

use crate::error::{ExplainError, Result};

/// Whether a map has anything to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapState {
    /// Values differ: the map shows where influence is.
    Ok,
    /// Every value is zero (or not finite): e.g. Grad-CAM clipped all evidence, because
    /// nothing in the image raises the score.
    AllZero,
    /// Every value is the same non-zero number: no place stands out.
    Flat,
}

impl MapState {
    /// The name in `explanations.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::AllZero => "all-zero",
            Self::Flat => "flat",
        }
    }
}

/// A row-major grid of non-negative influence values.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width · height` values, row by row.
    pub values: Vec<f32>,
}

impl HeatMap {
    /// A map from its values; errors when they do not fill `width × height`.
    pub fn new(width: usize, height: usize, values: Vec<f32>) -> Result<Self> {
        if width == 0 || height == 0 || values.len() != width * height {
            return Err(ExplainError::Shape(format!(
                "{} values for a {width}×{height} heat map",
                values.len()
            )));
        }
        Ok(Self { width, height, values })
    }

    /// The value of cell `(x, y)`.
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.values[y * self.width + x]
    }

    /// Bilinear sample at continuous coordinates in cell units (cell `i` spans `[i, i+1)`,
    /// its value sits at `i + 0.5`); outside the grid the nearest edge value holds.
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let (x0, x1, fx) = neighbours(x - 0.5, self.width);
        let (y0, y1, fy) = neighbours(y - 0.5, self.height);
        let top = self.get(x0, y0) * (1.0 - fx) + self.get(x1, y0) * fx;
        let bottom = self.get(x0, y1) * (1.0 - fx) + self.get(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// Whether the map has anything to show (a map without is black once normalised).
    pub fn state(&self) -> MapState {
        let finite = || self.values.iter().copied().filter(|v| v.is_finite());
        let lo = finite().fold(f32::INFINITY, f32::min);
        let hi = finite().fold(f32::NEG_INFINITY, f32::max);
        if !lo.is_finite() || (lo == 0.0 && hi == 0.0) {
            MapState::AllZero
        } else if hi > lo {
            MapState::Ok
        } else {
            MapState::Flat
        }
    }

    /// Values scaled to `0..=1` by min–max (a flat map becomes all zeros), non-finite values
    /// treated as 0: display maps and the ratio test compare *relative* influence.
    pub fn normalized(&self) -> HeatMap {
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        let lo = self.values.iter().copied().map(finite).fold(f32::INFINITY, f32::min);
        let hi = self.values.iter().copied().map(finite).fold(f32::NEG_INFINITY, f32::max);
        let range = hi - lo;
        let values = self
            .values
            .iter()
            .map(|&v| if range > 0.0 { (finite(v) - lo) / range } else { 0.0 })
            .collect();
        HeatMap { width: self.width, height: self.height, values }
    }

    /// Mean value of the cells where `inside(x, y)` holds and of the others (`NaN` for an
    /// empty side).
    pub fn mean_inside_outside(&self, inside: impl Fn(usize, usize) -> bool) -> (f64, f64) {
        let (mut sums, mut counts) = ([0.0f64; 2], [0usize; 2]);
        for y in 0..self.height {
            for x in 0..self.width {
                let side = usize::from(!inside(x, y));
                sums[side] += f64::from(self.get(x, y));
                counts[side] += 1;
            }
        }
        (sums[0] / counts[0] as f64, sums[1] / counts[1] as f64)
    }
}

/// A grid (over the model's input square) at the pixels of the original image, min–max
/// scaled to `0..=1` over all of them (non-finite values count as 0), each value computed
/// when asked for: [`row`](Self::row) by row, or [`at`](Self::at) any point.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageHeat {
    grid: HeatMap,
    geometry: InputGeometry,
    lo: f32,
    range: f32,
}

fn finite(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

impl ImageHeat {
    /// `grid` mapped onto the image that `geometry` describes (one pass over its pixels, row
    /// by row, finds the scale).
    pub fn new(grid: HeatMap, geometry: InputGeometry) -> Self {
        let mut heat = Self { grid, geometry, lo: 0.0, range: 0.0 };
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        let mut row = Vec::new();
        for y in 0..heat.height() {
            heat.raw_row(y, &mut row);
            for &v in &row {
                lo = lo.min(finite(v));
                hi = hi.max(finite(v));
            }
        }
        (heat.lo, heat.range) = (lo, hi - lo);
        heat
    }

    /// Columns: the image's width.
    pub fn width(&self) -> usize {
        self.geometry.image_width as usize
    }

    /// Rows: the image's height.
    pub fn height(&self) -> usize {
        self.geometry.image_height as usize
    }

    /// The grid the values come from.
    pub fn grid(&self) -> &HeatMap {
        &self.grid
    }

    /// The grid's value where the preprocessing put the image point `(x, y)` (pixel units;
    /// pixel `(i, j)` has its centre at `(i + 0.5, j + 0.5)`). Interpolation stays between
    /// the centres of cells inside the image's rectangle, so that the letterbox border does
    /// not bleed into the image's edge.
    fn raw_at(&self, x: f32, y: f32) -> f32 {
        let g = &self.geometry;
        let (sx, sy) =
            (self.grid.width as f32 / g.size as f32, self.grid.height as f32 / g.size as f32);
        let (x0, y0, cw, ch) = g.content();
        let inside = |c: f32, start: f32, len: f32, scale: f32| {
            let (lo, hi) = (start * scale + 0.5, (start + len) * scale - 0.5);
            if lo <= hi { c.clamp(lo, hi) } else { c }
        };
        let (u, v) = g.image_to_input(x, y);
        self.grid.sample(inside(u * sx, x0, cw, sx), inside(v * sy, y0, ch, sy))
    }

    fn raw_row(&self, y: usize, out: &mut Vec<f32>) {
        out.clear();
        out.extend((0..self.width()).map(|x| self.raw_at(x as f32 + 0.5, y as f32 + 0.5)));
    }

    fn scaled(&self, v: f32) -> f32 {
        if self.range > 0.0 { (finite(v) - self.lo) / self.range } else { 0.0 }
    }

    /// The `0..=1` value at the image point `(x, y)` (pixel units, as [`row`](Self::row)
    /// samples pixel centres): a smaller picture of the image samples the map here.
    pub fn at(&self, x: f32, y: f32) -> f32 {
        self.scaled(self.raw_at(x, y))
    }

    /// Row `y`, `0..=1`, into `out` (replacing its content).
    pub fn row(&self, y: usize, out: &mut Vec<f32>) {
        self.raw_row(y, out);
        out.iter_mut().for_each(|v| *v = self.scaled(*v));
    }

    /// The whole map in memory (for small images and tests).
    pub fn to_map(&self) -> HeatMap {
        let mut values = Vec::with_capacity(self.width() * self.height());
        let mut row = Vec::new();
        for y in 0..self.height() {
            self.row(y, &mut row);
            values.extend_from_slice(&row);
        }
        HeatMap { width: self.width(), height: self.height(), values }
    }

    /// The map as an 8-bit greyscale PNG (brighter = more influence), encoded row by row:
    /// memory holds one row and the compressed bytes, whatever the image's size.
    pub fn grey_png(&self) -> Result<Vec<u8>> {
        let fail = |e: png::EncodingError| ExplainError::Encode(e.to_string());
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, self.width() as u32, self.height() as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(fail)?;
        let mut stream = writer.stream_writer().map_err(fail)?;
        let (mut row, mut grey) = (Vec::new(), Vec::with_capacity(self.width()));
        for y in 0..self.height() {
            self.row(y, &mut row);
            grey.clear();
            grey.extend(row.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
            std::io::Write::write_all(&mut stream, &grey)
                .map_err(|e| ExplainError::Encode(e.to_string()))?;
        }
        stream.finish().map_err(fail)?;
        writer.finish().map_err(fail)?;
        Ok(bytes)
    }
}

/// The two cells around a continuous coordinate and the weight of the second.
fn neighbours(c: f32, len: usize) -> (usize, usize, f32) {
    let last = len.saturating_sub(1) as f32;
    let c = c.clamp(0.0, last);
    let i0 = c.floor() as usize;
    let i1 = (i0 + 1).min(len - 1);
    (i0, i1, c - i0 as f32)
}

/// How an image of `image_width × image_height` became the model's `size × size` input (the
/// same arithmetic as [`animescore_backbones::Preprocess::resize`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputGeometry {
    /// Original width in pixels.
    pub image_width: u32,
    /// Original height in pixels.
    pub image_height: u32,
    /// Side of the model's input square.
    pub size: usize,
    /// Stretch or letterbox.
    pub mode: ResizeMode,
}

impl InputGeometry {
    /// The rectangle of the input square that the image covers: `(x0, y0, width, height)`;
    /// the rest is letterbox border.
    pub fn content(&self) -> (f32, f32, f32, f32) {
        let n = self.size as u32;
        let (w, h) = (self.image_width.max(1), self.image_height.max(1));
        if self.mode == ResizeMode::Stretch || (w == n && h == n) {
            return (0.0, 0.0, n as f32, n as f32);
        }
        let scale = f64::from(n) / f64::from(w.max(h));
        let cw = ((f64::from(w) * scale).round() as u32).clamp(1, n);
        let ch = ((f64::from(h) * scale).round() as u32).clamp(1, n);
        // The preprocessing pastes the image at integer offsets.
        (((n - cw) / 2) as f32, ((n - ch) / 2) as f32, cw as f32, ch as f32)
    }

    /// Where a point of the image (pixel units) lands in the input square.
    pub fn image_to_input(&self, x: f32, y: f32) -> (f32, f32) {
        let (x0, y0, cw, ch) = self.content();
        (
            x0 + x * cw / self.image_width.max(1) as f32,
            y0 + y * ch / self.image_height.max(1) as f32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use animescore_backbones::Preprocess;
    use image::{DynamicImage, Rgb, RgbImage};

    #[test]
    fn sizes_are_checked_and_normalisation_is_min_max() {
        assert!(HeatMap::new(2, 2, vec![0.0; 3]).is_err());
        let m = HeatMap::new(2, 1, vec![2.0, 4.0]).unwrap().normalized();
        assert_eq!(m.values, vec![0.0, 1.0]);
        let flat = HeatMap::new(2, 1, vec![3.0, 3.0]).unwrap().normalized();
        assert_eq!(flat.values, vec![0.0, 0.0]);
    }

    #[test]
    fn empty_maps_are_told_apart() {
        let state = |v: Vec<f32>| HeatMap::new(v.len(), 1, v).unwrap().state();
        assert_eq!(state(vec![0.0, 0.0, 0.0]), MapState::AllZero);
        assert_eq!(state(vec![0.0, f32::NAN]), MapState::AllZero);
        assert_eq!(state(vec![0.5, 0.5]), MapState::Flat);
        assert_eq!(state(vec![0.0, 0.25]), MapState::Ok);
        assert_eq!(state(vec![0.0, f32::NAN, 0.25]), MapState::Ok);
    }

    /// A bright spot in a wide image, letterboxed: the map that is hot exactly where the
    /// preprocessed input is bright must come back hot where the original is bright, and the
    /// border must not appear in the result.
    #[test]
    fn letterbox_is_undone() {
        let (w, h, n) = (120u32, 60u32, 32usize);
        let mut img = RgbImage::from_pixel(w, h, Rgb([0, 0, 0]));
        for y in 20..40 {
            for x in 90..110 {
                img.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        let pre = Preprocess::imagenet(n).with_mode(ResizeMode::Letterbox);
        let input = pre.resize(&DynamicImage::ImageRgb8(img));
        // Heat over the input square = brightness of the preprocessed input.
        let heat: Vec<f32> = input.pixels().map(|p| f32::from(p[0]) / 255.0).collect();
        let heat = HeatMap::new(n, n, heat).unwrap();
        let geometry =
            InputGeometry { image_width: w, image_height: h, size: n, mode: ResizeMode::Letterbox };
        let back = ImageHeat::new(heat, geometry).to_map();
        assert_eq!((back.width, back.height), (w as usize, h as usize));
        let (inside, outside) =
            back.mean_inside_outside(|x, y| (90..110).contains(&x) && (20..40).contains(&y));
        assert!(inside > 0.6 && outside < 0.05, "inside {inside} outside {outside}");
        // The letterbox border (mean colour ≈ 0.45 brightness) left no trace at the top rows.
        assert!(back.values[..w as usize].iter().all(|&v| v < 0.05));
    }

    #[test]
    fn stretch_maps_corners_to_corners() {
        let g = InputGeometry {
            image_width: 200,
            image_height: 100,
            size: 50,
            mode: ResizeMode::Stretch,
        };
        assert_eq!(g.image_to_input(0.0, 0.0), (0.0, 0.0));
        assert_eq!(g.image_to_input(200.0, 100.0), (50.0, 50.0));
        let g = InputGeometry { mode: ResizeMode::Letterbox, ..g };
        assert_eq!(g.content(), (0.0, 12.0, 50.0, 25.0));
    }
}
