//! Forward-shape tests at tiny input sizes.

use animescore_backbones::{Backbone, BackboneConfig, BlockKind, ResNetConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

fn input(b: usize, side: usize, device: &Device) -> Tensor<4> {
    Tensor::random([b, 3, side, side], Distribution::Normal(0.0, 1.0), device)
}

#[test]
fn tiny_resnet_shapes_at_32px() {
    let device = Device::flex();
    let model = BackboneConfig::from_name("tiny").unwrap().init(&device);
    assert_eq!(model.out_channels(), 64);
    let map = model.feature_map(input(2, 32, &device));
    // 32 px: stem /2, max-pool /2, then three stride-2 stages -> 1×1.
    assert_eq!(map.dims(), [2, 64, 1, 1]);
    let pooled = model.pooled(input(2, 32, &device));
    assert_eq!(pooled.dims(), [2, 64]);
    let spec = model.input_spec();
    assert_eq!(spec.image_size, 64);
}

#[test]
fn tiny_resnet_feature_map_scales_with_input() {
    let device = Device::flex();
    let model = ResNetConfig::tiny().init(&device);
    assert_eq!(model.feature_map(input(1, 64, &device)).dims(), [1, 64, 2, 2]);
    assert_eq!(model.feature_map(input(1, 96, &device)).dims(), [1, 64, 3, 3]);
}

#[test]
fn bottleneck_custom_resnet_shapes() {
    let device = Device::flex();
    let cfg =
        ResNetConfig::new(vec![8, 16, 8], vec![2, 1, 1], BlockKind::Bottleneck).with_stem_width(8);
    cfg.validate().unwrap();
    let model = cfg.init(&device);
    assert_eq!(model.out_channels(), 32);
    assert_eq!(model.feature_map(input(2, 32, &device)).dims(), [2, 32, 2, 2]);
    assert_eq!(Backbone::stage_names(&model), ["stem", "layer1", "layer2", "layer3"]);
}

#[test]
fn preset_names_resolve_and_unknown_is_an_error() {
    for name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "tiny"] {
        BackboneConfig::from_name(name).unwrap().validate().unwrap();
    }
    let err = BackboneConfig::from_name("resnet9000").unwrap_err().to_string();
    assert!(err.contains("resnet9000") && err.contains("resnet152"), "{err}");
}

#[test]
fn resnet18_param_count_matches_torchvision() {
    // torchvision resnet18 has 11_689_512 parameters, 513_000 of them in `fc`. burn's
    // `num_params` also counts the BN running mean/var buffers: 2 × 4_800 BN channels.
    let device = Device::flex();
    // num_params counts lazy shapes without allocating weights.
    let n = ResNetConfig::resnet18().init(&device).num_params();
    assert_eq!(n, 11_689_512 - 513_000 + 2 * 4_800);
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = ResNetConfig::new(vec![8, 16], vec![1], BlockKind::Basic);
    assert!(bad.validate().is_err());
    let zero = ResNetConfig::new(vec![8, 0], vec![1, 1], BlockKind::Basic);
    assert!(zero.validate().is_err());
}

