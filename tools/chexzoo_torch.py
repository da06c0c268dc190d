"""Load a @chexzoo/models export (`chexzoo export`, `saveSafetensors`) into PyTorch.

    from chexzoo_torch import load_chexzoo
    model = load_chexzoo("model.safetensors")   # torchvision (timm for inception_v4) modules, eval mode

Full models are the reference torchvision module with `num_classes` outputs. Truncated models keep the
reference modules up to the exported block (same names, so `load_state_dict(strict=True)` checks every key),
then global pooling and the new Linear under the name @chexzoo/models gives it. Needs torch and torchvision
(and timm for inception_v4); reads safetensors itself, so the `safetensors` package is not needed.
"""
import json
import struct
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}
# The Linear of a new head, by family (src/truncate.ts headNames).
HEADS = {
    "resnet": "fc",
    "densenet": "classifier",
    "efficientnet": "classifier.1",
    "mobilenet_v2": "classifier.1",
    "mobilenet_v3": "classifier.3",
    "mnasnet": "classifier.1",
    "inception_v3": "fc",
    "inception_v4": "last_linear",
}


def read_safetensors(path):
    """(state dict of torch tensors, metadata dict)"""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    sd = OrderedDict()
    for key, t in header.items():
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[base + a : base + b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        sd[key] = torch.from_numpy(arr.copy())
    return sd, meta


def head_name(arch):
    for prefix, name in HEADS.items():
        if arch.startswith(prefix):
            return name
    raise ValueError(f"unknown architecture {arch!r}")


def reference(arch, num_classes):
    """The reference module, randomly initialised, with a `num_classes` head (0: the pooled features)."""
    n = num_classes or 1000
    if arch == "inception_v4":
        import timm

        model = timm.create_model("inception_v4", pretrained=False, num_classes=n)
    else:
        import torchvision

        kwargs = {"weights": None, "num_classes": n}
        if arch == "inception_v3":
            kwargs.update(aux_logits=False, init_weights=False, transform_input=False)
        model = getattr(torchvision.models, arch)(**kwargs)
    if num_classes == 0:
        parent, _, last = head_name(arch).rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, last, nn.Identity())
    return model


class Truncated(nn.Module):
    """The reference modules up to `block` (their names kept), global pooling, and an optional Linear."""

    def __init__(self, arch, block, num_classes, pooling):
        super().__init__()
        full = reference(arch, 1000)
        container, _, child = block.rpartition(".")
        parent = full.get_submodule(container) if container else full
        names = [name for name, _ in parent.named_children()]
        if child not in names:
            raise ValueError(f"{arch} has no block {block!r}")
        kept = [(name, parent.get_submodule(name)) for name in names[: names.index(child) + 1] if name != "AuxLogits"]
        if container:
            self.add_module(container, nn.Sequential(OrderedDict(kept)))
            self.body = [container]
        else:
            for name, module in kept:
                self.add_module(name, module)
            self.body = [name for name, _ in kept]
        self.pool = nn.AdaptiveMaxPool2d(1) if pooling == "max" else nn.AdaptiveAvgPool2d(1)
        self.head = None
        if num_classes:
            in_features = self._channels(full)
            parent, _, last = head_name(arch).rpartition(".")
            linear = nn.Linear(in_features, num_classes)
            if parent:  # e.g. classifier.1: a Sequential whose other slots hold no weights
                self.add_module(parent, nn.Sequential(*([nn.Identity()] * int(last)), linear))
            else:
                self.add_module(last, linear)
            self.head = head_name(arch)

    def _channels(self, full):
        full.eval()
        with torch.no_grad():
            x = torch.zeros(1, 3, 299, 299)
            for name in self.body:
                x = self.get_submodule(name)(x)
        return x.shape[1]

    def forward(self, x):
        for name in self.body:
            x = self.get_submodule(name)(x)
        x = torch.flatten(self.pool(x), 1)
        return self.get_submodule(self.head)(x) if self.head else x


def build(meta):
    # files written before @chexzoo/models 0.1.0 name the block "stage"
    arch, block = meta["arch"], meta.get("block", meta.get("stage", ""))
    num_classes = int(meta.get("num_classes", "1000"))
    if block:
        return Truncated(arch, block, num_classes, meta.get("pooling", "avg"))
    return reference(arch, num_classes)


def load_chexzoo(path):
    """The module an export describes, with its weights loaded strictly, in eval mode."""
    sd, meta = read_safetensors(path)
    if meta.get("producer") != "@chexzoo/models":
        raise ValueError(f"{path} was not written by @chexzoo/models (no producer in its metadata)")
    model = build(meta)
    model.load_state_dict(sd, strict=True)
    return model.eval()
