#!/usr/bin/env python3
"""Training parity with PyTorch: the same model, initial weights and batches give the same
losses at every step, and the same weights after them.

For each variant, the Rust example `train_parity` (examples/train_parity.rs) trains with the
real animescore `Trainer` (augmentation off) and exports the seeded initial weights under
PyTorch names, every training sample as the model sees it, and per step its learning rate,
batch and losses. This script re-implements the model in plain PyTorch from docs/heads.md and
the heads crate (torchvision's ResNet blocks for the backbone, our heads, the uncertainty-
weighted loss), loads those weights, trains on the same batches with torch.optim.AdamW and
PyTorch's stock LinearLR -> CosineAnnealingLR schedule on the CPU in f32, and compares:

  step mode (default): per-step total and per-task losses (1e-4 relative for the first 5
  steps, 1e-3 for all), the learning rate of every step, and after the last step every
  parameter and batch-norm running statistic (1e-3 relative: max |a - b| / max |b| per tensor).
  It also checks that our initialisation follows PyTorch's laws (per-tensor spread within 25 %,
  constants equal).

  --epochs E: a whole short training through both, with validation after every epoch:
  held-out (test) SRCC of the best epoch's weights within 0.02, and the same best epoch
  (lowest validation score loss, as `monitor = "val-score-loss"`).

Exits 1 when a tolerance is exceeded.

Usage (developers only; CI replays committed fixtures without PyTorch, see
crates/training/tests/torch_parity.rs):
    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch torchvision safetensors numpy scipy
    cargo build --workspace --example train_parity   # or any `cargo test --workspace`
    /tmp/torchenv/bin/python scripts/parity/train_parity.py [--dataset DIR] [--variant V|all]
        [--steps 50] [--backbone tiny|resnet18] [--weight-decay 0.05]
    /tmp/torchenv/bin/python scripts/parity/train_parity.py --epochs 8 --synth 400
    /tmp/torchenv/bin/python scripts/parity/train_parity.py \
        --write-fixtures crates/training/tests/data/parity   # harness, then the test fixtures

Without --dataset a synthetic dataset (--synth images) is written and indexed in --work.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from scipy.stats import spearmanr
from torchvision.models import resnet as tv_resnet

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VARIANTS = ["multitask", "meta-embed", "attention"]
TASKS = ["score", "ai", "sanity", "tags"]
SANITY_CLASSES = 3


# ----------------------------------------------------------------------------------------------
# The model, written from docs/heads.md and crates/heads. Module names are the Rust paths, so
# the exported state dict loads as it is (linear weights are already in PyTorch's [out, in]).
# ----------------------------------------------------------------------------------------------

def hidden_widths(h):
    return [] if h == 0 else [h]


class Mlp(nn.Module):
    """Linear -> activation for each hidden width, then a final Linear (+ ReLU on request)."""

    def __init__(self, d_in, hidden, d_out, relu_output=False, gelu=False):
        super().__init__()
        widths = [d_in] + list(hidden) + [d_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.relu_output = relu_output
        self.act = nn.GELU() if gelu else nn.ReLU()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return F.relu(x) if self.relu_output else x


class MetadataHeads(nn.Module):
    def __init__(self, d, hidden, tag_vocab):
        super().__init__()
        self.ai = Mlp(d, hidden_widths(hidden), 1)
        self.sanity = Mlp(d, hidden_widths(hidden), SANITY_CLASSES)
        self.tags = Mlp(d, hidden_widths(hidden), tag_vocab) if tag_vocab else None

    def forward(self, pooled):
        tags = self.tags(pooled) if self.tags is not None else None
        return self.ai(pooled).reshape(-1), self.sanity(pooled), tags


class MetadataEncoder(nn.Module):
    """One linear map per metadata field of its probability vector (soft embedding)."""

    def __init__(self, ai_sanity, tag_vocab, d_out, relu=False):
        super().__init__()
        self.ai = Mlp(2, [], d_out, relu_output=relu) if ai_sanity else None
        self.sanity = Mlp(SANITY_CLASSES, [], d_out, relu_output=relu) if ai_sanity else None
        self.tags = Mlp(tag_vocab, [], d_out, relu_output=relu) if tag_vocab else None

    def n_fields(self):
        return sum(m is not None for m in (self.ai, self.sanity, self.tags))

    def forward(self, probs):
        out = []
        if self.ai is not None:
            out.append(self.ai(probs["ai"]))
        if self.sanity is not None:
            out.append(self.sanity(probs["sanity"]))
        if self.tags is not None and probs["tags"] is not None:
            out.append(self.tags(probs["tags"]))
        return out


class Block(nn.Module):
    """Pre-LN transformer block: x + MHA(LN x), x + FFN(LN x)."""

    def __init__(self, d, n_heads, d_ff):
        super().__init__()
        self.n_heads = n_heads
        self.norm_attn = nn.LayerNorm(d, eps=1e-5)
        self.attn = nn.Module()
        for name in ("query", "key", "value", "output"):
            setattr(self.attn, name, nn.Linear(d, d))
        self.norm_ffn = nn.LayerNorm(d, eps=1e-5)
        self.ffn = Mlp(d, [d_ff], d, gelu=True)
        # torch.nn.MultiheadAttention's init: Xavier over the packed [3d, d] input projection,
        # zero biases, the output projection with Linear's default weight.
        with torch.no_grad():
            packed = torch.empty(3 * d, d)
            nn.init.xavier_uniform_(packed)
            for i, name in enumerate(("query", "key", "value")):
                getattr(self.attn, name).weight.copy_(packed[i * d:(i + 1) * d])
            for name in ("query", "key", "value", "output"):
                getattr(self.attn, name).bias.zero_()

    def forward(self, x):
        b, t, d = x.shape
        h, dk = self.n_heads, d // self.n_heads
        y = self.norm_attn(x)
        split = lambda z: z.reshape(b, t, h, dk).transpose(1, 2)
        q, k, v = (split(getattr(self.attn, n)(y)) for n in ("query", "key", "value"))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dk), dim=-1)
        context = (weights @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.attn.output(context)
        return x + self.ffn(self.norm_ffn(x))


class AttentionFusion(nn.Module):
    def __init__(self, d_feature, embedding, a, tag_vocab):
        super().__init__()
        d = a["d_model"]
        self.patch_projection = Mlp(d_feature, [a["patch_hidden"]], d)
        self.metadata_tokens = MetadataEncoder(uses_ai_sanity(embedding), tag_vocab, d, relu=True)
        self.max_patch_tokens = a["max_patch_tokens"]
        rows = self.max_patch_tokens + self.metadata_tokens.n_fields()
        self.position = nn.Parameter(torch.randn(rows, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, a["n_heads"], a["d_ff"]) for _ in range(a["n_blocks"]))
        self.norm = nn.LayerNorm(d, eps=1e-5)

    def forward(self, fmap, probs):
        b, c, h, w = fmap.shape
        patches = h * w
        tokens = [self.patch_projection(fmap.reshape(b, c, patches).transpose(1, 2))]
        tokens += [t.unsqueeze(1) for t in self.metadata_tokens(probs)]
        x = torch.cat(tokens, 1)
        n_meta = x.shape[1] - patches
        pos = torch.cat([self.position[:patches],
                         self.position[self.max_patch_tokens:self.max_patch_tokens + n_meta]], 0)
        x = x + pos.unsqueeze(0)
        for block in self.blocks:
            x = block(x)
        return self.norm(x).mean(1)


def uses_ai_sanity(embedding):
    return embedding in ("ai-sanity", "both")


def uses_tags(embedding):
    return embedding in ("tags", "both")


class Loss(nn.Module):
    """Raw per-task losses and their uncertainty-weighted (or fixed-weight) sum."""

    def __init__(self, config):
        super().__init__()
        self.log_vars = nn.Parameter(torch.zeros(4))
        self.weighting = config["weighting"]
        self.score_loss = config["score_loss"]

    def task_losses(self, out, targets):
        residual = out["score"] - targets["score"]
        kind = self.score_loss["kind"]
        if kind == "mse":
            score = residual ** 2
        elif kind == "mae":
            score = residual.abs()
        else:
            delta = self.score_loss["delta"]
            score = F.huber_loss(out["score"], targets["score"], reduction="none", delta=delta)
        ai = F.binary_cross_entropy_with_logits(out["ai"], targets["ai"], reduction="none")
        sanity = F.cross_entropy(out["sanity"], targets["sanity"], reduction="none")
        losses = {
            "score": masked_mean(score, targets["score_mask"]),
            "ai": masked_mean(ai, targets["ai_mask"]),
            "sanity": masked_mean(sanity, targets["sanity_mask"]),
        }
        if out["tags"] is not None and targets["tags"] is not None:
            per_sample = F.binary_cross_entropy_with_logits(
                out["tags"], targets["tags"], reduction="none").mean(1)
            losses["tags"] = masked_mean(per_sample, targets["tags_mask"])
        return losses

    def combine(self, losses):
        total = 0
        for i, task in enumerate(TASKS):
            if task not in losses:
                continue
            if self.weighting["mode"] == "uncertainty":
                s = self.log_vars[i]
                weighted = torch.exp(-s) * losses[task]
                if task == "score":  # regression: 1/2 e^-s L + 1/2 s
                    weighted = 0.5 * weighted
                total = total + weighted + 0.5 * s
            else:
                total = total + self.weighting[task] * losses[task]
        return total


def masked_mean(x, mask):
    if mask is None:
        return x.mean()
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


class ScoringHead(nn.Module):
    def __init__(self, heads, d_feature):
        super().__init__()
        self.variant, self.embedding = heads["variant"], heads["embedding"]
        tag_vocab = heads["tag_vocab"] if uses_tags(self.embedding) else 0
        self.metadata_heads = MetadataHeads(d_feature, heads["head_hidden"], tag_vocab)
        h = heads["head_hidden"]
        if self.variant == "multitask":
            self.fusion = None
            self.score = Mlp(d_feature, hidden_widths(h), 1)
        elif self.variant == "meta-embed":
            self.fusion = MetadataEncoder(uses_ai_sanity(self.embedding), tag_vocab,
                                          heads["embed_dim"])
            d_in = d_feature + self.fusion.n_fields() * heads["embed_dim"]
            self.score = Mlp(d_in, hidden_widths(h), 1)
        else:
            a = heads["attention"]
            self.fusion = AttentionFusion(d_feature, self.embedding, a, tag_vocab)
            self.score = Mlp(a["d_model"], hidden_widths(a["score_hidden"]), 1)
        self.loss = Loss(heads["loss"])
        self.stop_gradient = heads["stop_gradient"]

    def forward(self, fmap):
        pooled = fmap.mean(dim=(2, 3))
        ai, sanity, tags = self.metadata_heads(pooled)
        cut = (lambda t: t.detach()) if self.stop_gradient else (lambda t: t)
        p_ai = torch.sigmoid(ai).unsqueeze(1)
        probs = {"ai": cut(torch.cat([1 - p_ai, p_ai], 1)),
                 "sanity": cut(torch.softmax(sanity, 1)),
                 "tags": cut(torch.sigmoid(tags)) if tags is not None else None}
        if self.variant == "multitask":
            x = pooled
        elif self.variant == "meta-embed":
            x = torch.cat([pooled] + self.fusion(probs), 1)
        else:
            x = self.fusion(fmap, probs)
        return {"score": self.score(x).reshape(-1), "ai": ai, "sanity": sanity, "tags": tags}


class ResNetFeatures(tv_resnet.ResNet):
    """torchvision's ResNet (its own blocks and `_make_layer`, so torchvision's parameter names)
    with configurable widths, without the classifier, returning the last feature map."""

    def __init__(self, cfg):
        nn.Module.__init__(self)
        block = tv_resnet.BasicBlock if cfg["block"] == "basic" else tv_resnet.Bottleneck
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = cfg["stem_width"], 1, 1, 64
        self.conv1 = nn.Conv2d(3, cfg["stem_width"], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg["stem_width"])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.n_stages = len(cfg["widths"])
        for i, (w, n) in enumerate(zip(cfg["widths"], cfg["blocks"])):
            setattr(self, f"layer{i + 1}", self._make_layer(block, w, n, stride=1 if i == 0 else 2))
        self.out_channels = self.inplanes
        # torchvision's from-scratch init (ResNet.__init__), including zero_init_residual.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if cfg.get("zero_init_residual", True):
            for m in self.modules():
                if isinstance(m, tv_resnet.Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, tv_resnet.BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


class ScoringModel(nn.Module):
    def __init__(self, model_config):
        super().__init__()
        bb = model_config["backbone"]
        if bb["kind"] != "resnet":
            raise SystemExit(f"backbone kind {bb['kind']!r}: only ResNets are re-implemented")
        self.backbone = ResNetFeatures(bb)
        self.head = ScoringHead(model_config["heads"], self.backbone.out_channels)

    def forward(self, images):
        return self.head(self.backbone(images))


# ----------------------------------------------------------------------------------------------
# Data, schedule, training
# ----------------------------------------------------------------------------------------------

class Samples:
    """One split's exported samples: images and raw labels, batched as the Rust loader does."""

    def __init__(self, tensors, split):
        get = lambda name: tensors.get(f"{split}.{name}")
        self.images = get("images")
        self.columns = {k: get(k) for k in ("score", "score_present", "ai", "ai_present", "sanity",
                                             "sanity_present", "tags", "tags_present")}

    def __len__(self):
        return self.images.shape[0]

    def batch(self, idx):
        idx = torch.as_tensor(idx, dtype=torch.long)
        c = {k: (v[idx] if v is not None else None) for k, v in self.columns.items()}
        # Targets::from_labels: score scaled to [0, 1] in f32, a mask only when a label is
        # missing, missing values 0.
        mask = lambda p: None if bool((p > 0.5).all()) else (p > 0.5).float()
        score = torch.where(c["score_present"] > 0.5, (c["score"] - 1.0) / 99.0,
                            torch.zeros_like(c["score"]))
        targets = {
            "score": score, "score_mask": mask(c["score_present"]),
            "ai": c["ai"], "ai_mask": mask(c["ai_present"]),
            "sanity": c["sanity"].long(), "sanity_mask": mask(c["sanity_present"]),
            "tags": c["tags"],
            "tags_mask": mask(c["tags_present"]) if c["tags"] is not None else None,
        }
        return self.images[idx], targets, c


