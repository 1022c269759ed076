//! Attribution finds the region the score depends on. A small model is trained on probe
//! images (a disc at a random position; score = the disc's brightness); on held-out images
//! the mean heat inside the disc must be at least twice the mean heat outside it, for each
//! method. The fast test trains the `attention` variant (all three methods apply to it); the
//! ignored one also trains `multitask` and `meta-embed`, and prints the numbers recorded in
//! `docs/explain.md`:
//! `cargo test -p animescore-explain --test known_region -- --ignored --nocapture`.
//!
//! The `tiny` backbone at 64 px has a 2×2 feature grid, too coarse for Grad-CAM and rollout:
//! there, `auto` must choose occlusion and localise a central disc (centre/corner heat ratio
//! ≥ 2), and the grid methods either localise too or carry the coarse-grid warning.

use animescore_backbones::{BackboneConfig, BlockKind, Preprocess, ResNetConfig};
use animescore_explain::{Explainer, Explanation, Method, OcclusionConfig};
use animescore_explain::{ProbeImage, centred_probe_image, probe_image};
use animescore_heads::{Embedding, HeadsConfig, ScoringModel, Variant, scale_score};
use animescore_run::Placement;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use image::DynamicImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Input side: the two-stage backbone's stride is 8, so the feature grid is 8×8.
const SIZE: u32 = 64;

struct Setup {
    train: usize,
    held_out: usize,
    steps: usize,
    batch: usize,
    /// Occlusion patches are 8 px (an eighth of the side).
    occlusion_stride: usize,
}

const FAST: Setup = Setup { train: 192, held_out: 12, steps: 120, batch: 24, occlusion_stride: 4 };
const FULL: Setup = Setup { train: 512, held_out: 48, steps: 400, batch: 32, occlusion_stride: 4 };

type Probe = fn(u32, &mut ChaCha8Rng) -> ProbeImage;

fn images(n: usize, seed: u64, probe: Probe) -> Vec<ProbeImage> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| probe(SIZE, &mut rng)).collect()
}

fn decoded(probes: &[ProbeImage]) -> Vec<DynamicImage> {
    probes.iter().map(|p| DynamicImage::ImageRgb8(p.image.clone())).collect()
}

/// A two-stage ResNet (widths 8, 16): small, and fine enough (stride 8) to localise.
fn backbone() -> BackboneConfig {
    BackboneConfig::ResNet(
        ResNetConfig::new(vec![8, 16], vec![1, 1], BlockKind::Basic)
            .with_stem_width(8)
            .with_image_size(SIZE as usize),
    )
}

/// Trainings in one process share the device's random generator (`device.seed`), so the
/// tests of this file train one at a time: concurrent runs would interleave their draws (seen:
/// the `tiny` ratio 5.79 alone, 4.52 and below 2 beside another test).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Trains `variant` with `backbone` on `probe` images' score alone and returns an explainer
/// of the trained model.
fn trained(
    variant: Variant,
    backbone: BackboneConfig,
    probe: Probe,
    setup: &Setup,
) -> (Explainer, HeadsConfig) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(5);
    let heads = HeadsConfig::tiny(variant, Embedding::AiSanity, 0);
    let mut model = ScoringModel::new(backbone.init(&device), &heads, &device).unwrap();
    let preprocess = Preprocess::imagenet(SIZE as usize);
    let train = images(setup.train, 1, probe);
    let inputs = preprocess.batch(&decoded(&train), &device);
    let targets: Vec<f32> = train.iter().map(|p| scale_score(p.score).unwrap()).collect();
    let targets = Tensor::<1>::from_floats(targets.as_slice(), &device);
    let mut optim = AdamConfig::new().init();
    let batches = setup.train / setup.batch;
    for step in 0..setup.steps {
        let start = (step % batches) * setup.batch;
        let x = inputs.clone().narrow(0, start, setup.batch);
        let y = targets.clone().narrow(0, start, setup.batch);
        let out = model.forward(x, None).unwrap();
        let loss = (out.score - y).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    let mut distribution: Vec<f64> = train.iter().map(|p| f64::from(p.score)).collect();
    distribution.sort_by(f64::total_cmp);
    let mut explainer = Explainer::new(
        model.valid(),
        &heads,
        preprocess,
        Placement::targets(distribution),
        Device::flex(),
    );
    explainer.occlusion =
        OcclusionConfig { patch: 8, stride: setup.occlusion_stride, batch_size: 64 };
    (explainer, heads)
}

/// Pearson correlation.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The premise of every ratio: the model learned the score (otherwise there is nothing to
/// explain). Checked on the first explanations of the held-out images.
fn assert_learned(what: &str, explained: &[Explanation], held_out: &[ProbeImage]) {
    let predicted: Vec<f64> = explained.iter().map(|e| e.score).collect();
    let truth: Vec<f64> = held_out.iter().map(|p| f64::from(p.score)).collect();
    let r = correlation(&predicted, &truth);
    eprintln!("{what}: held-out Pearson r {r:.3} ({} images)", held_out.len());
    assert!(r > 0.8, "{what} did not learn the probe (r = {r:.3})");
}

