#!/usr/bin/env python3
"""Generate the parity fixtures for the `animescore-backbones` crate.

Builds small torchvision-structured networks with seeded random weights (BN running statistics
randomised too, so eval-mode batch norm is non-trivial), runs them in eval mode on a seeded input
and writes, per model, to crates/backbones/tests/data/:

  <name>.pth           torch.save(state_dict)          (as torchvision distributes weights)
  <name>.safetensors   safetensors.torch.save_file      (as timm / Hugging Face distribute them)
  <name>.io.safetensors  {"input", "feature_map", "pooled"}  the expected outputs (float32)
  <name>.json          the architecture parameters the Rust test builds its model from

plus manifests/<model>.json: key -> shape of torchvision's full-size state dicts
(weights=None, nothing downloaded), for the key/shape 1:1 tests.

Usage (developers only, CI never needs PyTorch):
    pip install torch torchvision safetensors
    python scripts/parity/make_fixtures.py
"""
import json
import os
from functools import partial

import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file
from torchvision.models import efficientnet as tv_eff
from torchvision.models import resnet as tv_resnet

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "backbones", "tests", "data")


class SmallResNet(tv_resnet.ResNet):
    """torchvision's ResNet with configurable stem/stage widths.

    Uses torchvision's own BasicBlock/Bottleneck and `_make_layer`, so block structure and
    parameter names are torchvision's; only the hard-coded 64/128/256/512 widths are replaced.
    """

    def __init__(self, block, layers, widths, stem):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = stem
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.stages = []
        for i, (w, n) in enumerate(zip(widths, layers)):
            layer = self._make_layer(block, w, n, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", layer)
            self.stages.append(layer)

    def feature_map(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for layer in self.stages:
            x = layer(x)
        return x


def randomise(model, gen):
    """Seeded random weights everywhere, including BN affine parameters and running stats."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bn1.weight") or p.dim() == 1 and "weight" in name:
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            elif p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) * 1.5 + 0.5)
                m.num_batches_tracked.fill_(1234)


def save(name, model, features, arch, pth=True):
    model.eval()
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 64, 64, generator=gen)
    with torch.no_grad():
        fmap = features(x)
    pooled = fmap.mean(dim=(2, 3))
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    if pth:
        torch.save(sd, os.path.join(OUT, f"{name}.pth"))
    save_file(sd, os.path.join(OUT, f"{name}.safetensors"))
    save_file(
        {"input": x, "feature_map": fmap.contiguous(), "pooled": pooled.contiguous()},
        os.path.join(OUT, f"{name}.io.safetensors"),
    )
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(arch, f, indent=1)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} params, "
          f"feature map {tuple(fmap.shape)}, |pooled|max {pooled.abs().max():.3f}")


def small_efficientnet(width, depth, bn_eps, bn_momentum):
    setting, last_channel = tv_eff._efficientnet_conf(
        "efficientnet_b0", width_mult=width, depth_mult=depth)
    norm = partial(nn.BatchNorm2d, eps=bn_eps, momentum=bn_momentum)
    return tv_eff.EfficientNet(setting, 0.2, last_channel=last_channel, norm_layer=norm)


def manifest(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def main():
    torch.manual_seed(0)
    os.makedirs(os.path.join(OUT, "manifests"), exist_ok=True)
    gen = torch.Generator().manual_seed(1234)

    resnets = {
        "resnet_basic": (tv_resnet.BasicBlock, "basic", [2, 1, 1, 1], [8, 16, 24, 32], 8),
        "resnet_bottleneck": (tv_resnet.Bottleneck, "bottleneck", [1, 2, 1], [8, 16, 16], 16),
    }
    for name, (block, kind, layers, widths, stem) in resnets.items():
        m = SmallResNet(block, layers, widths, stem)
        randomise(m, gen)
        arch = {"kind": "resnet", "stem_width": stem, "widths": widths, "blocks": layers,
                "block": kind, "zero_init_residual": False, "image_size": 64}
        save(name, m, m.feature_map, arch)

    effs = {
        "efficientnet_small": (0.25, 0.5, 1e-5, 0.1),
        "efficientnet_small_tfbn": (0.1, 0.4, 1e-3, 0.01),
    }
    for name, (w, d, eps, mom) in effs.items():
        m = small_efficientnet(w, d, eps, mom)
        randomise(m, gen)
        arch = {"kind": "efficientnet", "width_mult": w, "depth_mult": d, "image_size": 64,
                "bn_epsilon": eps, "bn_momentum": mom, "stochastic_depth_prob": 0.2}
        save(name, m, m.features, arch)

    try:
        import timm
    except ImportError:
        timm = None
        print("timm not installed: skipping the timm-layout fixture")
    if timm is not None:
        # timm's own EfficientNet layout (conv_stem, blocks.i.j.conv_dw, ...), which the Rust
        # loader renames to torchvision's. Same architecture as torchvision's for the non-`tf_`
        # variants.
        from timm.models import efficientnet as timm_eff
        m = timm_eff._gen_efficientnet("efficientnet_b0", channel_multiplier=0.1,
                                       depth_multiplier=0.4, pretrained=False)
        randomise(m, gen)
        arch = {"kind": "efficientnet", "width_mult": 0.1, "depth_mult": 0.4, "image_size": 64,
                "bn_epsilon": 1e-5, "bn_momentum": 0.1, "stochastic_depth_prob": 0.2}
        save("timm_efficientnet_small", m, m.forward_features, arch, pth=False)

    for n in [18, 34, 50, 101, 152]:
        model = getattr(torchvision.models, f"resnet{n}")(weights=None)
        with open(os.path.join(OUT, "manifests", f"resnet{n}.json"), "w") as f:
            json.dump(manifest(model), f)
    for i in range(8):
        model = getattr(torchvision.models, f"efficientnet_b{i}")(weights=None)
        with open(os.path.join(OUT, "manifests", f"efficientnet-b{i}.json"), "w") as f:
            json.dump(manifest(model), f)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
