"""Training-parity fixtures: three Adam steps of PyTorch on formula weights, for test/train-parity.test.ts.

For resnet18, densenet121 and efficientnet_b0 (torchvision 0.14, 3 classes, dropout and stochastic depth 0):
fills every parameter and buffer from tools/formula.py, puts the model in train mode and runs three steps of
torch.optim.Adam (lr 1e-5, defaults otherwise: eps 1e-8; at 1e-3 the first step moves the loss of these formula
weights from 1.06 to 0.25 and float32 rounding flips the sign of enough small gradients to make step 3 chaotic) on BCEWithLogitsLoss (mean) over one fixed batch of
four formula images (64 px: at 32 px the last DenseNet stages normalise over 4 values, and torch's own
float32 ends 7% away from its float64 after three steps) and formula labels, in float64 (the reference) and in
float32 (whose errors against float64, by the test's measures, are the noise floor the test scales its
tolerances from). Records the loss of each step, the eval-mode logits after
the steps, and for every state-dict tensor the change from its formula value (after - before): its sum, its
sum of absolute values and three sampled elements (at (j + 0.5) * n / 3 in the reference layout).

Run:  /usr/bin/python3 tools/train_parity.py     Writes test/fixtures/train/parity.json.
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from formula import formula_param, uniform  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "train", "parity.json")
ARCHS = ["resnet18", "densenet121", "efficientnet_b0"]
SIZE, BATCH, CLASSES, STEPS, LR = 64, 4, 3, 3, 1e-5


def batch():
    x = (2 * uniform(f"train-batch:{SIZE}", BATCH * 3 * SIZE * SIZE) - 1).astype(np.float32).reshape(BATCH, 3, SIZE, SIZE)
    y = (uniform("train-labels", BATCH * CLASSES) >= 0.5).astype(np.float32).reshape(BATCH, CLASSES)
    return torch.from_numpy(x), torch.from_numpy(y)


def g(v: float) -> float:
    return float(f"{v:.7g}")


def run(arch: str, dtype: torch.dtype) -> dict:
    kwargs = {"stochastic_depth_prob": 0.0} if arch.startswith("efficientnet") else {}
    model = getattr(torchvision.models, arch)(weights=None, num_classes=CLASSES, **kwargs)
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0  # efficientnet_b0 fixes its classifier dropout (0.2) in the builder
    sd = model.state_dict()
    before = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = torch.from_numpy(formula_param(k, v.shape))
        before[k] = sd[k].clone()
    model.load_state_dict(sd)
    model = model.to(dtype)
    x, y = (t.to(dtype) for t in batch())
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(g(loss.item()))
    model.eval()
    with torch.no_grad():
        logits = model(x).reshape(-1).tolist()
    tensors = {}
    for k, v in model.state_dict().items():
        if k not in before:
            continue
        d = (v.detach().double() - before[k].double()).reshape(-1).numpy()  # noqa: E501
        n = d.size
        idx = [int((j + 0.5) * n / 3) for j in range(3)]
        tensors[k] = [g(d.sum()), g(np.abs(d).sum())] + [g(d[i]) for i in idx]
    return {"loss": losses, "logits": [g(v) for v in logits], "tensors": tensors}


def rel_l2(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sqrt(((a - b) ** 2).sum() / (b**2).sum()))


def errors(a: dict, ref: dict) -> dict:
    """The test's error measures (test/train-parity.test.ts `errors`), here of torch float32 against float64."""
    keys = list(ref["tensors"])

    def pick(pred, cols):
        mine = [a["tensors"][k][c] for k in keys if pred(k) for c in cols]
        theirs = [ref["tensors"][k][c] for k in keys if pred(k) for c in cols]
        return rel_l2(mine, theirs)

    def is_stat(k):
        return k.endswith("running_mean") or k.endswith("running_var")

    return {
        "loss": rel_l2(a["loss"], ref["loss"]),
        "logits": rel_l2(a["logits"], ref["logits"]),
        "paramSums": pick(lambda k: not is_stat(k), [0, 1]),
        "paramSamples": pick(lambda k: not is_stat(k), [2, 3, 4]),
        "runningMean": pick(lambda k: k.endswith("running_mean"), [0, 1, 2, 3, 4]),
        "runningVar": pick(lambda k: k.endswith("running_var"), [0, 1, 2, 3, 4]),
    }


def main() -> None:
    torch.set_num_threads(1)
    out = {"size": SIZE, "batch": BATCH, "classes": CLASSES, "steps": STEPS, "lr": LR, "archs": {}}
    for arch in ARCHS:
        # the reference is float64; torch's own float32 run against it gives the float32 noise floor
        ref = run(arch, torch.float64)
        ref["float32Errors"] = {k: float(f"{v:.3g}") for k, v in errors(run(arch, torch.float32), ref).items()}
        out["archs"][arch] = ref
        print(arch, ref["loss"], ref["float32Errors"])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
