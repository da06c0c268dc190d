"""PyTorch CPU side of `npm run bench`: torchvision models, inference and one Adam step.

Run by bench/run.ts with Debian's /usr/bin/python3 (python3-torch, python3-torchvision); prints one JSON
object on stdout. Thread count is PyTorch's default unless --threads is given.
Usage: /usr/bin/python3 bench/bench_torch.py --archs resnet18,densenet121 --runs 5 --warmup 2
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torchvision


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu), wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--infer-size", type=int, default=224)
    ap.add_argument("--infer-batch", type=int, default=1)
    ap.add_argument("--train-size", type=int, default=128)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "torchvision": torchvision.__version__,
           "threads": torch.get_num_threads(), "results": {}}
    for arch in a.archs.split(","):
        r = {}
        try:
            model = getattr(torchvision.models, arch)(weights=None, num_classes=a.classes)
            model.eval()
            x = torch.randn(a.infer_batch, 3, a.infer_size, a.infer_size)

            def infer():
                with torch.no_grad():
                    model(x)
            r["inferMs"], r["inferCpuMs"], r["inferRuns"] = timed(infer, a.runs, a.warmup)

            model.train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            xt = torch.randn(a.train_batch, 3, a.train_size, a.train_size)
            yt = (torch.rand(a.train_batch, a.classes) > 0.5).float()

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xt), yt)
                loss.backward()
                opt.step()
            r["trainMs"], r["trainCpuMs"], r["trainRuns"] = timed(step, a.runs, a.warmup)
        except Exception as e:  # one architecture failing must not hide the others
            r["error"] = f"{type(e).__name__}: {e}"
        out["results"][arch] = r
    out["peakRssMb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
