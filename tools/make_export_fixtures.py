"""Fixture for the export round trip (test/export.test.ts): torch loads our .safetensors exports strictly and
computes logits on the formula input.

    npx tsx tools/export_fixture_models.ts /tmp/exports
    /usr/bin/python3 tools/make_export_fixtures.py /tmp/exports test/fixtures/export/meta.json

Per case it records the sha256 of the exported file (the test re-exports and must produce the same bytes,
i.e. exactly the file torch loaded here) and the logits torch computes from it.
"""
import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chexzoo_torch import load_chexzoo, read_safetensors  # noqa: E402
from formula import formula_input  # noqa: E402

SIZES = {"inception_v3-Mixed_5d": 96}


def main(src, out):
    cases = {}
    for fname in sorted(os.listdir(src)):
        if not fname.endswith(".safetensors"):
            continue
        name = fname[: -len(".safetensors")]
        path = os.path.join(src, fname)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        _, meta = read_safetensors(path)
        model = load_chexzoo(path)  # strict: every key present, none extra, shapes equal
        size = SIZES.get(name, 64)
        x = torch.from_numpy(formula_input(size, size))
        with torch.no_grad():
            logits = model(x)[0].tolist()
        cases[name] = {
            "sha256": digest,
            "metadata": meta,
            "size": size,
            "tensors": len(model.state_dict()),
            "logits": logits,
        }
        print(name, size, ["%.4f" % v for v in logits])
    meta = {
        "torch": torch.__version__,
        "made_by": "tools/make_export_fixtures.py",
        "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
