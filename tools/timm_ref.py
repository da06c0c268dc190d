"""Loads timm's inception_v4 (the reference for the zoo's inception_v4) from a local copy of timm's source.

timm is not part of this project and PyPI is unreachable here, so the reference is imported from a checkout:

    # any snapshot of https://github.com/huggingface/pytorch-image-models; only its `timm/` package is needed
    git --git-dir=<pytorch-image-models>/.git archive HEAD timm | tar -x -C /work/timm-src
    TIMM_SRC=/work/timm-src /usr/bin/python3 tools/zoo_fixtures.py inception_v4

TIMM_SRC defaults to /work/timm-src. Runs with Debian's python3-torch 1.13. timm imports a few optional
packages (huggingface_hub, safetensors, yaml) only for downloading/config; if one is missing it is replaced by
an empty module, which is enough because no pretrained weights are loaded.
"""
import importlib
import os
import sys
import types

TIMM_SRC = os.environ.get("TIMM_SRC", "/work/timm-src")
_OPTIONAL = ("huggingface_hub", "safetensors", "yaml")


def _import_timm_module():
    if not os.path.isdir(os.path.join(TIMM_SRC, "timm")):
        raise SystemExit(
            f"timm source not found at {TIMM_SRC}/timm: extract timm's package from a pytorch-image-models "
            "checkout (git archive HEAD timm | tar -x -C <dir>) and set TIMM_SRC=<dir>."
        )
    if TIMM_SRC not in sys.path:
        sys.path.insert(0, TIMM_SRC)
    for _ in range(len(_OPTIONAL) + 1):
        try:
            # timm.models re-exports the function under the module's name, so import the module by path
            return importlib.import_module("timm.models.inception_v4")
        except ModuleNotFoundError as e:
            root = (e.name or "").split(".")[0]
            if root not in _OPTIONAL or root in sys.modules:
                raise
            sys.modules[root] = types.ModuleType(root)
            for k in [k for k in sys.modules if k == "timm" or k.startswith("timm.")]:
                del sys.modules[k]
    raise SystemExit("could not import timm.models.inception_v4")


def inception_v4(**kwargs):
    """timm's `inception_v4` (1000 classes, drop_rate 0), randomly initialized."""
    return _import_timm_module().inception_v4(pretrained=False, **kwargs)
