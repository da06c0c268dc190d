"""Checks exported ONNX files with the ONNX reference checker (python3-onnx; Debian's 1.12 is enough).

Usage: /usr/bin/python3 tools/onnx_check.py FILE.onnx [FILE.onnx ...]
For each file: onnx.checker.check_model(full_check=True) (structure, opset 17 operator schemas, and strict
shape inference), and the graph's input / output names. Prints one line per file; exits 1 on the first failure.
"""
import sys

import onnx


def check(path: str) -> str:
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    ins = [i.name for i in model.graph.input]
    outs = [o.name for o in model.graph.output]
    ops = sorted({n.op_type for n in model.graph.node})
    return f"OK {path}: ir {model.ir_version}, opset {opsets}, inputs {ins}, outputs {outs}, ops {' '.join(ops)}"


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    for p in paths:
        try:
            print(check(p), flush=True)
        except Exception as e:  # the checker raises several exception types
            print(f"FAIL {p}: {type(e).__name__}: {e}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
