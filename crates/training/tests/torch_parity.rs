//! Training parity with PyTorch, replayed without PyTorch. The fixtures in
//! `tests/data/parity` come from `scripts/parity/train_parity.py --write-fixtures` (which
//! also runs the full harness): per variant (a narrower `tiny`, widths 4/8/8/8, on 40 px
//! crops; embedding `both`; uncertainty-weighted loss; weight decay 0.05; warm-up 2 of 5
//! steps) a model initialised by PyTorch, the batches of 5 steps, and PyTorch's learning rate
//! and losses at every step and its weights and batch-norm statistics after them. Our
//! training step (`train_step` with the run's `optimizer` and `LrSchedule`) must reproduce
//! them: losses within 1e-4 relative, weights within 1e-3.

use std::collections::BTreeMap;
use std::path::PathBuf;

use animescore_heads::TorchTensor;
use animescore_pipeline::Forward;
use animescore_run::{Precision, TrainConfig};
use animescore_training::{
    ADAMW_EPSILON, ParityBatches, ParityLosses, ParityRecord, optimizer, read_tensors, train_step,
};
use burn::tensor::Device;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/parity").join(name)
}

/// The tensors under `prefix.` with the prefix removed.
fn with_prefix(
    tensors: &BTreeMap<String, TorchTensor>,
    prefix: &str,
) -> BTreeMap<String, TorchTensor> {
    tensors
        .iter()
        .filter_map(|(k, t)| {
            let key = k.strip_prefix(prefix)?.to_string();
            Some((key.clone(), TorchTensor { key, ..t.clone() }))
        })
        .collect()
}

fn rel(ours: f64, reference: f64) -> f64 {
    (ours - reference).abs() / reference.abs().max(1e-12)
}

fn max_abs(values: &[f32]) -> f32 {
    values.iter().map(|v| v.abs()).fold(0.0, f32::max)
}

/// max |a − b| / max |b|, except for attention key biases: they get no gradient in exact
/// arithmetic (softmax ignores a per-query constant), so their values are rounding noise that
/// Adam magnifies to steps of ±lr, and they are measured against their projection's weight
/// (as `scripts/parity/train_parity.py` measures them).
fn tensor_rel(ours: &TorchTensor, reference: &BTreeMap<String, TorchTensor>) -> f64 {
    let r = &reference[&ours.key];
    assert_eq!(ours.shape, r.shape, "{}", ours.key);
    let diff = ours.values.iter().zip(&r.values).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    let scale = match ours.key.strip_suffix("attn.key.bias") {
        Some(block) => max_abs(&reference[&format!("{block}attn.key.weight")].values),
        None => max_abs(&r.values),
    };
    f64::from(diff) / f64::from(scale).max(1e-12)
}

fn assert_losses(step: usize, ours: &ParityLosses, reference: &ParityLosses, tolerance: f64) {
    let pairs = [
        ("total", ours.total, reference.total),
        ("score", ours.score, reference.score),
        ("ai", ours.ai, reference.ai),
        ("sanity", ours.sanity, reference.sanity),
    ];
    for (task, a, b) in pairs {
        assert!(rel(a, b) <= tolerance, "step {step} {task}: ours {a}, PyTorch {b}");
    }
    match (ours.tags, reference.tags) {
        (Some(a), Some(b)) => {
            assert!(rel(a, b) <= tolerance, "step {step} tags: ours {a}, PyTorch {b}")
        }
        (a, b) => assert_eq!(a.is_some(), b.is_some(), "step {step}: tag loss present"),
    }
}

fn replay(variant: &str) {
    let record = ParityRecord::read(&data(&format!("tiny-{variant}.json"))).unwrap();
    let weights_path = data(&format!("tiny-{variant}.safetensors"));
    let weights = read_tensors(&weights_path).unwrap();
    let samples_path = data("samples.safetensors");
    let samples =
        ParityBatches::from_tensors(&samples_path, &read_tensors(&samples_path).unwrap(), "train")
            .unwrap();
    let s = &record.settings;
    assert_eq!(s.model.heads.variant.name(), variant);
    assert_eq!((s.beta1, s.beta2, s.epsilon), (0.9, 0.999, f64::from(ADAMW_EPSILON)));

    let device = Device::flex().autodiff();
    let mut model = s
        .model
        .init(&device)
        .unwrap()
        .load_torch_state(&with_prefix(&weights, "initial."))
        .unwrap();
    let config =
        TrainConfig { weight_decay: s.weight_decay, grad_clip: None, ..TrainConfig::default() };
    let mut optim = optimizer(&config);
    let schedule = s.schedule();
    assert!(!record.steps.is_empty(), "{variant}: no steps");
    for step in &record.steps {
        let lr = schedule.at(step.step);
        assert!(rel(lr, step.lr) <= 1e-9, "step {}: lr {lr}, PyTorch {}", step.step, step.lr);
        let (images, targets) = samples.batch(&step.samples, &device).unwrap();
        let (next, _, loss) = train_step(
            model,
            &mut optim,
            lr,
            None,
            Forward::Images(Precision::F32),
            images,
            &targets,
        )
        .unwrap();
        model = next;
        assert_losses(step.step, &ParityLosses::read(&loss).unwrap(), &step.losses, 1e-4);
    }
    let reference = with_prefix(&weights, "reference.");
    let ours = model.torch_state().unwrap();
    assert_eq!(ours.len(), reference.len(), "{variant}: tensor count");
    for t in &ours {
        assert!(reference.contains_key(&t.key), "{variant}: no reference `{}`", t.key);
        let e = tensor_rel(t, &reference);
        assert!(
            e <= 1e-3,
            "{variant}: `{}` after {} steps differs by {e:.2e}",
            t.key,
            record.steps.len()
        );
    }
}

#[test]
fn multitask_steps_match_pytorch() {
    replay("multitask");
}

#[test]
fn meta_embed_steps_match_pytorch() {
    replay("meta-embed");
}

#[test]
fn attention_steps_match_pytorch() {
    replay("attention");
}

#[test]
fn torch_names_round_trip_and_refuse_a_wrong_state() {
    let record = ParityRecord::read(&data("tiny-attention.json")).unwrap();
    let device = Device::flex();
    let model = record.settings.model.init(&device).unwrap();
    let state: BTreeMap<String, TorchTensor> =
        model.torch_state().unwrap().into_iter().map(|t| (t.key.clone(), t)).collect();
    // Linear weights are transposed to PyTorch's [out, in].
    let w = &state["head.score.layers.1.weight"];
    assert_eq!(w.shape, [1, 16]);
    assert!(state.contains_key("backbone.layer4.0.downsample.1.running_var"));
    assert!(state.contains_key("head.fusion.blocks.0.norm_attn.weight"));
    let again = model.clone().load_torch_state(&state).unwrap().torch_state().unwrap();
    for t in again {
        assert_eq!(t, state[&t.key]);
    }
    let mut broken = state.clone();
    broken.remove("head.loss.log_vars");
    broken.insert(
        "head.extra".into(),
        TorchTensor { key: "head.extra".into(), shape: vec![1], values: vec![0.0] },
    );
    let err = model.load_torch_state(&broken).unwrap_err().to_string();
    assert!(
        err.contains("missing `head.loss.log_vars`") && err.contains("unexpected `head.extra`"),
        "{err}"
    );
}
