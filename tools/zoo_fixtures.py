"""Parity fixtures for the zoo: runs the reference implementation with formula weights.

For each architecture, fills every parameter and buffer of the reference model from tools/formula.py, runs
the formula input at the default size and at a non-square size in eval mode, and writes
test/fixtures/zoo/<arch>.json with the state-dict keys and shapes, the logits, and for each stage its NHWC
shape, sampled values, mean and mean absolute value.

The stage list is read from the reference module (`reference_stages`: the children of its feature trunk),
never from our registry, so a stage the registry misses or invents makes the parity test fail.
test/fixtures/zoo/meta.json (written by `npx tsx tools/dump_zoo_meta.ts`) gives only the list of
architectures and their default input sizes.

Run:  /usr/bin/python3 tools/zoo_fixtures.py [arch ...]
References: Debian's python3-torch (1.13) + python3-torchvision (0.14); timm's inception_v4 from a local
checkout given by TIMM_SRC (default /work/timm-src; a copy of the pytorch-image-models repository's
`timm` package — it is not part of this project).
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from formula import formula_input, formula_param  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "test", "fixtures", "zoo")
NON_SQUARE = (193, 161)
SAMPLES = 160


def make_reference(arch: str) -> torch.nn.Module:
    if arch == "inception_v3":
        return torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    if arch == "inception_v4":
        from timm_ref import inception_v4  # noqa: E402  (tools/timm_ref.py loads timm from TIMM_SRC)

        return inception_v4()
    return getattr(torchvision.models, arch)(weights=None)


HEAD_TYPES = (torch.nn.AdaptiveAvgPool2d, torch.nn.Dropout, torch.nn.Linear, torch.nn.Flatten)


def reference_stages(arch: str, model: torch.nn.Module) -> list:
    """Stage names (module paths) of the reference, read from its module tree.

    The trunk is the module holding the network's sequence of blocks: `features` (DenseNet, EfficientNet,
    MobileNet, timm's Inception-V4), `layers` (MNASNet) or the model itself (ResNet, Inception-V3). Its
    children in registration order (= forward order for these networks) are the stages, except the head
    (global pooling, dropout, flatten, the classifier) and, for ResNet and DenseNet, the plain stem that
    precedes their first block (conv/bn/relu/pool modules that are not containers of blocks).
    """
    if hasattr(model, "features") and isinstance(model.features, torch.nn.Sequential):
        prefix, trunk = "features.", model.features
    elif hasattr(model, "layers") and isinstance(model.layers, torch.nn.Sequential):
        prefix, trunk = "layers.", model.layers
    else:
        prefix, trunk = "", model
    children = [(n, m) for n, m in trunk.named_children() if not isinstance(m, HEAD_TYPES) and n not in ("fc", "classifier")]
    if arch.startswith("resnet") or arch.startswith("densenet"):
        leaf = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.MaxPool2d)
        first_block = next(i for i, (_, m) in enumerate(children) if not isinstance(m, leaf))
        children = children[first_block:]
    return [prefix + n for n, _ in children]


def fill(model: torch.nn.Module) -> dict:
    # write into the state dict itself: it carries `_metadata` (module versions) that some
    # torchvision modules (MNASNet) need when loading
    sd = model.state_dict()
    keys = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = torch.from_numpy(formula_param(k, v.shape))
        keys[k] = list(v.shape)
    model.load_state_dict(sd)
    return keys


def summarize(t: torch.Tensor) -> dict:
    a = t.detach()
    if a.dim() == 4:
        a = a.permute(0, 2, 3, 1)
    flat = a.reshape(-1).double().numpy()
    n = flat.size
    idx = [int((k + 0.5) * n / SAMPLES) for k in range(min(SAMPLES, n))]
    return {
        "shape": list(a.shape),
        "idx": idx,
        "values": [float(flat[i]) for i in idx],
        "mean": float(flat.mean()),
        "meanAbs": float(np.abs(flat).mean()),
    }


def run(arch: str, meta: dict) -> None:
    torch.manual_seed(0)
    model = make_reference(arch).eval()
    keys = fill(model)
    modules = dict(model.named_modules())
    stages = reference_stages(arch, model)
    captured = {}
    for s in stages:
        # clone: later in-place ReLUs would otherwise change what we captured
        modules[s].register_forward_hook(lambda m, i, o, s=s: captured.__setitem__(s, o.detach().clone()))
    d = meta[arch]["imageSize"]
    cases = []
    for h, w in [(d, d), NON_SQUARE]:
        captured.clear()
        with torch.no_grad():
            logits = model(torch.from_numpy(formula_input(h, w)))
        cases.append(
            {
                "size": [h, w],
                "logits": [float(v) for v in logits[0].double().numpy()],
                "stages": {s: summarize(captured[s]) for s in stages},
            }
        )
    out = {
        "arch": arch,
        "reference": f"torch {torch.__version__}, torchvision {torchvision.__version__}"
        + (", timm (TIMM_SRC)" if arch == "inception_v4" else ""),
        "keys": keys,
        "cases": cases,
    }
    with open(os.path.join(OUT, f"{arch}.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{arch}: {len(keys)} keys, logits[:3]={cases[0]['logits'][:3]}")


def main() -> None:
    torch.set_num_threads(2)
    with open(os.path.join(OUT, "meta.json")) as f:
        meta = json.load(f)
    archs = sys.argv[1:] or list(meta)
    for a in archs:
        run(a, meta)


if __name__ == "__main__":
    main()
