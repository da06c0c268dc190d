"""Float32 noise floor of each zoo parity case, measured on the reference itself.

A float32 implementation that differs from PyTorch's in the rounding of one operation is still correct, but in a
badly conditioned network (MobileNet-V3-Large with the formula weights: hardswish / hardsigmoid kinks) such a
difference can grow a hundredfold by the logits. This measures how far: the reference model of
tools/zoo_fixtures.py (same formula weights and inputs) runs in float64, then DRAWS times in float32 with one extra
float32-sized rounding (relative noise uniform in +-2^-23) on every BatchNorm output. For each case the largest
relative error against float64 over the draws, of the logits and of every stage (sampled values and mean, measured
as test/helpers/parity.ts measures them), is the case's noise floor. The parity test accepts
max(TOL, noise floor): for most networks the floor is far below TOL and changes nothing.

Run:  /usr/bin/python3 tools/zoo_noise.py [arch ...]   (writes test/fixtures/zoo/float32-noise.json; about 9 min)
References: Debian's python3-torch (1.13) + python3-torchvision (0.14); inception_v4 needs TIMM_SRC (see
tools/zoo_fixtures.py) and is skipped without it.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from formula import formula_input  # noqa: E402
from zoo_fixtures import NON_SQUARE, OUT, fill, make_reference, reference_stages, summarize  # noqa: E402

DRAWS = 48
ROUNDING = 2.0 ** -23


def rel(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30))


def case_noise(model: torch.nn.Module, arch: str, h: int, w: int) -> float:
    modules = dict(model.named_modules())
    stages = reference_stages(arch, model)
    captured = {}
    hooks = [modules[s].register_forward_hook(lambda m, i, o, s=s: captured.__setitem__(s, o.detach().clone()))
             for s in stages]
    x = torch.from_numpy(formula_input(h, w))
    with torch.no_grad():
        model.double()
        ref_logits = model(x.double()).numpy()[0]
        ref = {s: summarize(captured[s]) for s in stages}
        model.float()
        gen = torch.Generator().manual_seed(0)

        def jitter(_m, _i, o):
            return o * (1 + ROUNDING * (2 * torch.rand(o.shape, generator=gen) - 1))

        noisy = [m.register_forward_hook(jitter) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        worst = 0.0
        for _ in range(DRAWS):
            captured.clear()
            logits = model(x).double().numpy()[0]
            worst = max(worst, rel(logits, ref_logits))
            for s in stages:
                got = summarize(captured[s])
                worst = max(worst, rel(np.array(got["values"]), np.array(ref[s]["values"])))
                worst = max(worst, abs(got["mean"] - ref[s]["mean"]) / max(ref[s]["meanAbs"], 1e-12))
        for hk in hooks + noisy:
            hk.remove()
    return worst


def main() -> None:
    torch.set_num_threads(2)
    with open(os.path.join(OUT, "meta.json")) as f:
        meta = json.load(f)
    path = os.path.join(OUT, "float32-noise.json")
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            out = json.load(f).get("archs", {})
    for arch in sys.argv[1:] or list(meta):
        if arch == "inception_v4" and not os.path.isdir(os.environ.get("TIMM_SRC", "/work/timm-src")):
            print("inception_v4: skipped (no TIMM_SRC)")
            continue
        torch.manual_seed(0)
        model = make_reference(arch).eval()
        fill(model)
        d = meta[arch]["imageSize"]
        out[arch] = [{"size": [h, w], "noise": case_noise(model, arch, h, w)} for h, w in [(d, d), NON_SQUARE]]
        print(arch, ["%.1e" % c["noise"] for c in out[arch]])
    doc = {
        "about": "largest relative error vs float64 of the reference with one extra float32 rounding per BatchNorm "
                 f"output, over {DRAWS} draws (tools/zoo_noise.py, torch {torch.__version__})",
        "archs": out,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
