//! Frozen-backbone features, computed once: train only the heads (the waifu-scorer way).
//!
//! With `freeze = "all"` (the original's setting) the backbone's output for an image never
//! changes during a run, so computing it every epoch is wasted work: this cache stores each
//! image's feature map once (`f32`, `[C, h, w]` — the spatial map, since the `attention`
//! variant reads its patches; the other variants pool it) and training then runs only the
//! heads on cached features. Augmentation cannot apply to cached features (a flipped image
//! has other features), so the cache is used by default only when augmentation is off
//! ([`FeatureCacheMode::Auto`](animescore_run::FeatureCacheMode::Auto)); `on` uses it anyway, without augmentation. A run records the
//! choice in its `config.toml`.
//!
//! The folder name hashes everything that decides the features: the backbone configuration,
//! the weights file (path, length, modification time) or the seed of a random
//! initialisation, and the preprocessing. Storage, crash safety and what a hostile cache can
//! and cannot do: [`SlotStore`] (a slot that fails its checksum, or that a read-only cache
//! lacks, is computed again by the backbone, one image at a time).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use animescore_backbones::{AnyBackbone, Backbone, Preprocess};
use burn::tensor::{Device, Tensor};
use rayon::prelude::*;
use serde::Serialize;

use animescore_run::TrainConfig;

use crate::error::{PipelineError, Result};
use crate::image_cache::{is_hash, is_size};
use crate::readback::read_f32;
use crate::slots::{CacheProgress, CacheRoot, FillStats, RecomputeSlot, SlotStore, Slots};

/// Version of the feature format and of the image decoding under it; a change starts a new
/// folder. 2: the decode path of the image cache's version 2.
const FORMAT_VERSION: u32 = 2;

/// The start of every feature cache folder's name.
const FOLDER_PREFIX: &str = "features-";

/// What decides the features.
#[derive(Debug, Serialize)]
struct Settings<'a> {
    kind: &'static str,
    version: u32,
    backbone: &'a animescore_backbones::BackboneConfig,
    weights: Option<(String, u64, i64)>,
    seed: Option<u64>,
    preprocess: &'a Preprocess,
}

/// A feature cache folder for one backbone, weights and preprocessing.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    store: SlotStore,
    /// `[C, h, w]` of one image's feature map.
    pub dims: [usize; 3],
}

/// The cached feature maps of one list of paths, in that order.
#[derive(Debug, Clone)]
pub struct CachedFeatures {
    slots: Slots,
    /// `[C, h, w]` of one feature map.
    pub dims: [usize; 3],
}

