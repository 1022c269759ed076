//! The heads on the real configurable ResNet (`tiny` preset) through [`ModelConfig`].

mod common;

use animescore_backbones::BackboneConfig;
use animescore_heads::{Embedding, HeadsConfig, ModelConfig, Variant};
use burn::module::Module;
use burn::prelude::*;
use common::{TAGS, synthetic_batch, values};

fn config(variant: Variant, embedding: Embedding) -> ModelConfig {
    let backbone = BackboneConfig::from_name("tiny").expect("tiny preset exists");
    ModelConfig::new(backbone, HeadsConfig::tiny(variant, embedding, TAGS))
}

#[test]
fn every_variant_and_embedding_on_the_tiny_resnet() {
    let device = Device::flex();
    let (images, targets) = synthetic_batch(2, 21, &device);
    for variant in Variant::ALL {
        for embedding in Embedding::ALL {
            let ctx = format!("{variant}/{embedding}");
            let model = config(variant, embedding).init(&device).expect("valid config");
            let out = model.forward(images.clone(), None).unwrap();
            assert_eq!(out.score.dims(), [2], "{ctx}");
            assert_eq!(out.sanity_logits.dims(), [2, 3], "{ctx}");
            assert_eq!(out.tag_logits.is_some(), embedding.uses_tags(), "{ctx}");
            if let Some(blocks) = &out.attention {
                // The tiny ResNet maps 32 px to 1×1: one patch token plus the metadata tokens.
                let tokens = 1 + embedding.n_fields();
                assert_eq!(blocks[0].dims(), [2, 2, tokens, tokens], "{ctx}");
            }
            let loss = model.loss(&out, &targets).unwrap();
            assert!(values(loss.total)[0].is_finite(), "{ctx}");
        }
    }
}

#[test]
fn model_config_round_trips_and_checkpoints_reload() {
    let config = config(Variant::Attention, Embedding::Both);
    let json = serde_json::to_string_pretty(&config).unwrap();
    assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), config);
    let text = toml::to_string(&config).unwrap();
    assert_eq!(toml::from_str::<ModelConfig>(&text).unwrap(), config);

    let device = Device::flex();
    let (images, _) = synthetic_batch(2, 22, &device);
    let model = config.init(&device).unwrap();
    let before = values(model.forward(images.clone(), None).unwrap().score);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    model.save_file(&path).unwrap();
    let loaded = config.init(&device).unwrap().load_file(&path);
    assert_eq!(values(loaded.forward(images, None).unwrap().score), before);
}

#[test]
fn frozen_backbone_keeps_heads_trainable() {
    use burn::optim::GradientsParams;
    let device = Device::flex().autodiff();
    let (images, targets) = synthetic_batch(2, 23, &device);
    let model = config(Variant::MetaEmbed, Embedding::AiSanity).init(&device).unwrap();
    let count = |m: &animescore_heads::ScoringModel| {
        let out = m.forward(images.clone(), None).unwrap();
        let loss = m.loss(&out, &targets).unwrap();
        let mut grads = loss.total.backward();
        (
            GradientsParams::from_module(&mut grads, &m.backbone).len(),
            GradientsParams::from_module(&mut grads, &m.head).len(),
        )
    };
    let (backbone_all, head_all) = count(&model);
    let frozen = model.freeze_backbone_before(None).unwrap();
    let (backbone_frozen, head_frozen) = count(&frozen);
    assert!(backbone_all > 0);
    assert_eq!(backbone_frozen, 0);
    assert_eq!(head_frozen, head_all);
}
