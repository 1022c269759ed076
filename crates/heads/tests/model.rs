//! Shapes of every variant × embedding, known metadata, errors, save/load and config serde.

mod common;

use animescore_heads::{
    Embedding, HeadsConfig, HeadsError, KnownMetadata, LossConfig, LossWeighting, RegressionLoss,
    ScoringModel, Variant,
};
use burn::module::Module;
use burn::prelude::*;
use common::{TAGS, TinyBackbone, synthetic_batch, values};

fn model(variant: Variant, embedding: Embedding, device: &Device) -> ScoringModel<TinyBackbone> {
    let heads = HeadsConfig::tiny(variant, embedding, TAGS);
    ScoringModel::new(TinyBackbone::new(device), &heads, device).expect("valid config")
}

#[test]
fn shapes_of_every_variant_and_embedding() {
    let device = Device::flex();
    let (images, targets) = synthetic_batch(3, 1, &device);
    for variant in Variant::ALL {
        for embedding in Embedding::ALL {
            let m = model(variant, embedding, &device);
            let out = m.forward(images.clone(), None).unwrap();
            let ctx = format!("{variant}/{embedding}");
            assert_eq!(out.score.dims(), [3], "{ctx}");
            assert_eq!(out.ai_logit.dims(), [3], "{ctx}");
            assert_eq!(out.sanity_logits.dims(), [3, 3], "{ctx}");
            assert_eq!(
                out.tag_logits.as_ref().map(|t| t.dims()),
                embedding.uses_tags().then_some([3, TAGS]),
                "{ctx}"
            );
            match (&out.attention, variant) {
                (Some(blocks), Variant::Attention) => {
                    assert_eq!(blocks.len(), 1, "{ctx}");
                    let tokens = 64 + embedding.n_fields();
                    assert_eq!(blocks[0].dims(), [3, 2, tokens, tokens], "{ctx}");
                    // Softmax rows sum to 1 (no dropout outside autodiff).
                    let row_sums = values(blocks[0].clone().sum_dim(3));
                    assert!(row_sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{ctx}");
                }
                (None, Variant::Multitask | Variant::MetaEmbed) => {}
                (att, _) => panic!("{ctx}: unexpected attention {:?}", att.is_some()),
            }
            let loss = m.loss(&out, &targets).unwrap();
            assert_eq!(loss.per_task.tags.is_some(), embedding.uses_tags(), "{ctx}");
            assert!(values(loss.total)[0].is_finite(), "{ctx}");
            assert!(values(out.score).iter().all(|v| v.is_finite()), "{ctx}");
        }
    }
}

#[test]
fn known_metadata_changes_the_score_only_when_embedded() {
    let device = Device::flex();
    let (images, _) = synthetic_batch(2, 2, &device);
    let known = KnownMetadata {
        ai: Some(Tensor::from_floats([1.0, 0.0], &device)),
        sanity: Some(Tensor::<1, Int>::from_ints([2, 0], &device)),
        tags: Some(Tensor::ones([2, TAGS], &device)),
    };
    for variant in Variant::ALL {
        for embedding in Embedding::ALL {
            let m = model(variant, embedding, &device);
            let mut known = known.clone();
            if !embedding.uses_tags() {
                known.tags = None;
            }
            let predicted = values(m.forward(images.clone(), None).unwrap().score);
            let given = m.forward(images.clone(), Some(known)).unwrap();
            let differs = predicted
                .iter()
                .zip(values(given.score.clone()))
                .any(|(a, b)| (a - b).abs() > 1e-7);
            let embedded = variant != Variant::Multitask && embedding != Embedding::None;
            assert_eq!(differs, embedded, "{variant}/{embedding}");
            // Known metadata never changes the metadata predictions themselves.
            assert_eq!(given.ai_logit.dims(), [2]);
        }
    }
}

#[test]
fn partially_known_metadata_uses_predictions_for_the_rest() {
    let device = Device::flex();
    let (images, _) = synthetic_batch(2, 3, &device);
    let m = model(Variant::MetaEmbed, Embedding::AiSanity, &device);
    let only_ai =
        KnownMetadata { ai: Some(Tensor::from_floats([1.0, 1.0], &device)), ..Default::default() };
    let a = values(m.forward(images.clone(), Some(only_ai)).unwrap().score);
    let b = values(m.forward(images, None).unwrap().score);
    assert_ne!(a, b);
}

#[test]
fn errors_instead_of_panics() {
    let device = Device::flex();
    let (images, _) = synthetic_batch(2, 4, &device);
    // Tags given to a model without a tag head.
    let m = model(Variant::MetaEmbed, Embedding::AiSanity, &device);
    let tags = KnownMetadata { tags: Some(Tensor::ones([2, TAGS], &device)), ..Default::default() };
    assert!(matches!(m.forward(images.clone(), Some(tags)), Err(HeadsError::Tags(_))));
    // Known metadata of the wrong batch size.
    let ai = KnownMetadata { ai: Some(Tensor::ones([3], &device)), ..Default::default() };
    assert!(matches!(m.forward(images, Some(ai)), Err(HeadsError::Shape { .. })));
    // 64×64 images give 16×16 = 256 patches, more than the 64 positions of the tiny config.
    let big = Tensor::zeros([1, 3, 64, 64], &device);
    let att = model(Variant::Attention, Embedding::Both, &device);
    assert!(matches!(att.forward(big, None), Err(HeadsError::TooManyTokens { patches: 256, .. })));
    // Invalid configs.
    let bad = [
        HeadsConfig::tiny(Variant::Multitask, Embedding::Tags, 0),
        HeadsConfig {
            head_dropout: 1.0,
            ..HeadsConfig::tiny(Variant::Multitask, Embedding::None, 0)
        },
        {
            let mut c = HeadsConfig::tiny(Variant::Attention, Embedding::None, 0);
            c.attention.n_heads = 3;
            c
        },
    ];
    for config in bad {
        assert!(
            ScoringModel::new(TinyBackbone::new(&device), &config, &device).is_err(),
            "{config:?}"
        );
    }
}

#[test]
fn save_and_load_give_identical_outputs() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = synthetic_batch(2, 5, &device);
    for variant in Variant::ALL {
        let m = model(variant, Embedding::Both, &device);
        let head = m.head;
        let loss = head_with_log_vars(head, &device);
        let m = ScoringModel { backbone: m.backbone, head: loss };
        let before = m.forward(images.clone(), None).unwrap();
        let sigmas = m.sigmas();
        let path = dir.path().join(format!("{variant}.bpk"));
        m.save_file(&path).unwrap();

        // A fresh model has different random weights until the file is loaded.
        let fresh = model(variant, Embedding::Both, &device);
        let fresh_score = values(fresh.forward(images.clone(), None).unwrap().score);
        assert_ne!(fresh_score, values(before.score.clone()), "{variant}");
        let loaded = fresh.load_file(&path);
        let after = loaded.forward(images.clone(), None).unwrap();
        assert_eq!(values(after.score), values(before.score), "{variant}");
        assert_eq!(values(after.ai_logit), values(before.ai_logit), "{variant}");
        assert_eq!(values(after.sanity_logits), values(before.sanity_logits), "{variant}");
        assert_eq!(
            values(after.tag_logits.unwrap()),
            values(before.tag_logits.unwrap()),
            "{variant}"
        );
        assert_eq!(loaded.sigmas(), sigmas, "{variant}: learned σ are saved");
    }
}

