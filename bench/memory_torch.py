"""PyTorch CPU side of `npm run bench -- --memory`: peak RSS of training steps of one architecture.

One architecture per process (ru_maxrss is a high-water mark). Adam, BCEWithLogitsLoss, random data, as the
TF.js side. Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision); prints one JSON object.
inception_v4 is timm's, loaded by tools/timm_ref.py from a timm source checkout (TIMM_SRC, default /work/timm-src).
Usage: /usr/bin/python3 bench/memory_torch.py --arch resnet18 --size 320 --batch 16 --steps 2
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torchvision


def build(arch, classes):
    if arch == "inception_v4":
        # timm is not shipped by Debian: tools/timm_ref.py imports it from a source checkout (TIMM_SRC)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
        from timm_ref import inception_v4
        return inception_v4(num_classes=classes)
    if arch == "inception_v3":
        return torchvision.models.inception_v3(weights=None, num_classes=classes, aux_logits=False, init_weights=False)
    return getattr(torchvision.models, arch)(weights=None, num_classes=classes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--classes", type=int, default=5)
    a = ap.parse_args()
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "arch": a.arch}
    try:
        model = build(a.arch, a.classes)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        x = torch.randn(a.batch, 3, a.size, a.size)
        y = (torch.rand(a.batch, a.classes) > 0.5).float()
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        out["stepSeconds"] = min(times)
    except Exception as e:  # reported, not raised: the driver prints it in the table
        out["error"] = f"{type(e).__name__}: {e}"
    out["peakRssMb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