def make_schedule(opt, s):
    """Our LrSchedule with PyTorch's stock schedulers: LinearLR from peak/W to peak over the W
    warm-up steps, then CosineAnnealingLR from the peak to min_lr over the remaining steps."""
    w, total = s["warmup_steps"], s["total_steps"]
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(total - w, 1), eta_min=s["min_lr"])
    if w == 0:
        return cosine
    if w == 1:
        warm = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=1)
    else:
        warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / w, end_factor=1.0,
                                                 total_iters=w - 1)
    return torch.optim.lr_scheduler.SequentialLR(opt, [warm, cosine], milestones=[w])


def load_model(settings, initial):
    model = ScoringModel(settings["model"])
    state = {k: v for k, v in initial.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit the PyTorch model: missing {missing}, "
                         f"unexpected {unexpected}")
    return model


def train_steps(model, settings, steps, samples, on_epoch_end=None, steps_per_epoch=None):
    """Replays the recorded steps; returns per step (lr, losses as floats)."""
    opt = torch.optim.AdamW(model.parameters(), lr=settings["lr"],
                            betas=(settings["beta1"], settings["beta2"]),
                            eps=settings["epsilon"], weight_decay=settings["weight_decay"])
    sched = make_schedule(opt, settings)
    out = []
    model.train()
    for i, step in enumerate(steps):
        images, targets, _ = samples.batch(step["samples"])
        lr = opt.param_groups[0]["lr"]
        result = model(images)
        losses = model.head.loss.task_losses(result, targets)
        total = model.head.loss.combine(losses)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
        row = {"total": total.item(), **{k: v.item() for k, v in losses.items()}}
        out.append((lr, row))
        if on_epoch_end is not None and (i + 1) % steps_per_epoch == 0:
            on_epoch_end((i + 1) // steps_per_epoch)
            model.train()
    return out


def evaluate(model, samples, batch_size):
    """Validation pass as animescore's: raw score loss weighted by batch size, SRCC of the
    predictions unscaled to 1..100 (clamped) against the labelled scores."""
    model.eval()
    loss_sum, n, preds, truth = 0.0, 0, [], []
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            idx = list(range(start, min(start + batch_size, len(samples))))
            images, targets, cols = samples.batch(idx)
            result = model(images)
            losses = model.head.loss.task_losses(result, targets)
            loss_sum += losses["score"].item() * len(idx)
            n += len(idx)
            present = cols["score_present"] > 0.5
            preds += (result["score"].clamp(0, 1) * 99 + 1)[present].tolist()
            truth += cols["score"][present].tolist()
    srcc = spearmanr(preds, truth).correlation if len(preds) > 1 else None
    return loss_sum / max(n, 1), (None if srcc is None or math.isnan(srcc) else float(srcc))


# ----------------------------------------------------------------------------------------------
# Comparisons
# ----------------------------------------------------------------------------------------------

def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def tensor_rel(a, b, scale=None):
    """max |a - b| / max |b| (or / `scale`)."""
    scale = b.abs().max() if scale is None else scale
    return float((a.double() - b.double()).abs().max() / max(float(scale), 1e-12))


def param_scale(key, state):
    """What a tensor's difference is relative to: its own largest value, except for attention
    key biases. Those get no gradient in exact arithmetic (a per-query constant that softmax
    ignores), so their values are rounding noise magnified by Adam; they are measured against
    their projection's weight."""
    if key.endswith("attn.key.bias"):
        return state[key[:-len("bias")] + "weight"].abs().max()
    return state[key].abs().max()


def state_of(model):
    return {k: v.detach().float().clone() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def replay_f64(settings, initial, steps, out):
    """The same steps in float64 (the arbiter of f32 rounding)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = load_model(settings, {k: v.double() for k, v in initial.items()}).double()
        tensors = load_file(os.path.join(out, "samples.safetensors"))
        samples = Samples({k: v.double() for k, v in tensors.items()}, "train")
        train_steps(model, settings, steps, samples)
    finally:
        torch.set_default_dtype(default)
    return model


def init_report(settings, initial, seed):
    """Our initial weights against PyTorch's initialisation laws for the same modules."""
    torch.manual_seed(seed)
    fresh = ScoringModel(settings["model"]).state_dict()
    worst, problems = 1.0, []
    for key, ours in initial.items():
        ref = fresh[key].float()
        if ref.numel() == 0:
            continue
        if ref.numel() < 2:
            continue
        if float(ref.std()) == 0.0:
            if not torch.equal(ours, ref):
                problems.append(f"{key}: constant {float(ref.flatten()[0])} in PyTorch, ours differ")
            continue
        if ref.numel() < 64:
            continue
        ratio = float(ours.std() / ref.std())
        worst = max(worst, ratio, 1 / ratio)
        if not 0.75 <= ratio <= 1.0 / 0.75:
            problems.append(f"{key}: spread {float(ours.std()):.4g}, PyTorch {float(ref.std()):.4g}")
    return worst, problems


def run_rust(args, variant, out, steps, epochs):
    cmd = [args.bin, "--out", out, "--variant", variant, "--embedding", args.embedding,
           "--backbone", args.backbone, "--batch-size", str(args.batch_size),
           "--image-size", str(args.image_size), "--lr", str(args.lr),
           "--weight-decay", str(args.weight_decay), "--seed", str(args.seed),
           "--dataset", args.dataset]
    if args.synthetic:
        cmd += ["--synth", str(args.synth)]
    cmd += ["--epochs", str(epochs)] if epochs else ["--steps", str(steps)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "record.json")) as f:
        return json.load(f)


def step_mode(args, variant, out):
    record = run_rust(args, variant, out, args.steps, None)
    settings, steps = record["settings"], record["steps"]
    initial = load_file(os.path.join(out, "initial.safetensors"))
    tensors = load_file(os.path.join(out, "samples.safetensors"))
    samples = Samples(tensors, "train")
    init_worst, init_problems = init_report(settings, initial, args.seed)
    model = load_model(settings, initial)
    torch_steps = train_steps(model, settings, steps, samples)

    print(f"\n== {variant} ({settings['model']['backbone']['kind']}, "
          f"{len(steps)} steps, batch {settings['batch_size']}, {settings['image_size']} px)")
    print(f"{'step':>4} {'lr':>10} {'total ours':>12} {'total torch':>12} {'rel':>9} "
          f"{'worst task':>10} {'task rel':>9}")
    worst_first, worst_all, worst_lr = 0.0, 0.0, 0.0
    rows = []
    for step, (lr, theirs) in zip(steps, torch_steps):
        ours = step["losses"]
        worst_lr = max(worst_lr, rel(step["lr"], lr))
        task_rel = {t: rel(ours[t], theirs[t]) for t in TASKS if t in theirs}
        total_rel = rel(ours["total"], theirs["total"])
        task, task_worst = max(task_rel.items(), key=lambda kv: kv[1])
        step_worst = max(total_rel, task_worst)
        worst_all = max(worst_all, step_worst)
        if step["step"] < 5:
            worst_first = max(worst_first, step_worst)
        rows.append((step["step"], lr, theirs))
        print(f"{step['step']:>4} {lr:>10.3e} {ours['total']:>12.6f} {theirs['total']:>12.6f} "
              f"{total_rel:>9.1e} {task:>10} {task_worst:>9.1e}")

    after = load_file(os.path.join(out, "after.safetensors"))
    reference = state_of(model)
    # The arbiter where PyTorch's f32 result is itself off its f64 result (Adam magnifies
    # rounding in a few small, slowly moving tensors): the same steps in f64.
    exact = state_of(replay_f64(settings, initial, steps, out))
    param_rel, floor = {}, {}
    for k in reference:
        scale = param_scale(k, reference)
        param_rel[k] = min(tensor_rel(after[k], reference[k], scale),
                           tensor_rel(after[k], exact[k], param_scale(k, exact)))
        floor[k] = tensor_rel(reference[k], exact[k], param_scale(k, exact))
    worst_key = max(param_rel, key=param_rel.get)
    worst_floor = max(floor, key=floor.get)
    stats = {k: v for k, v in param_rel.items() if "running_" in k}
    worst_stat = max(stats.values()) if stats else 0.0
    print(f"lr: worst relative difference {worst_lr:.1e}")
    print(f"losses: worst relative difference {worst_first:.1e} (steps 0-4), {worst_all:.1e} (all)")
    print(f"after {len(steps)} steps: worst parameter {worst_key} {param_rel[worst_key]:.1e}, "
          f"worst BN running statistic {worst_stat:.1e}; PyTorch f32 against f64: "
          f"{worst_floor} {floor[worst_floor]:.1e}")
    print(f"init: per-tensor spread within x{init_worst:.2f} of PyTorch's"
          + (f"; {len(init_problems)} problems: {init_problems[:5]}" if init_problems else ""))
    failures = []
    if worst_first > 1e-4:
        failures.append(f"first 5 steps: {worst_first:.1e} > 1e-4")
    if worst_all > 1e-3:
        failures.append(f"all steps: {worst_all:.1e} > 1e-3")
    if param_rel[worst_key] > 1e-3:
        failures.append(f"parameters: {worst_key} {param_rel[worst_key]:.1e} > 1e-3")
    if worst_lr > 1e-9:
        failures.append(f"learning rate: {worst_lr:.1e} > 1e-9")
    if init_problems:
        failures.append("initialisation: " + "; ".join(init_problems[:5]))
    summary = {"variant": variant, "first5": worst_first, "all": worst_all,
               "params": param_rel[worst_key], "param": worst_key, "bn": worst_stat,
               "f32_floor": floor[worst_floor],
               "lr": worst_lr, "init": init_worst}
    return failures, summary, record, rows, model, initial, samples


def whole_training(settings, initial, tensors, steps, epochs, dtype=torch.float32):
    """PyTorch's whole short training on the recorded batches: per epoch (validation loss,
    SRCC), the best epoch (lowest validation score loss), the test SRCC of its weights, and
    per step (lr, losses)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        model = load_model(settings, {k: v.to(dtype) for k, v in initial.items()}).to(dtype)
        train, val, test = (Samples({k: v.to(dtype) for k, v in tensors.items()}, s)
                            for s in ("train", "validation", "test"))
        history, best = [], {"loss": None, "epoch": 0, "state": None}

        def on_epoch_end(epoch):
            loss, srcc = evaluate(model, val, settings["batch_size"])
            history.append((epoch, loss, srcc))
            if best["loss"] is None or loss < best["loss"]:
                best.update(loss=loss, epoch=epoch,
                            state={k: v.clone() for k, v in model.state_dict().items()})

        torch_steps = train_steps(model, settings, steps, train, on_epoch_end,
                                  len(steps) // epochs)
        model.load_state_dict(best["state"])
        _, test_srcc = evaluate(model, test, settings["batch_size"])
    finally:
        torch.set_default_dtype(default)
    return history, best["epoch"], test_srcc, torch_steps, (len(train), len(val), len(test))


def epoch_mode(args, variant, out):
    record = run_rust(args, variant, out, None, args.epochs)
    settings, steps = record["settings"], record["steps"]
    initial = load_file(os.path.join(out, "initial.safetensors"))
    tensors = load_file(os.path.join(out, "samples.safetensors"))
    history, best_epoch, test_srcc, torch_steps, sizes = whole_training(
        settings, initial, tensors, steps, args.epochs)
    # The rounding floor: PyTorch against itself in f64, on the same batches.
    _, best64, test64, _, _ = whole_training(settings, initial, tensors, steps, args.epochs,
                                             torch.float64)
    per_epoch = len(steps) // args.epochs
    print(f"\n== {variant}: {args.epochs} epochs of {per_epoch} steps, "
          f"{sizes[0]}/{sizes[1]}/{sizes[2]} train/validation/test images")
    print(f"{'epoch':>5} {'val loss ours':>14} {'val loss torch':>14} {'val SRCC ours':>13} "
          f"{'val SRCC torch':>14}")
    for (epoch, loss, srcc), ours in zip(history, record["epochs"]):
        fmt = lambda v: "-" if v is None else f"{v:.4f}"
        print(f"{epoch:>5} {ours['val_score_loss']:>14.6f} {loss:>14.6f} "
              f"{fmt(ours['val_srcc']):>13} {fmt(srcc):>14}")
    step_worst = max(rel(s["losses"]["total"], t["total"]) for s, (_, t) in zip(steps, torch_steps))
    print(f"best epoch: ours {record['best_epoch']}, torch {best_epoch} (f64: {best64}); "
          f"test SRCC: ours {record['test_srcc']:.4f}, torch {test_srcc:.4f} (f64: {test64:.4f}); "
          f"worst per-step total-loss relative difference {step_worst:.1e}")
    failures = []
    if record["best_epoch"] != best_epoch:
        failures.append(f"best epoch {record['best_epoch']} vs {best_epoch}")
    if record["test_srcc"] is None or test_srcc is None or abs(record["test_srcc"] - test_srcc) > 0.02:
        failures.append(f"test SRCC {record['test_srcc']} vs {test_srcc}")
    summary = {"variant": variant, "best_ours": record["best_epoch"], "best_torch": best_epoch,
               "best_torch_f64": best64, "test_ours": record["test_srcc"],
               "test_torch": test_srcc, "test_torch_f64": test64, "steps": step_worst}
    return failures, summary


# The Rust test's configuration: a narrower `tiny` (widths 4/8/8/8), 40 px crops (a 2x2 final
# map), 5 steps of 4 images drawn from 8, warm-up 2 of 5 steps, weight decay 0.05, so the
# fixtures stay small (about 300 KB) while every convention is exercised.
FIXTURE = {"widths": [4, 8, 8, 8], "stem_width": 4, "crop": 40, "images": 8, "batch": 4,
           "steps": 5, "warmup_steps": 2, "weight_decay": 0.05}


def fixture_batches():
    """Step i takes 4 of the 8 images, rotating, so every image is seen and batches differ."""
    n, b = FIXTURE["images"], FIXTURE["batch"]
    return [[(3 * i + j) % n for j in range(b)] for i in range(FIXTURE["steps"])]


def write_fixtures(directory, results, seed):
    """Small reference fixtures for the Rust test (crates/training/tests/torch_parity.rs).

    From the first 8 exported training samples (centre-cropped to 40 px) and, per variant, the
    harness run's settings with a narrower backbone: a model initialised by PyTorch (seed
    `seed`), trained for 5 steps by PyTorch alone. Written: `samples.safetensors` (the 8
    samples), per variant `tiny-{variant}.json` (settings, per step its learning rate, batch
    and PyTorch's losses) and `tiny-{variant}.safetensors` (`initial.*` and `reference.*`:
    the weights before and after the steps). The Rust test loads the initial weights, replays
    the steps with our optimiser and schedule, and compares."""
    os.makedirs(directory, exist_ok=True)
    samples = results[0][6]
    n, c = FIXTURE["images"], FIXTURE["crop"]
    size = samples.images.shape[-1]
    top = (size - c) // 2
    subset = {"train.images": samples.images[:n, :, top:top + c, top:top + c].contiguous()}
    for k, v in samples.columns.items():
        if v is not None:
            subset[f"train.{k}"] = v[:n].contiguous()
    save_file(subset, os.path.join(directory, "samples.safetensors"))
    small = Samples(subset, "train")
    for variant, _, record, _, _, _, _ in results:
        settings = json.loads(json.dumps(record["settings"]))
        backbone = settings["model"]["backbone"]
        backbone.update(widths=FIXTURE["widths"], stem_width=FIXTURE["stem_width"],
                        image_size=c)
        settings.update(image_size=c, batch_size=FIXTURE["batch"],
                        warmup_steps=FIXTURE["warmup_steps"], total_steps=FIXTURE["steps"],
                        weight_decay=FIXTURE["weight_decay"])
        torch.manual_seed(seed)
        model = ScoringModel(settings["model"])
        initial = state_of(model)
        steps = [{"step": i, "samples": idx} for i, idx in enumerate(fixture_batches())]
        rows = train_steps(model, settings, steps, small)
        for step, (lr, theirs) in zip(steps, rows):
            step["lr"] = lr
            step["losses"] = {t: theirs.get(t) for t in ["total"] + TASKS}
        with open(os.path.join(directory, f"tiny-{variant}.json"), "w") as f:
            json.dump({"settings": settings, "steps": steps}, f, indent=1)
            f.write("\n")
        tensors = {f"initial.{k}": v.contiguous() for k, v in initial.items()}
        tensors.update({f"reference.{k}": v.contiguous() for k, v in state_of(model).items()})
        save_file(tensors, os.path.join(directory, f"tiny-{variant}.safetensors"))
    print(f"fixtures written to {directory}")


def default_bin():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "examples", "train_parity")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", help="an ingested dataset (default: a synthetic one in --work)")
    p.add_argument("--synth", type=int, default=120, help="images of the synthetic dataset")
    p.add_argument("--variant", default="all", choices=VARIANTS + ["all"])
    p.add_argument("--embedding", default="both")
    p.add_argument("--backbone", default="tiny", help="tiny or resnet18")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--epochs", type=int, help="whole short training of this many epochs")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05,
                   help="AdamW's decoupled weight decay (the run default 1e-4 moves a weight by "
                        "2e-7 a step at lr 2e-3, too little to tell decoupled decay from L2)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--bin", default=default_bin(), help="the train_parity example binary")
    p.add_argument("--work", help="working folder (default: a temporary one)")
    p.add_argument("--write-fixtures", metavar="DIR", help="write the Rust test's fixtures")
    args = p.parse_args()

    torch.set_default_dtype(torch.float32)
    if not os.path.isfile(args.bin):
        print("building the Rust example: cargo build --workspace --example train_parity",
              file=sys.stderr)
        subprocess.run(["cargo", "build", "--workspace", "--example", "train_parity"], cwd=ROOT,
                       check=True)
    work = args.work or tempfile.mkdtemp(prefix="train-parity-")
    args.synthetic = args.dataset is None
    args.dataset = os.path.abspath(args.dataset or os.path.join(work, "dataset"))
    variants = VARIANTS if args.variant == "all" else [args.variant]
    failures, summaries, results = [], [], []
    for variant in variants:
        out = os.path.join(work, variant)
        if args.epochs:
            f, s = epoch_mode(args, variant, out)
        else:
            f, s, *rest = step_mode(args, variant, out)
            results.append((variant, s, *rest))
        failures += [f"{variant}: {x}" for x in f]
        summaries.append(s)
    print("\nsummary:")
    for s in summaries:
        print("  " + ", ".join(f"{k} {v:.1e}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in s.items()))
    if args.write_fixtures:
        write_fixtures(args.write_fixtures, results, args.seed)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nall within tolerance")


if __name__ == "__main__":
    main()
