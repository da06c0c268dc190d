"""torch.onnx.export of a torchvision model filled with the formula weights of tools/formula.py (the same values
test/helpers/formula.ts writes into our model), for test/onnx.test.ts's cross-check: both ONNX files run in
onnxruntime-node and must agree. Needs /usr/bin/python3 with torch 1.13 / torchvision 0.14 (Debian).

Usage: /usr/bin/python3 tools/onnx_torch_export.py ARCH NUM_CLASSES SIZE OUT.onnx
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from formula import formula_param  # noqa: E402


def main(arch: str, num_classes: int, size: int, out: str) -> None:
    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes).eval()
    state = {
        k: torch.from_numpy(formula_param(k, v.shape)) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    model.load_state_dict(state, strict=True)
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        model, x, out, opset_version=17, input_names=["pixel_values"], output_names=["logits"],
        dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True,
    )
    print(f"wrote {out}: torchvision {torchvision.__version__} {arch}, {num_classes} classes, {size} px, opset 17")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
