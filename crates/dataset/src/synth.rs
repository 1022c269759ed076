//! A synthetic gallery-dl-shaped dataset whose popularity depends on what is visible in the
//! image and on its metadata, so that the models have something real to learn.
//!
//! Each artwork shows a disc on a textured background. Bigger and warmer discs are more
//! popular; AI-generated artworks carry a diagonal stripe texture and are a little less popular;
//! the sanity level is drawn as a magenta frame (thicker = higher level); each known character
//! is a coloured square in the top-left corner, and some characters are more popular than
//! others. Bookmarks and views follow from that with log-normal noise, and older uploads
//! collect more views. The metadata files vary the way gallery-dl's do (tags as strings or
//! objects, nulls, `.jpg.json` beside `.png`, multi-page artworks, tags with commas).

use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::json;

use crate::characters::ORIGINAL;
use crate::error::{DatasetError, Result};
use crate::write_atomic;

/// Characters of the synthetic world: (Danbooru name, Pixiv tag, corner colour, popularity boost).
pub const SYNTH_CHARACTERS: [(&str, &str, [u8; 3], f64); 5] = [
    ("hatsune_miku", "初音ミク", [40, 200, 190], 0.6),
    ("hakurei_reimu", "博麗霊夢", [220, 30, 40], 0.3),
    ("kirisame_marisa", "霧雨魔理沙", [240, 210, 40], 0.0),
    ("gawr_gura", "がうる・ぐら", [60, 90, 230], 0.45),
    ("frieren", "フリーレン", [235, 235, 235], 0.8),
];

/// Settings of [`synthesize`].
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of images (pages) to write.
    pub count: usize,
    /// Random seed; the same seed gives the same dataset.
    pub seed: u64,
    /// Image side in pixels.
    pub size: u32,
}

/// What [`synthesize`] wrote.
#[derive(Debug, Clone)]
pub struct SynthReport {
    /// Images written.
    pub images: usize,
    /// Distinct artworks.
    pub artworks: usize,
    /// The character-alias CSV written beside the data (`character_aliases.csv`).
    pub aliases: PathBuf,
}

/// One synthetic artwork page.
struct Page {
    id: i64,
    num: usize,
    pages: usize,
    seed: u64,
}

/// Image sides [`synthesize`] accepts, in pixels.
pub const SYNTH_SIZE_RANGE: std::ops::RangeInclusive<u32> = 16..=4096;
/// Most images [`synthesize`] writes in one call.
pub const MAX_SYNTH_COUNT: usize = 1_000_000;
/// Added to every synthetic artwork id, so that none can be a real Pixiv id (those are below
/// 200 million in 2026): a synthetic file mixed into a real dataset never replaces a real row.
pub const SYNTH_ID_OFFSET: i64 = 1_000_000_000_000;

/// Marks a folder written by [`synthesize`]: only such a folder (or a missing or empty one) is
/// written into, so the user's files are never overwritten.
pub const SYNTH_MARKER: &str = ".animescore-synth";

