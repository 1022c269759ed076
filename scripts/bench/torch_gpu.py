#!/usr/bin/env python3
"""PyTorch reference throughput on one GPU, to set beside `animescore benchmark`.

torchvision resnet50 and efficientnet_b0 (weights=None), the classifier replaced by a
1-output Linear, random 3×S×S input (S = 224), MSE loss against random targets. Per row:

  train    model.train(), W warm-up + N timed steps of zero_grad → forward → MSE → backward →
           optimiser step (AdamW by default, as animescore's training loop uses)
  predict  model.eval() under torch.no_grad(), W warm-up + N timed forwards

images/s = N · batch / seconds, timed between torch.cuda.synchronize() calls; peak memory is
torch.cuda.max_memory_allocated() (reset before each phase), i.e. what the caching allocator
handed out, and device_peak_mib what the device had in use (torch.cuda.mem_get_info) right
after each phase, before the cache is emptied: about what nvidia-smi shows. bf16 rows use torch.autocast(dtype=torch.bfloat16)
(weights and optimiser stay f32, as mixed precision does). Plain defaults otherwise:
contiguous (NCHW) memory, cudnn.benchmark off, and whatever TF32 policy this torch has by
default (printed in the header; PyTorch allows TF32 in cuDNN convolutions by default, so its
"f32" convolutions run on TF32 tensor cores) — --tf32 on|off overrides it. One extra row runs
resnet50 batch 64 bf16 with channels_last.

Prints one JSON line per row (stdout) and then a markdown table.

    python3 scripts/bench/torch_gpu.py                      # the full set, < 100 s on an H100
    python3 scripts/bench/torch_gpu.py --steps 10 --warmup 2
    python3 scripts/bench/torch_gpu.py --device cpu --quick --image-size 64   # code-path check
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

# animescore backbone name → torchvision constructor.
MODELS = {"resnet50": "resnet50", "efficientnet-b0": "efficientnet_b0"}


def build(name):
    model = getattr(torchvision.models, MODELS[name])(weights=None)
    if hasattr(model, "fc"):
        model.fc = torch.nn.Linear(model.fc.in_features, 1)
    else:
        last = model.classifier[-1]
        model.classifier[-1] = torch.nn.Linear(last.in_features, 1)
    return model


def rows(args):
    out = []
    for name in args.models:
        for batch in args.batches:
            for precision in args.precisions:
                out.append((name, batch, precision, False))
    if args.channels_last_row and "resnet50" in args.models:
        batch = 64 if 64 in args.batches else max(args.batches)
        prec = "bf16" if "bf16" in args.precisions else args.precisions[0]
        out.append(("resnet50", batch, prec, True))
    return out


class Clock:
    """Wall time between device synchronisations."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.device = device

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def reset_peak(self):
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_mib(self):
        if self.cuda:
            return round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        return None

    def device_used_mib(self):
        """What the whole device has in use now (as nvidia-smi counts it: CUDA context and the
        caching allocator's reserve included). Called right after a phase, before
        empty_cache(), it is about that phase's nvidia-smi peak."""
        if self.cuda:
            free, total = torch.cuda.mem_get_info(self.device)
            return round((total - free) / 2**20, 1)
        return None


def timed(clock, fn, warmup, steps):
    for _ in range(warmup):
        fn()
    clock.sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    clock.sync()
    return time.perf_counter() - start