impl FeatureCache {
    /// The cache under `root` for the run's backbone (built by `backbone_config`, with the
    /// weights file of `config` when it has one) whose feature maps are `dims`.
    pub fn new(
        root: &CacheRoot,
        config: &TrainConfig,
        backbone: &animescore_backbones::BackboneConfig,
        preprocess: &Preprocess,
        dims: [usize; 3],
    ) -> Result<Self> {
        let weights = match &config.weights {
            Some(w) => {
                let path = animescore_backbones::resolve_weights(w)?;
                let meta = std::fs::metadata(&path).map_err(|e| PipelineError::io(&path, e))?;
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i64);
                Some((path.to_string_lossy().into_owned(), meta.len(), mtime))
            }
            None => None,
        };
        let seed = weights.is_none().then_some(config.seed);
        let settings = Settings {
            kind: "features",
            version: FORMAT_VERSION,
            backbone,
            weights,
            seed,
            preprocess,
        };
        let value = serde_json::to_value(&settings)
            .map_err(|e| PipelineError::format("feature cache settings", e))?;
        let hash = animescore_fs::stable_hash::<u64>(value.to_string().as_bytes()) as u32;
        let name = format!("{FOLDER_PREFIX}{}px-{hash:08x}", preprocess.size);
        let slot_bytes = (dims.iter().product::<usize>() * 4) as u64;
        Ok(Self { store: SlotStore::new(root, name, value, slot_bytes), dims })
    }

    /// Whether a folder name is one of a feature cache (`features-<size>px-<hash>`).
    pub fn is_cache_folder(name: &str) -> bool {
        let Some(rest) = name.strip_prefix(FOLDER_PREFIX) else { return false };
        matches!(rest.split_once('-'), Some((size, hash)) if is_size(size) && is_hash(hash))
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// Makes sure every image has its feature map: the missing ones are read by `images`
    /// (resized RGB bytes of image `i` of `paths`, e.g. from the image cache), run through
    /// `backbone` (inference mode) on `device` `batch` at a time, and stored.
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &self,
        paths: &[PathBuf],
        key: impl Fn(&Path) -> String,
        images: &(dyn Fn(usize) -> std::result::Result<Vec<u8>, String> + Sync),
        preprocess: &Preprocess,
        backbone: &AnyBackbone,
        device: &Device,
        batch: usize,
        progress: &dyn CacheProgress,
    ) -> Result<(CachedFeatures, FillStats)> {
        let dims = self.dims;
        let compute = |indices: &[usize]| -> Vec<std::result::Result<Vec<u8>, String>> {
            let loaded: Vec<std::result::Result<Vec<f32>, String>> = indices
                .par_iter()
                .map(|&i| images(i).map(|rgb| preprocess.normalize(&rgb)))
                .collect();
            // Unreadable images keep their reason; the readable ones go through the
            // backbone together.
            let mut out: Vec<std::result::Result<Vec<u8>, String>> =
                Vec::with_capacity(loaded.len());
            let (mut ok, mut chws) = (Vec::new(), Vec::new());
            for (j, result) in loaded.into_iter().enumerate() {
                match result {
                    Ok(chw) => {
                        ok.push(j);
                        chws.push(chw);
                        out.push(Ok(Vec::new()));
                    }
                    Err(reason) => out.push(Err(reason)),
                }
            }
            if ok.is_empty() {
                return out;
            }
            match features_of(backbone, preprocess, chws, device, dims) {
                Ok(maps) => {
                    for (&j, map) in ok.iter().zip(maps) {
                        out[j] = Ok(map.iter().flat_map(|v| v.to_le_bytes()).collect());
                    }
                }
                Err(e) => {
                    for &j in &ok {
                        out[j] = Err(format!("backbone: {e}"));
                    }
                }
            }
            out
        };
        let one = Mutex::new(backbone.clone());
        let (preprocess, device) = (preprocess.clone(), device.clone());
        let recompute: RecomputeSlot = Arc::new(move |path: &Path| {
            let rgb = preprocess.load_rgb(path).map_err(|e| e.to_string())?.into_raw();
            let backbone = one.lock().map_err(|_| "backbone lock poisoned".to_string())?;
            let maps = features_of(
                &backbone,
                &preprocess,
                vec![preprocess.normalize(&rgb)],
                &device,
                dims,
            )
            .map_err(|e| format!("backbone: {e}"))?;
            Ok(maps.iter().flatten().flat_map(|v| v.to_le_bytes()).collect())
        });
        let (slots, stats) =
            self.store.fill(paths, key, batch.max(1), &compute, recompute, progress)?;
        Ok((CachedFeatures { slots, dims }, stats))
    }
}

/// The feature maps of a batch of normalised images, one `C·h·w` vector each.
fn features_of(
    backbone: &AnyBackbone,
    preprocess: &Preprocess,
    chws: Vec<Vec<f32>>,
    device: &Device,
    dims: [usize; 3],
) -> Result<Vec<Vec<f32>>> {
    let map: Tensor<4> = backbone.feature_map(preprocess.stack(chws, device));
    let got = map.dims();
    if got[1..] != dims {
        return Err(PipelineError::Data(format!(
            "feature map {:?} per image, expected {dims:?}",
            &got[1..]
        )));
    }
    let values = read_f32(map)?;
    let per = dims.iter().product::<usize>();
    Ok(values.chunks(per).map(<[f32]>::to_vec).collect())
}

impl CachedFeatures {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Why image `i` has no features, if it has none.
    pub fn failure(&self, i: usize) -> Option<&str> {
        self.slots.failure(i)
    }

    /// The images at `rows`, in that order.
    pub fn subset(&self, rows: &[usize]) -> Self {
        Self { slots: self.slots.subset(rows), dims: self.dims }
    }

