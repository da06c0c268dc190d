"""Grad-CAM reference for test/gradcam.test.ts, computed with PyTorch on torchvision models.

Each case fills a torchvision model (or a truncated one with a new 5-class Linear) from tools/formula.py,
runs the formula input in eval mode, takes the gradient of one logit with respect to a stage's output
(forward hook), and computes Grad-CAM as in Selvaraju et al.: channel weights = spatial mean of the
gradient, ReLU of the weighted sum of the feature maps, bilinear upsampling to the input
(F.interpolate, align_corners=False), divided by the maximum. Writes test/fixtures/gradcam/reference.json:
per case the score (logit), the class, the low-resolution map and sampled values of the upsampled map.

Run:  /usr/bin/python3 tools/gradcam_ref.py
References: Debian's python3-torch (1.13) + python3-torchvision (0.14).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from formula import formula_input, formula_param  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "test", "fixtures", "gradcam", "reference.json")
SAMPLES = 97

# (label, arch, stage, class index or None for the largest logit, input H, W, truncated with 5 classes)
CASES = [
    ("resnet18 layer3 (residual adds)", "resnet18", "layer3", 3, 64, 64, False),
    ("resnet18 last stage, argmax class", "resnet18", "layer4", None, 64, 48, False),
    ("densenet121 denseblock3 (concatenations)", "densenet121", "features.denseblock3", None, 64, 64, False),
    ("inception_v3 Mixed_6b (branches)", "inception_v3", "Mixed_6b", 11, 96, 96, False),
    ("mobilenet_v3_small features.6 (SE, hardswish)", "mobilenet_v3_small", "features.6", 5, 96, 96, False),
    ("resnet18 truncated at layer3 + 5-class fc", "resnet18", "layer3", 2, 64, 64, True),
]


def fill(model: torch.nn.Module) -> None:
    sd = model.state_dict()
    for k, v in sd.items():
        if not k.endswith("num_batches_tracked"):
            sd[k] = torch.from_numpy(formula_param(k, v.shape))
    model.load_state_dict(sd)


def build(arch: str, stage: str, truncated: bool) -> torch.nn.Module:
    if arch == "inception_v3":
        m = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    else:
        m = getattr(torchvision.models, arch)(weights=None)
    if truncated:
        assert arch.startswith("resnet")
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        body = torch.nn.Sequential()
        for n in names[: names.index(stage) + 1]:
            body.add_module(n, getattr(m, n))
        channels = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}[stage]
        body.add_module("avgpool", torch.nn.AdaptiveAvgPool2d(1))
        body.add_module("flatten", torch.nn.Flatten())
        body.add_module("fc", torch.nn.Linear(channels, 5))
        m = body
    fill(m)
    return m.eval()


def main() -> None:
    torch.set_grad_enabled(True)
    cases = []
    for label, arch, stage, cls, h, w, truncated in CASES:
        model = build(arch, stage, truncated)
        feats = {}
        model.get_submodule(stage).register_forward_hook(lambda _m, _i, o: feats.__setitem__("a", o))
        x = torch.from_numpy(formula_input(h, w))
        logits = model(x)
        c = int(torch.argmax(logits[0])) if cls is None else cls
        score = logits[0, c]
        a = feats["a"]
        (grad,) = torch.autograd.grad(score, a)
        alpha = grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((alpha * a).sum(dim=1, keepdim=True))
        up = F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)
        mx = float(cam.max())
        scale = mx if mx > 0 else 1.0
        cam_n = (cam / scale)[0, 0].detach().numpy().astype(np.float64)
        up_n = (up / scale)[0, 0].detach().numpy().astype(np.float64).reshape(-1)
        idx = np.linspace(0, up_n.size - 1, SAMPLES).round().astype(int)
        cases.append(
            {
                "label": label,
                "arch": arch,
                "stage": stage,
                "classIndex": c,
                "requestedClass": cls,
                "truncated": truncated,
                "size": [h, w],
                "score": float(score),
                "camShape": list(cam_n.shape),
                "cam": [round(float(v), 7) for v in cam_n.reshape(-1)],
                "heatmapIdx": idx.tolist(),
                "heatmap": [round(float(up_n[i]), 7) for i in idx],
            }
        )
        print(f"{label}: class {c} score {float(score):.5f} cam {tuple(cam_n.shape)} max {mx:.4g}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generatedBy": "tools/gradcam_ref.py", "torch": torch.__version__, "torchvision": torchvision.__version__, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
