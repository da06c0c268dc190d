"""Deterministic weights and inputs, bit-identical to test/helpers/formula.ts (see there)."""
import numpy as np

M32 = 0xFFFFFFFF


def fnv1a(s: str) -> int:
    h = 0x811C9DC5
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & M32
    return h


def uniform(key: str, n: int) -> np.ndarray:
    seed = np.uint64(fnv1a(key))
    i = np.arange(1, n + 1, dtype=np.uint64)
    h = (seed ^ ((i * np.uint64(0x9E3779B1)) & np.uint64(M32))) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(M32)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    return (h >> np.uint64(8)).astype(np.float64) / 16777216.0


def formula_param(key: str, shape) -> np.ndarray:
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    u = uniform(key, n)
    if key.endswith("running_var"):
        v = 0.5 + u
    elif key.endswith("running_mean") or key.endswith("bias"):
        v = (2 * u - 1) * 0.1
    elif len(shape) == 1:
        v = 0.8 + 0.4 * u
    else:
        a = np.sqrt(6 / (n / shape[0]))
        v = (2 * u - 1) * a
    return v.astype(np.float32).reshape(shape)


def formula_input(h: int, w: int, c: int = 3) -> np.ndarray:
    u = uniform(f"input:{h}x{w}", c * h * w)
    return (2 * u - 1).astype(np.float32).reshape(1, c, h, w)
