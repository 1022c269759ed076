#!/usr/bin/env python3
"""PyTorch CPU reference for one training step, to set beside `animescore benchmark --mode train`.

The model mirrors animescore's `multitask` variant with `--embedding none` and the default
heads: a torchvision backbone (weights=None) without its classifier, then three heads on the
pooled feature (score, AI flag, 3 sanity classes), each Linear → ReLU → Dropout(0.2) → Linear
with 512 hidden units, and the uncertainty-weighted multi-task loss (Kendall et al.: learned
log-variances, ½·e^{−s}·MSE + ½·s for the score, e^{−s}·L + ½·s for BCE and cross-entropy).
A step is: zero_grad → forward → loss → backward → AdamW step (lr 1e-4, weight decay 1e-2,
PyTorch's default AdamW otherwise: for-each implementation). One fresh random batch is
uploaded as given (no data pipeline), W warm-up + N timed steps.

Prints `ms_per_step images_per_s` on one line (stdout); the header goes to stderr.

    python scripts/bench/train_step_torch.py --threads 2 --model resnet18 --batch 8 --size 224
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def head(d_in, d_out, hidden=512, dropout=0.2):
    return torch.nn.Sequential(
        torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, d_out))


class Multitask(torch.nn.Module):
    def __init__(self, name):
        super().__init__()
        self.backbone = getattr(torchvision.models, name.replace("-", "_"))(weights=None)
        if hasattr(self.backbone, "fc"):
            d = self.backbone.fc.in_features
            self.backbone.fc = torch.nn.Identity()
        else:
            d = self.backbone.classifier[-1].in_features
            self.backbone.classifier = torch.nn.Identity()
        self.score, self.ai, self.sanity = head(d, 1), head(d, 1), head(d, 3)
        self.log_vars = torch.nn.Parameter(torch.zeros(3))

    def forward(self, x):
        f = self.backbone(x)
        return self.score(f).squeeze(1), self.ai(f).squeeze(1), self.sanity(f)

    def loss(self, out, score, ai, sanity):
        s = self.log_vars
        raw = [F.mse_loss(out[0], score), F.binary_cross_entropy_with_logits(out[1], ai),
               F.cross_entropy(out[2], sanity)]
        return (0.5 * torch.exp(-s[0]) * raw[0] + 0.5 * s[0]
                + torch.exp(-s[1]) * raw[1] + 0.5 * s[1]
                + torch.exp(-s[2]) * raw[2] + 0.5 * s[2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Multitask(args.model).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-2)
    b = args.batch
    x = torch.empty(b, 3, args.size, args.size).uniform_(-2, 2)
    score = torch.empty(b).uniform_(1, 100)
    ai = (torch.arange(b) % 2 == 0).float()
    sanity = torch.arange(b) % 3

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model.loss(model(x.clone()), score, ai, sanity)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model} multitask, "
          f"batch {b}, {args.size}x{args.size}, {args.warmup} warm-up + {args.steps} timed steps, AdamW",
          file=sys.stderr)
    print(f"{seconds * 1000 / args.steps:.1f} {args.steps * b / seconds:.2f}")


if __name__ == "__main__":
    main()