/// Sets non-zero log-variances so that saving them is actually checked.
fn head_with_log_vars(
    head: animescore_heads::ScoringHead,
    device: &Device,
) -> animescore_heads::ScoringHead {
    head.with_log_vars(Tensor::from_floats([0.1, 0.2, 0.3, 0.4], device)).unwrap()
}

#[test]
fn config_round_trips_through_json_and_toml() {
    let mut config = HeadsConfig::new(Variant::Attention, Embedding::Both, 1000);
    config.stop_gradient = true;
    config.attention.n_blocks = 3;
    config.loss = LossConfig {
        weighting: LossWeighting::Fixed { score: 0.01, ai: 1.0, sanity: 1.0, tags: 0.5 },
        score_loss: RegressionLoss::Huber { delta: 0.1 },
    };
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(serde_json::from_str::<HeadsConfig>(&json).unwrap(), config);
    let text = toml::to_string(&config).unwrap();
    assert_eq!(toml::from_str::<HeadsConfig>(&text).unwrap(), config);
    assert!(json.contains("\"attention\"") && json.contains("\"both\""), "{json}");

    // Hand-written files need only the keys that differ from the defaults…
    let partial: HeadsConfig = toml::from_str(
        "variant = \"meta-embed\"\nembedding = \"ai-sanity\"\n[loss.weighting]\nmode = \"uncertainty\"\n",
    )
    .unwrap();
    assert_eq!(partial, HeadsConfig::new(Variant::MetaEmbed, Embedding::AiSanity, 0));
    // …and typos are rejected.
    assert!(toml::from_str::<HeadsConfig>("varient = \"attention\"").is_err());
    assert_eq!("meta-embed".parse::<Variant>().unwrap(), Variant::MetaEmbed);
    assert_eq!("ai-sanity".parse::<Embedding>().unwrap(), Embedding::AiSanity);
    assert!("bogus".parse::<Variant>().is_err());
}

#[test]
fn stop_gradient_cuts_the_score_loss_off_the_metadata_heads() {
    use burn::optim::GradientsParams;
    let device = Device::flex().autodiff();
    let (images, _) = synthetic_batch(2, 6, &device);
    let params_with_grad = |stop_gradient: bool| {
        let mut heads = HeadsConfig::tiny(Variant::MetaEmbed, Embedding::Both, TAGS);
        heads.stop_gradient = stop_gradient;
        let m = ScoringModel::new(TinyBackbone::new(&device), &heads, &device).unwrap();
        // Only the score: whatever reaches the metadata heads came through the embedding.
        let score = m.forward(images.clone(), None).unwrap().score.sum();
        GradientsParams::from_grads(score.backward(), &m.head).len()
    };
    // AI, sanity and tag heads have 2 linear layers (weight + bias) each: 12 tensors.
    assert_eq!(params_with_grad(false) - params_with_grad(true), 12);
}
