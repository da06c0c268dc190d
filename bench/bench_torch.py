"""PyTorch CPU side of `npm run bench`: a worker that bench/run.ts drives over stdin/stdout, one JSON object a line.

Run by bench/run.ts with Debian's /usr/bin/python3 (python3-torch, python3-torchvision). Keeping one process lets
run.ts interleave single PyTorch runs with single TF.js runs (so load changes hit both alike) and switch the
thread count between PyTorch's default and every core.

Commands (each answered by one line):
  {"cmd": "info"}                                   -> torch / torchvision versions, default threads, cores
  {"cmd": "build", "arch", "classes", "inferSize", "inferBatch", "trainSize", "trainBatch"}
  {"cmd": "infer", "threads"}                       -> one timed inference (no_grad, eval mode): wall / cpu ms
  {"cmd": "train", "threads"}                       -> one timed Adam step (BCE with logits, train mode)
  {"cmd": "loop", "threads", "data", "steps", "batch", "size", "workers"}
        -> the training loop on a CheXpert-format folder: resnet18, Adam 1e-3, the 5 competition tasks with
           uncertain = 1 (as `chexzoo train` by default), images decoded with PIL, resized, ImageNet-normalised,
           `steps` steps of `batch`, then one pass over valid.csv. Wall ms of the whole loop.
  {"cmd": "rss"}                                    -> peak RSS of this process in MB

`python3 bench/bench_torch.py --loop '{"threads", "data", "steps", "batch", "size", "workers"}'` runs one training
loop in a fresh process (as `chexzoo train` runs in its own) and prints its JSON answer; run.ts times the whole
process from outside, start-up included.
"""
import csv
import json
import os
import resource
import sys
import time

import torch
import torchvision

TASKS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
DEFAULT_THREADS = torch.get_num_threads()
state = {}


def set_threads(n):
    torch.set_num_threads(int(n) if n and int(n) > 0 else DEFAULT_THREADS)


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return {"wall": (time.perf_counter() - w0) * 1000, "cpu": (time.process_time() - c0) * 1000}


def build(m):
    torch.manual_seed(0)
    model = getattr(torchvision.models, m["arch"])(weights=None, num_classes=m["classes"])
    state.clear()
    state["model"] = model
    state["x"] = torch.randn(m["inferBatch"], 3, m["inferSize"], m["inferSize"])
    state["xt"] = torch.randn(m["trainBatch"], 3, m["trainSize"], m["trainSize"])
    state["yt"] = (torch.rand(m["trainBatch"], m["classes"]) > 0.5).float()
    state["opt"] = torch.optim.Adam(model.parameters(), lr=1e-3)
    return {"ok": True}


def infer():
    model = state["model"]
    model.eval()
    with torch.no_grad():
        model(state["x"])


def train_step():
    model, opt = state["model"], state["opt"]
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(state["xt"]), state["yt"])
    loss.backward()
    opt.step()


class CheXpertCsv(torch.utils.data.Dataset):
    def __init__(self, root, split, size):
        from torchvision import transforms
        self.root, self.rows = root, []
        with open(os.path.join(root, f"{split}.csv"), newline="") as f:
            for r in csv.DictReader(f):
                y = [1.0 if r[t].strip() in ("1", "1.0", "-1", "-1.0") else 0.0 for t in TASKS]
                self.rows.append((r["Path"], y))
        self.tf = transforms.Compose([
            transforms.Resize((size, size)), transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])

    def path(self, p):
        # CheXpert paths start with the dataset folder's own name: resolve against its parent, else the folder
        for base in (os.path.dirname(self.root), self.root):
            full = os.path.join(base, p)
            if os.path.exists(full):
                return full
        return os.path.join(self.root, p.split("/", 1)[-1])

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        from PIL import Image
        p, y = self.rows[i]
        img = Image.open(self.path(p)).convert("RGB")
        return self.tf(img), torch.tensor(y)


def loop(m):
    root = m["data"]
    workers = int(m.get("workers", 2))
    train = torch.utils.data.DataLoader(CheXpertCsv(root, "train", m["size"]), batch_size=m["batch"], shuffle=True,
                                        num_workers=workers, drop_last=True)
    valid = torch.utils.data.DataLoader(CheXpertCsv(root, "valid", m["size"]), batch_size=m["batch"],
                                        num_workers=workers)
    torch.manual_seed(0)
    w0 = time.perf_counter()
    model = torchvision.models.resnet18(weights=None, num_classes=len(TASKS))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = 0
    while steps < m["steps"]:
        model.train()
        for x, y in train:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
            opt.step()
            steps += 1
            if steps >= m["steps"]:
                break
    model.eval()
    n = 0
    with torch.no_grad():
        for x, _ in valid:
            torch.sigmoid(model(x))
            n += x.shape[0]
    return {"wall": (time.perf_counter() - w0) * 1000, "steps": steps, "validated": n, "workers": workers}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        m = json.loads(line)
        try:
            cmd = m["cmd"]
            if cmd == "info":
                out = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                       "defaultThreads": DEFAULT_THREADS, "cores": os.cpu_count()}
            elif cmd == "build":
                out = build(m)
            elif cmd in ("infer", "train"):
                set_threads(m.get("threads"))
                out = timed(infer if cmd == "infer" else train_step)
                out["threads"] = torch.get_num_threads()
            elif cmd == "loop":
                set_threads(m.get("threads"))
                out = loop(m)
                out["threads"] = torch.get_num_threads()
            elif cmd == "rss":
                out = {"peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            else:
                out = {"error": f"unknown command {cmd}"}
        except Exception as e:  # one architecture failing must not end the worker
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--loop":
        m = json.loads(sys.argv[2])
        set_threads(m.get("threads"))
        out = loop(m)
        out["threads"] = torch.get_num_threads()
        print(json.dumps(out), flush=True)
    else:
        main()