/// Writes `opts.count` images with metadata under `dir` in the sharded gallery-dl layout.
/// `dir` must be missing, empty, or an earlier synthetic dataset (then the same seed rewrites
/// the same files and a larger count adds more).
pub fn synthesize(dir: &Path, opts: &SynthOptions) -> Result<SynthReport> {
    check_options(opts)?;
    let occupied = std::fs::read_dir(dir).map(|mut e| e.next().is_some()).unwrap_or(false);
    let marker = dir.join(SYNTH_MARKER);
    if occupied && !marker.is_file() {
        return Err(DatasetError::InvalidArgument {
            name: "dir",
            reason: format!(
                "{} is not empty and not a synthetic dataset; synth writes into a new or empty \
                 folder only",
                dir.display()
            ),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| DatasetError::io(dir, e))?;
    write_atomic(&marker, b"written by animescore synth\n")?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut pages = Vec::with_capacity(opts.count);
    let mut id: i64 = 90_000_000 + rng.random_range(0..1_000_000);
    let mut artworks = 0;
    while pages.len() < opts.count {
        // The content of an artwork is seeded by its id below the offset (see `write_page`).
        id += rng.random_range(1..5_000);
        let n = if rng.random_bool(0.15) { 2 } else { 1 };
        let n = n.min(opts.count - pages.len());
        artworks += 1;
        for num in 0..n {
            pages.push(Page { id: SYNTH_ID_OFFSET + id, num, pages: n, seed: rng.random() });
        }
    }
    pages.par_iter().try_for_each(|p| write_page(dir, p, opts.size))?;
    let aliases = dir.join("character_aliases.csv");
    let mut csv = String::from("name,other_names,danbooru_post_count\n");
    for (i, (name, tag, _, _)) in SYNTH_CHARACTERS.iter().enumerate() {
        csv.push_str(&format!("{name},\"{tag},{tag}ちゃん\",{}\n", 1000 * (i + 1)));
    }
    write_atomic(&aliases, csv.as_bytes())?;
    Ok(SynthReport { images: pages.len(), artworks, aliases })
}

fn check_options(opts: &SynthOptions) -> Result<()> {
    if !SYNTH_SIZE_RANGE.contains(&opts.size) {
        return Err(DatasetError::InvalidArgument {
            name: "size",
            reason: format!(
                "{} px is outside {}..={}",
                opts.size,
                SYNTH_SIZE_RANGE.start(),
                SYNTH_SIZE_RANGE.end()
            ),
        });
    }
    if opts.count > MAX_SYNTH_COUNT {
        return Err(DatasetError::InvalidArgument {
            name: "count",
            reason: format!("{} images is above the limit of {MAX_SYNTH_COUNT}", opts.count),
        });
    }
    Ok(())
}

fn write_page(dir: &Path, page: &Page, size: u32) -> Result<()> {
    // Everything about an artwork comes from its id, so all its pages share stats.
    let mut art = ChaCha8Rng::seed_from_u64((page.id - SYNTH_ID_OFFSET) as u64);
    let radius = art.random_range(0.12..0.45_f64);
    let warmth = art.random_range(0.0..1.0_f64);
    let ai = art.random_bool(0.2);
    let sanity = match art.random_range(0..10) {
        0..=5 => 2,
        6..=8 => 4,
        _ => 6,
    };
    let character = art.random_bool(0.6).then(|| art.random_range(0..SYNTH_CHARACTERS.len()));
    let age_days = art.random_range(1.0..900.0_f64);

    let quality = 0.6 * (radius - 0.12) / 0.33 + 0.4 * warmth;
    let boost = character.map_or(0.0, |c| SYNTH_CHARACTERS[c].3)
        + if sanity == 4 { 0.3 } else { 0.0 }
        - if ai { 0.4 } else { 0.0 };
    let noise: f64 = gaussian(&mut art) * 0.25;
    let log_bookmarks = 1.0 + 7.0 * quality + boost + noise;
    let bookmarks = log_bookmarks.exp().floor().max(0.0) as i64;
    let ratio = (-2.6 + 0.5 * quality + 0.2 * gaussian(&mut art)).exp();
    let age_factor = 1.0 + 0.3 * (age_days / 900.0);
    let views = ((bookmarks as f64 / ratio) * age_factor).floor() as i64;

    let mut rng = ChaCha8Rng::seed_from_u64(page.seed);
    let img = draw(size, radius, warmth, ai, sanity, character, &mut rng);
    let shard =
        dir.join((page.id - SYNTH_ID_OFFSET).to_string().chars().take(2).collect::<String>());
    std::fs::create_dir_all(&shard).map_err(|e| DatasetError::io(&shard, e))?;
    let base = format!("{}_p{}", page.id, page.num);
    // Most images were saved as PNG by the user's resize step, some stayed JPEG.
    let as_jpeg = rng.random_bool(0.1);
    let original_ext = if as_jpeg || rng.random_bool(0.5) { "jpg" } else { "png" };
    let image_path = shard.join(format!("{base}.{}", if as_jpeg { "jpg" } else { "png" }));
    write_image_atomic(&img, &image_path)?;

    let upload = NaiveDate::from_ymd_opt(2024, 6, 1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .unwrap_or_default()
        - Duration::seconds((age_days * 86_400.0) as i64);
    let mut tags: Vec<String> =
        vec![if character.is_some() { "二次創作" } else { ORIGINAL }.to_string(), "女の子".into()];
    if let Some(c) = character {
        tags.push(SYNTH_CHARACTERS[c].1.to_string());
    }
    if ai {
        tags.push(if rng.random_bool(0.5) { "AIイラスト" } else { "NovelAI" }.to_string());
    }
    if quality > 0.7 {
        tags.push("10000users入り".into());
    }
    if rng.random_bool(0.1) {
        tags.push("Fate/Grand Order, 水着".into());
    }
    let as_objects = rng.random_bool(0.3);
    let tags_json: Vec<serde_json::Value> = tags
        .iter()
        .map(|t| if as_objects { json!({"name": t, "translated_name": null}) } else { json!(t) })
        .collect();
    let rating = match sanity {
        2 => "General",
        4 => "General",
        _ => "R-18",
    };
    let meta = json!({
        "id": page.id,
        "title": format!("synthetic {}", page.id),
        "type": "illust",
        "caption": "",
        "restrict": 0,
        "user": {"id": 1000 + (page.id - SYNTH_ID_OFFSET) % 97, "name": "synth", "account": "synth_account"},
        "tags": tags_json,
        "tools": ["CLIP STUDIO PAINT"],
        "create_date": (upload + Duration::hours(9)).format("%Y-%m-%dT%H:%M:%S+09:00").to_string(),
        "page_count": page.pages,
        "width": size,
        "height": size,
        "sanity_level": sanity,
        "x_restrict": if sanity >= 6 { 1 } else { 0 },
        "series": null,
        "total_view": views,
        "total_bookmarks": bookmarks,
        "is_bookmarked": false,
        "visible": true,
        "is_muted": false,
        "illust_ai_type": if ai { 2 } else if rng.random_bool(0.5) { 1 } else { 0 },
        "illust_book_style": 0,
        "request": null,
        "num": page.num,
        "date": upload.format("%Y-%m-%d %H:%M:%S").to_string(),
        "rating": rating,
        "suffix": if page.num == 0 { String::new() } else { format!("_p{}", page.num) },
        "category": "pixiv",
        "subcategory": "search",
        "url": format!("https://i.pximg.net/img-original/img/{}_p{}.{original_ext}", page.id, page.num),
        "date_url": null,
        "filename": base,
        "extension": original_ext,
    });
    let json_path = shard.join(format!("{base}.{original_ext}.json"));
    let text = serde_json::to_string_pretty(&meta).unwrap_or_default();
    write_atomic(&json_path, text.as_bytes())
}

fn draw(
    size: u32,
    radius: f64,
    warmth: f64,
    ai: bool,
    sanity: i64,
    character: Option<usize>,
    rng: &mut ChaCha8Rng,
) -> RgbImage {
    let s = size as f64;
    let bg =
        [rng.random_range(40..120u8), rng.random_range(40..120u8), rng.random_range(40..120u8)];
    let disc = [(255.0 * warmth) as u8, 80, (255.0 * (1.0 - warmth)) as u8];
    let (cx, cy) = (s * rng.random_range(0.4..0.6), s * rng.random_range(0.4..0.6));
    let frame = match sanity {
        2 => 0.0,
        4 => s * 0.04,
        _ => s * 0.09,
    };
    let mut img = RgbImage::new(size, size);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
        let shade = (fy / s * 30.0) as i16;
        let mut c = bg.map(|v| (v as i16 + shade).clamp(0, 255) as u8);
        if ai && ((x + y) / 2) % 3 == 0 {
            c = [c[0].saturating_add(60), c[1].saturating_add(60), c[2].saturating_add(60)];
        }
        if ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt() < radius * s {
            c = disc;
        }
        if fx < frame || fy < frame || fx > s - frame || fy > s - frame {
            c = [230, 40, 200];
        }
        if let Some(ch) = character
            && fx < s * 0.22
            && fy < s * 0.22
            && fx > s * 0.1
            && fy > s * 0.1
        {
            c = SYNTH_CHARACTERS[ch].2;
        }
        // Sensor-like noise so that images are not trivially compressible.
        let n = rng.random_range(-6i16..=6);
        *px = Rgb(c.map(|v| (v as i16 + n).clamp(0, 255) as u8));
    }
    img
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn write_image_atomic(img: &RgbImage, path: &Path) -> Result<()> {
    let format = image::ImageFormat::from_path(path)
        .map_err(|e| DatasetError::Image { path: path.to_path_buf(), reason: e.to_string() })?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format)
        .map_err(|e| DatasetError::Image { path: path.to_path_buf(), reason: e.to_string() })?;
    write_atomic(path, bytes.get_ref())
}
