//! Parity with torchvision: fixtures written by `scripts/parity/make_fixtures.py` (seeded random
//! weights with randomised BN statistics, an input and torchvision's eval-mode outputs).

use std::path::PathBuf;

use animescore_backbones::{Backbone, BackboneConfig, BackboneError, load_weights};
use burn::prelude::*;
use burn::store::{ModuleStore, SafetensorsStore, bridge};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(name)
}

fn config(name: &str) -> BackboneConfig {
    let text = std::fs::read_to_string(data(&format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn io_tensor<const D: usize>(name: &str, key: &str, device: &Device) -> Tensor<D> {
    let mut store = SafetensorsStore::from_file(data(&format!("{name}.io.safetensors")));
    let t = store.get_tensor(key).unwrap().unwrap_or_else(|| panic!("{key} missing"));
    Tensor::from_data(bridge::to_data(t).unwrap(), device)
}

/// max |a - b| / max(1, max |b|).
fn relative_error<const D: usize>(actual: Tensor<D>, expected: Tensor<D>) -> f32 {
    assert_eq!(actual.dims(), expected.dims());
    let scale = expected.clone().abs().max().into_scalar::<f32>().max(1.0);
    (actual - expected).abs().max().into_scalar::<f32>() / scale
}

fn check(name: &str, ext: &str) {
    let device = Device::flex();
    let model = config(name).init(&device);
    let model = load_weights(model, data(&format!("{name}.{ext}"))).unwrap().valid();
    let input: Tensor<4> = io_tensor(name, "input", &device);
    let map_err =
        relative_error(model.feature_map(input.clone()), io_tensor(name, "feature_map", &device));
    let pooled_err = relative_error(model.pooled(input), io_tensor(name, "pooled", &device));
    assert!(map_err <= 1e-4, "{name}.{ext}: feature map relative error {map_err}");
    assert!(pooled_err <= 1e-4, "{name}.{ext}: pooled relative error {pooled_err}");
}

#[test]
fn resnet_basic_matches_torchvision_pth() {
    check("resnet_basic", "pth");
}

#[test]
fn resnet_basic_matches_torchvision_safetensors() {
    check("resnet_basic", "safetensors");
}

#[test]
fn resnet_bottleneck_matches_torchvision() {
    check("resnet_bottleneck", "pth");
    check("resnet_bottleneck", "safetensors");
}

#[test]
fn efficientnet_matches_torchvision() {
    check("efficientnet_small", "pth");
    check("efficientnet_small", "safetensors");
}

#[test]
fn efficientnet_tf_batchnorm_matches_torchvision() {
    check("efficientnet_small_tfbn", "safetensors");
}

#[test]
fn mismatched_weights_are_rejected_with_a_list() {
    let device = Device::flex();
    // Same kind, other widths from layer3 on (tiny: 32, 64; fixture: 24, 32), one block less.
    let tiny = BackboneConfig::from_name("tiny").unwrap().init(&device);
    match load_weights(tiny, data("resnet_basic.safetensors")) {
        Err(BackboneError::Weights { mismatched, unexpected, missing, .. }) => {
            assert!(missing.is_empty(), "{missing:?}");
            assert!(unexpected.iter().any(|k| k.starts_with("layer1.1.")), "{unexpected:?}");
            assert!(
                mismatched.contains(
                    &"layer3.0.conv1.weight: file [24, 16, 3, 3], model [32, 16, 3, 3]".to_string()
                ),
                "{mismatched:?}"
            );
        }
        other => panic!("expected a Weights error, got {other:?}"),
    }
    // Another architecture: missing and unexpected keys, both listed.
    let resnet = config("resnet_basic").init(&device);
    match load_weights(resnet, data("efficientnet_small.pth")) {
        Err(e @ BackboneError::Weights { .. }) => {
            let BackboneError::Weights { missing, unexpected, .. } = &e else { unreachable!() };
            assert!(missing.contains(&"layer1.0.conv1.weight".to_string()), "{missing:?}");
            assert!(unexpected.contains(&"features.0.0.weight".to_string()), "{unexpected:?}");
            assert!(e.to_string().contains("layer1.0.conv1.weight"));
        }
        other => panic!("expected a Weights error, got {other:?}"),
    }
}

#[test]
fn missing_file_and_unknown_format_are_errors() {
    let device = Device::flex();
    let m = config("resnet_basic").init(&device);
    assert!(matches!(load_weights(m.clone(), data("nope.pth")), Err(BackboneError::File { .. })));
    assert!(matches!(load_weights(m, data("resnet_basic.json")), Err(BackboneError::File { .. })));
}

#[test]
fn timm_efficientnet_layout_matches_timm() {
    // timm's `efficientnet_b0` builder (width 0.1, depth 0.4), timm key names, timm outputs.
    check("timm_efficientnet_small", "safetensors");
}
