"""Per-tensor statistics of the reference random initialisation, for test/init.test.ts.

Builds each reference (torchvision 0.14 / timm inception_v4) with torch.manual_seed(s) for a few seeds and
records, for every state-dict tensor that is not a constant, the mean over seeds of its sample mean, standard
deviation and mean absolute deviation over the standard deviation (E|x - mean| / std: sqrt(2/pi) = 0.798
for a normal, sqrt(3)/2 = 0.866 for a uniform; robust to the rare +-2 that torch's float32 trunc_normal_ clamps
to, which a kurtosis is not), and for the constant ones (BatchNorm
weight/bias/statistics, zeroed biases) how many hold each value. The test draws our initialisation and compares
each tensor within sampling error (a tolerance from the tensor's size), so another distribution or scale fails.

Run:  TIMM_SRC=<timm checkout> /usr/bin/python3 tools/init_stats.py   (see tools/timm_ref.py for TIMM_SRC)
Writes test/fixtures/init/stats.json.
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "init", "stats.json")
# one architecture per distinct initialisation code path (family, block kind, classifier layout)
ARCHS = [
    "resnet18", "densenet121", "efficientnet_b0", "mobilenet_v2", "mobilenet_v3_large",
    "mnasnet1_0", "inception_v3", "inception_v4",
]
SEEDS = [0, 1, 2]


def build(arch: str) -> torch.nn.Module:
    if arch == "inception_v3":
        # init_weights=None would also mean True in torchvision 0.14 (with a warning)
        return torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
    if arch == "inception_v4":
        from timm_ref import inception_v4  # noqa: E402

        return inception_v4()
    return getattr(torchvision.models, arch)(weights=None)


def main() -> None:
    out = {"seeds": SEEDS, "archs": {}}
    for arch in ARCHS:
        acc: dict = {}
        constants: dict = {}
        for seed in SEEDS:
            torch.manual_seed(seed)
            sd = build(arch).state_dict()
            for k, v in sd.items():
                if k.endswith("num_batches_tracked"):
                    continue
                x = v.double().reshape(-1)
                if bool((x == x[0]).all()):
                    if seed == SEEDS[0]:
                        constants[k] = float(x[0])
                    continue
                m = float(x.mean())
                s = float(x.std(unbiased=False))
                mad = float((x - m).abs().mean() / s)
                acc.setdefault(k, []).append((m, s, mad))
        # [mean, std, mad / std] averaged over the seeds, and the element count
        stats = {
            k: [float(f"{sum(r[i] for r in rows) / len(rows):.5g}") for i in range(3)] + [sd[k].numel()]
            for k, rows in acc.items()
        }
        counts: dict = {}
        for v in constants.values():
            counts[str(v)] = counts.get(str(v), 0) + 1
        out["archs"][arch] = {"stats": stats, "constants": counts}
        print(arch, len(stats), "random tensors,", counts)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