#[test]
fn backbone_config_roundtrips_through_json() {
    let cfg = BackboneConfig::from_name("tiny").unwrap();
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(json.contains("\"kind\":\"resnet\""), "{json}");
    let back: BackboneConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn efficientnet_b0_shapes_at_32px() {
    let device = Device::flex();
    let model = BackboneConfig::from_name("efficientnet-b0").unwrap().init(&device);
    assert_eq!(model.out_channels(), 1280);
    assert_eq!(model.feature_map(input(2, 32, &device)).dims(), [2, 1280, 1, 1]);
    assert_eq!(model.pooled(input(1, 64, &device)).dims(), [1, 1280]);
    let names = model.stage_names();
    assert_eq!(names.first().map(String::as_str), Some("stem"));
    assert_eq!(names.last().map(String::as_str), Some("head"));
    assert_eq!(names.len(), 9);
}

#[test]
fn efficientnet_width_reduced_shapes() {
    let device = Device::flex();
    let model = animescore_backbones::EfficientNetConfig::new(0.25, 0.5, 64).init(&device);
    // 320 · 0.25 = 80 channels in the last stage, 4× in the head.
    assert_eq!(model.out_channels(), 320);
    assert_eq!(model.feature_map(input(2, 64, &device)).dims(), [2, 320, 2, 2]);
}

#[test]
fn efficientnet_presets_follow_torchvision() {
    // (input size, head channels) of torchvision's efficientnet_b0..b7.
    let expected = [
        (224, 1280),
        (240, 1280),
        (288, 1408),
        (300, 1536),
        (380, 1792),
        (456, 2048),
        (528, 2304),
        (600, 2560),
    ];
    for (v, (size, channels)) in expected.into_iter().enumerate() {
        let cfg = animescore_backbones::EfficientNetConfig::variant(v).unwrap();
        assert_eq!(cfg.image_size, size, "b{v}");
        assert_eq!(cfg.out_channels(), channels, "b{v}");
        assert_eq!(cfg.bn_epsilon, if v >= 5 { 1e-3 } else { 1e-5 }, "b{v}");
    }
    assert!(animescore_backbones::EfficientNetConfig::variant(8).is_none());
    assert!(BackboneConfig::from_name("efficientnet-b8").is_err());
}

#[test]
fn make_divisible_matches_torchvision() {
    use animescore_backbones::make_divisible;
    // Values computed with torchvision.ops.misc._make_divisible.
    assert_eq!(make_divisible(32.0 * 1.1, 8), 32);
    assert_eq!(make_divisible(10.0, 8), 16);
    assert_eq!(make_divisible(2.4, 8), 8);
    assert_eq!(make_divisible(320.0 * 1.4, 8), 448);
    assert_eq!(make_divisible(192.0 * 1.8, 8), 344);
}

/// Every preset runs at a tiny input (full-size weights are allocated, hence ignored by default).
#[test]
#[ignore = "allocates every full-size model (~250M parameters); run with --ignored"]
fn every_preset_runs_at_32px() {
    let device = Device::flex();
    for name in animescore_backbones::BACKBONE_NAMES {
        let model = BackboneConfig::from_name(name).unwrap().init(&device);
        let map = model.feature_map(input(1, 32, &device));
        assert_eq!(map.dims()[1], model.out_channels(), "{name}");
    }
}

mod preprocess {
    use animescore_backbones::{IMAGENET_MEAN, IMAGENET_STD, Preprocess, ResizeMode};
    use burn::prelude::*;
    use image::{DynamicImage, Rgb, RgbImage};

    #[test]
    fn same_size_is_identity_and_normalised() {
        let img = RgbImage::from_fn(4, 4, |x, y| Rgb([(x * 60) as u8, (y * 60) as u8, 255]));
        let p = Preprocess::imagenet(4);
        let chw = p.chw(&DynamicImage::ImageRgb8(img.clone()));
        assert_eq!(chw.len(), 48);
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                let want = (px[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
                assert!((chw[c * 16 + i] - want).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn stretch_and_letterbox() {
        let wide = DynamicImage::ImageRgb8(RgbImage::from_pixel(40, 20, Rgb([255, 255, 255])));
        let stretch = Preprocess::imagenet(10).chw(&wide);
        let white = (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
        assert!(stretch[..100].iter().all(|v| (v - white).abs() < 1e-5));
        let boxed = Preprocess::imagenet(10).with_mode(ResizeMode::Letterbox).chw(&wide);
        // Rows 0..2 and 8..10 are border (≈ 0 after normalisation), rows 3..7 are white.
        assert!(boxed[..20].iter().all(|v| v.abs() < 0.02), "{:?}", &boxed[..20]);
        assert!((boxed[50] - white).abs() < 1e-5);
    }

    #[test]
    fn batch_shape() {
        let imgs = vec![DynamicImage::ImageRgb8(RgbImage::new(7, 9)); 3];
        let t = Preprocess::imagenet(8).batch(&imgs, &Device::flex());
        assert_eq!(t.dims(), [3, 3, 8, 8]);
    }
}