def run_row(args, device, clock, name, batch, precision, channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    bf16 = precision == "bf16"
    torch.manual_seed(0)
    model = build(name).to(device=device, memory_format=fmt)
    x = torch.randn(batch, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=fmt)
    y = torch.randn(batch, 1, device=device)
    if args.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-2)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = F.mse_loss(out.float(), y)
        loss.backward()
        opt.step()

    def predict_step():
        with torch.no_grad(), torch.autocast(
            device_type=device.type, dtype=torch.bfloat16, enabled=bf16
        ):
            model(x)

    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "device": str(device),
        "backbone": name,
        "precision": precision,
        "channels_last": channels_last,
        "batch_size": batch,
        "image_size": args.image_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "optimizer": args.optimizer,
        "train_images_per_s": None,
        "predict_images_per_s": None,
        "train_peak_mib": None,
        "predict_peak_mib": None,
        "device_peak_mib": None,
        "error": None,
    }
    device_used = []
    errors = []
    try:
        model.train()
        clock.reset_peak()
        secs = timed(clock, train_step, args.warmup, args.steps)
        result["train_images_per_s"] = round(args.steps * batch / secs, 1)
        result["train_peak_mib"] = clock.peak_mib()
        device_used.append(clock.device_used_mib())
    except Exception as e:  # noqa: BLE001 - an OOM or a kernel error is a row result
        errors.append(f"train: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    # Free the gradients and the optimiser state before measuring inference memory.
    opt.zero_grad(set_to_none=True)
    opt.state.clear()
    try:
        model.eval()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        clock.reset_peak()
        secs = timed(clock, predict_step, args.warmup, args.steps)
        result["predict_images_per_s"] = round(args.steps * batch / secs, 1)
        result["predict_peak_mib"] = clock.peak_mib()
        device_used.append(clock.device_used_mib())
    except Exception as e:  # noqa: BLE001
        errors.append(f"predict: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    if errors:
        result["error"] = "; ".join(errors)
    device_used = [v for v in device_used if v is not None]
    result["device_peak_mib"] = max(device_used) if device_used else None
    return result  # the model, optimiser and tensors go with this frame


def cell(v):
    return "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per phase")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per phase")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--precisions", nargs="+", default=["f32", "bf16"], choices=["f32", "bf16"])
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    ap.add_argument("--no-channels-last-row", dest="channels_last_row", action="store_false")
    ap.add_argument("--tf32", default="default", choices=["default", "on", "off"])
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="let cuDNN pick kernels by timing (off: PyTorch's default)")
    ap.add_argument("--time-limit", type=float, default=95.0,
                    help="skip the rows left once this many seconds have passed")
    ap.add_argument("--quick", action="store_true",
                    help="code-path check: 2 steps, 1 warm-up, batch 2")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.warmup, args.batches = 2, 1, [2]
    started = time.perf_counter()

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("torch_gpu: CUDA is not available to this torch")
        if device.index is None:  # set_device and friends want an index
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        if args.tf32 != "default":
            on = args.tf32 == "on"
            torch.backends.cuda.matmul.allow_tf32 = on
            torch.backends.cudnn.allow_tf32 = on
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        name = torch.cuda.get_device_name(device)
        extra = (f", cuDNN {torch.backends.cudnn.version()}, "
                 f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32} / "
                 f"conv {torch.backends.cudnn.allow_tf32}, "
                 f"cudnn.benchmark {torch.backends.cudnn.benchmark}")
    else:
        name = "CPU"
        extra = f", {torch.get_num_threads()} threads"
    header = (f"# torch {torch.__version__}, torchvision {torchvision.__version__}, {name}{extra}; "
              f"{args.image_size}x{args.image_size}, {args.warmup} warm-up + {args.steps} timed "
              f"steps, {args.optimizer}")
    print(header, file=sys.stderr, flush=True)

    results = []
    for name_, batch, precision, cl in rows(args):
        elapsed = time.perf_counter() - started
        if elapsed > args.time_limit:
            r = {"framework": "pytorch", "backbone": name_, "batch_size": batch,
                 "precision": precision, "channels_last": cl, "train_images_per_s": None,
                 "predict_images_per_s": None, "train_peak_mib": None, "predict_peak_mib": None,
                 "device_peak_mib": None, "error": f"skipped: {elapsed:.0f} s past the {args.time_limit:.0f} s limit"}
        else:
            r = run_row(args, device, Clock(device), name_, batch, precision, cl)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        r["elapsed_s"] = round(time.perf_counter() - started, 1)
        results.append(r)
        print(json.dumps(r), flush=True)

    print()
    print(header)
    print()
    print("| model | batch | precision | train img/s | predict img/s "
          "| train peak MiB | predict peak MiB | device MiB | note |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        prec = r["precision"] + (" autocast" if r["precision"] == "bf16" else "")
        prec += ", channels_last" if r["channels_last"] else ""
        print(f"| {r['backbone']} | {r['batch_size']} | {prec} | {cell(r['train_images_per_s'])} "
              f"| {cell(r['predict_images_per_s'])} | {cell(r['train_peak_mib'])} "
              f"| {cell(r['predict_peak_mib'])} | {cell(r['device_peak_mib'])} | {(r['error'] or '').replace('|', '/')} |")
    print(f"\ntotal {time.perf_counter() - started:.1f} s", flush=True)
    return 0 if all(r["error"] is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