    /// The feature map of image `i`, `C·h·w` values.
    pub fn get(&self, i: usize) -> std::result::Result<Vec<f32>, String> {
        let bytes = self.slots.get(i)?;
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

/// The `[C, h, w]` of an inference-mode backbone's feature map at `size` px (one probe
/// forward on its device).
pub fn feature_dims(backbone: &AnyBackbone, size: usize, device: &Device) -> [usize; 3] {
    let probe = Tensor::<4>::zeros([1, 3, size, size], device);
    let [_, c, h, w] = backbone.feature_map(probe).dims();
    [c, h, w]
}

#[cfg(test)]
mod tests {
    use super::*;
    use animescore_backbones::BackboneConfig;
    use animescore_run::Freeze;
    use burn::module::Module;

    #[test]
    fn stores_the_backbones_feature_maps_and_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..5u8)
            .map(|i| {
                let p = dir.path().join(format!("{i}.png"));
                let img = image::RgbImage::from_fn(30, 20, |x, y| {
                    image::Rgb([(x as u8).wrapping_mul(i + 3), y as u8 * 9, i * 40])
                });
                img.save(&p).unwrap();
                p
            })
            .collect();
        let device = Device::flex();
        let backbone_config = BackboneConfig::from_spec("tiny").unwrap();
        let backbone = backbone_config.init(&device).valid();
        let preprocess = Preprocess::imagenet(32);
        let dims = feature_dims(&backbone, 32, &device);
        let config = TrainConfig { freeze: Freeze::All, ..TrainConfig::default() };
        let root = CacheRoot::dir(dir.path());
        let cache = FeatureCache::new(&root, &config, &backbone_config, &preprocess, dims).unwrap();
        let name = cache.dir().file_name().unwrap().to_str().unwrap();
        assert!(FeatureCache::is_cache_folder(name) && !FeatureCache::is_cache_folder("features-"));
        let read = |i: usize| {
            preprocess.load_rgb(&paths[i]).map(|r| r.into_raw()).map_err(|e| e.to_string())
        };
        let key = |p: &Path| p.to_string_lossy().into_owned();
        let fill = || {
            cache
                .fill(
                    &paths,
                    key,
                    &read,
                    &preprocess,
                    &backbone,
                    &device,
                    2,
                    &crate::slots::NoCacheProgress,
                )
                .unwrap()
        };
        let (features, stats) = fill();
        assert_eq!((stats.computed, stats.hits), (5, 0));
        for (i, path) in paths.iter().enumerate() {
            let chw = preprocess.load_chw(path).unwrap();
            let want = read_back(backbone.feature_map(preprocess.stack(vec![chw], &device)));
            let got = features.get(i).unwrap();
            assert_eq!(got.len(), dims.iter().product::<usize>());
            let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(err < 1e-4, "image {i}: max difference {err}");
        }
        let (_, stats) = fill();
        assert_eq!((stats.computed, stats.hits), (0, 5));
        // A segment edited behind the cache's back (same length): its slots fail their
        // checksums and are computed again by the backbone, never served.
        for entry in std::fs::read_dir(cache.dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "u8") {
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.iter_mut().for_each(|b| *b ^= 0x55);
                std::fs::write(&path, bytes).unwrap();
            }
        }
        let (again, stats) = fill();
        assert_eq!(stats.hits, 5);
        for (i, path) in paths.iter().enumerate() {
            let chw = preprocess.load_chw(path).unwrap();
            let want = read_back(backbone.feature_map(preprocess.stack(vec![chw], &device)));
            let got = again.get(i).unwrap();
            let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(err < 1e-4, "image {i}: max difference {err}");
        }
        // Other weights (here: another seed of the random initialisation): another folder.
        let other = TrainConfig { seed: 7, ..config };
        let moved = FeatureCache::new(&root, &other, &backbone_config, &preprocess, dims).unwrap();
        assert_ne!(moved.dir(), cache.dir());
    }

    fn read_back(t: Tensor<4>) -> Vec<f32> {
        read_f32(t).unwrap()
    }
}