/// Inside/outside ratio of the pooled heat (mean inside over all held-out images ÷ mean
/// outside), for each method that applies to `variant`.
fn ratios(variant: Variant, setup: &Setup) -> Vec<(Method, f64)> {
    let (explainer, heads) = trained(variant, backbone(), probe_image, setup);
    assert_eq!(explainer.feature_grid(), (8, 8));
    let held_out = images(setup.held_out, 2, probe_image);
    let decoded = decoded(&held_out);
    let first = explainer.explain(&decoded, Method::GradCam).unwrap();
    assert_learned(&format!("{variant:?}"), &first, &held_out);

    let methods = Method::CONCRETE.into_iter().filter(|m| explainer.choose(*m).is_ok());
    methods
        .map(|method| {
            let explained = explainer.explain(&decoded, method).unwrap();
            let (mut inside, mut outside) = (0.0, 0.0);
            for (e, probe) in explained.iter().zip(&held_out) {
                let heat = e.heat.to_map();
                assert_eq!((heat.width, heat.height), (SIZE as usize, SIZE as usize));
                let (i, o) = heat.mean_inside_outside(|x, y| probe.region.contains(x, y));
                inside += i;
                outside += o;
                if heads.variant != Variant::Multitask {
                    let s = e.shares.expect("metadata-aware variants report shares");
                    let total = s.image + s.ai.unwrap() + s.sanity.unwrap();
                    assert!((total - 1.0).abs() < 1e-6, "{s:?}");
                }
            }
            let ratio = inside / outside.max(1e-9);
            eprintln!(
                "{variant:?} {method}: mean heat inside {:.3}, outside {:.3}, ratio {ratio:.2}",
                inside / explained.len() as f64,
                outside / explained.len() as f64
            );
            (method, ratio)
        })
        .collect()
}

fn check(variant: Variant, setup: &Setup) {
    let ratios = ratios(variant, setup);
    assert!(!ratios.is_empty());
    for (method, ratio) in ratios {
        assert!(ratio >= 2.0, "{variant:?} {method}: inside/outside heat ratio {ratio:.2} < 2");
    }
}

/// Centre/corner ratio of the pooled heat of `explained`: mean heat inside the central disc
/// ÷ mean heat in the four corner squares (a quarter of the side each).
fn centre_corner_ratio(explained: &[Explanation], held_out: &[ProbeImage]) -> f64 {
    let quarter = SIZE as usize / 4;
    let corner = |x: usize, y: usize| {
        let edge = |v: usize| v < quarter || v >= SIZE as usize - quarter;
        edge(x) && edge(y)
    };
    let (mut centre, mut corners) = (0.0f64, 0.0f64);
    for (e, probe) in explained.iter().zip(held_out) {
        let heat = e.heat.to_map();
        centre += heat.mean_inside_outside(|x, y| probe.region.contains(x, y)).0;
        corners += heat.mean_inside_outside(corner).0;
    }
    centre / corners.max(1e-9)
}

/// The case: `tiny` at 64 px (a 2×2 feature grid) on images whose score is a central
/// disc's brightness. `auto` must take occlusion and localise; Grad-CAM and rollout must
/// localise too or be flagged as coarse.
#[test]
fn auto_localises_on_tiny_at_64_px() {
    let setup = Setup { train: 192, held_out: 12, steps: 120, batch: 24, occlusion_stride: 4 };
    let tiny = BackboneConfig::ResNet(ResNetConfig::tiny());
    let (explainer, _) = trained(Variant::Attention, tiny, centred_probe_image, &setup);
    assert_eq!(explainer.feature_grid(), (2, 2));
    let held_out = images(setup.held_out, 2, centred_probe_image);
    let decoded = decoded(&held_out);
    let auto = explainer.choose(Method::Auto).unwrap();
    assert_eq!(auto.method, Method::Occlusion, "{}", auto.reason());
    let explained = explainer.explain(&decoded, Method::Auto).unwrap();
    assert_learned("tiny", &explained, &held_out);
    assert!(explained.iter().all(|e| e.method == Method::Occlusion));
    let ratio = centre_corner_ratio(&explained, &held_out);
    eprintln!("tiny auto ({}): centre/corner heat ratio {ratio:.2}", auto.method);
    assert!(ratio >= 2.0, "auto: centre/corner heat ratio {ratio:.2} < 2");
    for method in [Method::Attention, Method::GradCam] {
        let choice = explainer.choose(method).unwrap();
        let explained = explainer.explain(&decoded, method).unwrap();
        let ratio = centre_corner_ratio(&explained, &held_out);
        let warning = choice.warning();
        eprintln!("tiny {method}: centre/corner heat ratio {ratio:.2}; warning: {warning:?}");
        assert!(
            ratio >= 2.0 || warning.as_ref().is_some_and(|w| w.contains("2x2")),
            "{method}: ratio {ratio:.2} and no coarse-grid warning"
        );
    }
}

#[test]
fn every_method_finds_the_region_on_the_attention_variant() {
    check(Variant::Attention, &FAST);
}

#[test]
#[ignore = "trains three models for longer: about a minute of CPU"]
fn every_method_finds_the_region_on_every_variant() {
    for variant in Variant::ALL {
        check(variant, &FULL);
    }
}
