"""CNNClassifier on data from disk and over Dask workers: throughput and memory.

Three measurements, each side by side in one run (interleaved repeats, medians):

* ``throughput``: images/s of fitting from an image folder (PNG, decoded by Pillow
  in DataLoader workers) and from ``.npy`` shards, against the same images as an
  in-memory array (the floor), same model and seed.
* ``memory``: peak memory of one epoch from ``.npy`` shards as the set grows 10x,
  against loading the same set as an array first.
* ``ddp``: digits CNN, the same global batch, trained by one process, by two
  ``torchrun``-style processes on this machine (``scaleml.nn.distributed.fit_distributed``)
  and by two Dask workers (``scaleml.backend("dask")``, one rank per worker).

    python bench/nn/cnn_streaming.py --part all --repeat 3 [--out bench/results/cnn-streaming.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scaleml import machine
from scaleml.bench.results import write_json

SHAPE, CLASSES = (3, 32, 32), 10


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic colour images: a class-dependent blob on noise, as uint8."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    yy, xx = np.mgrid[: SHAPE[1], : SHAPE[2]]
    images = rng.integers(0, 96, (n, *SHAPE)).astype(np.float32)
    for k in range(CLASSES):
        cy, cx = 6 + (k % 5) * 5, 8 + (k // 5) * 14
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0) * 150
        images[labels == k, k % 3] += blob
    return np.clip(images, 0, 255).astype(np.uint8), labels


def _write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    from PIL import Image

    for k in range(CLASSES):
        (root / f"class{k}").mkdir(parents=True, exist_ok=True)
    counts = [0] * CLASSES
    for image, label in zip(images, labels):
        Image.fromarray(image.transpose(1, 2, 0)).save(root / f"class{label}" / f"{counts[label]:06d}.png")
        counts[label] += 1


def _write_shards(root: Path, images: np.ndarray, labels: np.ndarray, shards: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for part, index in enumerate(np.array_split(np.arange(len(images)), shards)):
        np.save(root / f"x_{part:03d}.npy", images[index])
        np.save(root / f"y_{part:03d}.npy", labels[index])


def _model(**params):
    from scaleml.nn import CNNClassifier

    return CNNClassifier(**{"channels": (16, 32), "epochs": 2, "batch_size": 128, "random_state": 0, **params})


def _hand_written_amp(X: np.ndarray, labels: np.ndarray, device: str) -> float:
    """The floor on a GPU: a plain loop with bf16 autocast and channels_last, same network."""
    import torch

    from scaleml.nn._modules import build_cnn

    torch.manual_seed(0)
    module = build_cnn(SHAPE, CLASSES, (16, 32), 0.25).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.as_tensor(X).to(device), torch.as_tensor(labels).to(device)
    module.train()
    for _ in range(2):
        order = torch.randperm(len(X_t), device=device)
        for begin in range(0, len(X_t), 128):
            index = order[begin:begin + 128]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = module(X_t[index])
            loss = loss_fn(out.float(), y_t[index])
            loss.backward()
            optimizer.step()
    torch.cuda.synchronize()
    return float(loss)


def throughput(repeat: int, n: int, workdir: Path, device: str = "cpu") -> dict:
    images, labels = _images(n)
    try:
        import PIL  # noqa: F401
    except ImportError:
        has_pillow = False
        print("Pillow is not installed here: the image-folder row is left out")
    else:
        has_pillow = True
        _write_folder(workdir / "folder", images, labels)
    _write_shards(workdir / "shards", images, labels, shards=8)
    # The in-memory floor gets the arrays a user would have decoded them into, in the
    # folder's order (class, then file), so the three fits see the same samples.
    order = np.argsort(labels, kind="stable")
    X, y = images[order].astype(np.float32) / np.float32(255.0), np.asarray([f"class{k}" for k in labels[order]])
    variants = {
        "in-memory array (floor)": lambda: _model(device=device).fit(X, y),
        "image folder (PNG)": lambda: _model(device=device).fit(str(workdir / "folder")),
        ".npy shards (uint8)": lambda: _model(device=device).fit(str(workdir / "shards/x_*.npy"),
                                                                 str(workdir / "shards/y_*.npy")),
    }
    if not has_pillow:
        del variants["image folder (PNG)"]
    if device.startswith("cuda"):  # on a GPU the floor is a hand-written AMP loop on the same card
        variants = {"hand-written AMP loop (floor)": lambda: _Loss(_hand_written_amp(X, labels[order], device)),
                    **{f"scaleml {k.replace(' (floor)', '')}": v for k, v in variants.items()}}
    seen = n * _model().epochs
    runs = _interleaved(variants, repeat, seen, lambda model: {"final_loss": model.history_[-1]["loss"]})
    floor = next(iter(variants))
    return _summarise(runs, floor, {"images": n, "shape": SHAPE, "epochs": 2, "batch_size": 128, "device": device})


class _Loss:
    """What the hand-written loop returns, shaped like a fitted model's history."""

    def __init__(self, loss: float):
        self.history_ = [{"loss": loss}]


MEMORY_CHILD = """
import json, sys, threading, time
import numpy as np, psutil

def tree_mb():
    # Proportional anonymous memory of this process and its DataLoader workers: pages a
    # forked worker shares with its parent count once, and file pages of the memory-mapped
    # shards are left out (the kernel drops them under pressure).
    total = 0
    for proc in [psutil.Process()] + psutil.Process().children(recursive=True):
        try:
            fields = dict(line.split(":", 1) for line in open(f"/proc/{proc.pid}/smaps_rollup") if ":" in line)
        except OSError:
            continue
        total += int(fields["Pss_Anon"].split()[0]) + int(fields["Pss_Shmem"].split()[0])
    return total / 1024

import torch
from scaleml.nn import CNNClassifier
folder, mode = sys.argv[1], sys.argv[2]
model = CNNClassifier(channels=(8,), epochs=1, batch_size=128, random_state=0)
baseline, peak, done = tree_mb(), [0.0], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], tree_mb()); time.sleep(0.02)
threading.Thread(target=watch, daemon=True).start()
start = time.perf_counter()
if mode == "streamed":
    model.fit(folder + "/x_*.npy", folder + "/y_*.npy")
else:
    import glob
    X = np.concatenate([np.load(f) for f in sorted(glob.glob(folder + "/x_*.npy"))]).astype(np.float32) / 255
    y = np.concatenate([np.load(f) for f in sorted(glob.glob(folder + "/y_*.npy"))])
    model.fit(X, y)
done.set()
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak[0], "seconds": time.perf_counter() - start}))
"""


def memory(repeat: int, n: int, workdir: Path) -> dict:
    sizes = {"1x": n, "10x": 10 * n}
    for name, count in sizes.items():
        folder = workdir / f"mem-{name}"
        for part, start in enumerate(range(0, count, n)):  # written in pieces: the generator stays small too
            images, labels = _images(min(n, count - start), seed=part)
            _write_shards(folder / f"p{part:03d}", images, labels, shards=1)
            for suffix in ("x", "y"):
                (folder / f"p{part:03d}" / f"{suffix}_000.npy").rename(folder / f"{suffix}_{part:03d}.npy")
    runs = []
    for r in range(repeat):
        for name in sizes:
            for mode in ("streamed", "array loaded first"):
                child = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(workdir / f"mem-{name}"),
                                        "streamed" if mode == "streamed" else "array"],
                                       capture_output=True, text=True, check=True)
                figures = json.loads(child.stdout.strip().splitlines()[-1])
                grown = figures["peak_mb"] - figures["baseline_mb"]
                runs.append({"variant": f"{mode}, {name} ({sizes[name]} images)", "repeat": r,
                             "peak_growth_mb": grown, "seconds": figures["seconds"]})
                print(f"[{r + 1}/{repeat}] {mode:<20} {name:>3}: +{grown:7.1f} MB over the process at rest, "
                      f"{figures['seconds']:.1f} s", flush=True)
    summary = []
    for variant in dict.fromkeys(r["variant"] for r in runs):
        rows = [r for r in runs if r["variant"] == variant]
        summary.append({"variant": variant, "peak_growth_mb": statistics.median(r["peak_growth_mb"] for r in rows),
                        "median_s": statistics.median(r["seconds"] for r in rows)})
    return {"summary": summary, "runs": runs, "images": sizes, "shape": SHAPE,
            "array_mb": {k: v * int(np.prod(SHAPE)) * 4 / 2**20 for k, v in sizes.items()}}


def ddp(repeat: int) -> dict:
    import distributed
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import scaleml
    from scaleml.nn import CNNClassifier
    from scaleml.engines.dask.cluster import close_all
    from scaleml.nn.distributed import fit_distributed

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    params = {"image_shape": (8, 8), "epochs": 10, "batch_size": 64, "random_state": 0}
    seen = len(X_train) * params["epochs"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        def on_dask():
            with scaleml.backend("dask", address=cluster.scheduler_address):
                return CNNClassifier(**params).fit(X_train, y_train)

        variants = {
            "one process": lambda: CNNClassifier(**params).fit(X_train, y_train),
            "2 torchrun-style processes": lambda: fit_distributed(CNNClassifier(**params), X_train, y_train, nprocs=2),
            "2 Dask workers (one rank each)": on_dask,
        }
        runs = _interleaved(variants, repeat, seen,
                            lambda model: {**_in_loop(model, seen), "accuracy": model.score(X_test, y_test)})
        close_all(cluster.scheduler_address)  # scaleml's client to it, before the cluster goes
    return _summarise(runs, "2 torchrun-style processes", {**params, "train_images": len(X_train)})


def _interleaved(variants: dict, repeat: int, seen: int, measure) -> list[dict]:
    """One warm-up of each variant, then ``repeat`` rounds of A B C ...; ``measure(model)``
    adds figures to each run (after the timer stops)."""
    for fit in variants.values():
        fit()
    runs = []
    for r in range(repeat):
        for name, fit in variants.items():
            start = time.perf_counter()
            model = fit()
            seconds = time.perf_counter() - start
            run = {"variant": name, "repeat": r, "seconds": seconds, "images_per_s": seen / seconds, **measure(model)}
            runs.append(run)
            extra = ", ".join(f"{k} {v:.4g}" for k, v in run.items() if k not in ("variant", "repeat", "seconds", "images_per_s"))
            print(f"[{r + 1}/{repeat}] {name:<32} {seconds:6.2f} s {seen / seconds:8.0f} images/s  {extra}", flush=True)
    return runs


def _in_loop(model, seen: int) -> dict:
    """Throughput inside the training loop: rank 0's epochs, start-up left out."""
    in_loop = sum(h["seconds"] for h in model.history_)
    return {"loop_s": in_loop, "loop_images_per_s": seen / in_loop}


def _summarise(runs: list[dict], floor: str, settings: dict) -> dict:
    base = statistics.median(r["images_per_s"] for r in runs if r["variant"] == floor)
    summary = []
    for variant in dict.fromkeys(r["variant"] for r in runs):
        rows = [r for r in runs if r["variant"] == variant]
        rate = statistics.median(r["images_per_s"] for r in rows)
        loop = ({"loop_images_per_s": statistics.median(r["loop_images_per_s"] for r in rows)}
                if "loop_images_per_s" in rows[0] else {})
        summary.append({"variant": variant, "median_s": statistics.median(r["seconds"] for r in rows),
                        "images_per_s": rate, "throughput_vs_floor": rate / base, **loop,
                        **({"accuracy_median": statistics.median(r["accuracy"] for r in rows)} if "accuracy" in rows[0] else {})})
    for s in summary:
        print(f"  {s['variant']:<32} {s['images_per_s']:8.0f} images/s  x{s['throughput_vs_floor']:.2f} of {floor}")
    return {"floor": floor, "settings": settings, "summary": summary, "runs": runs}


def ddp_gpus(repeat: int) -> dict:
    """On a machine with several GPUs: one rank per GPU (nccl) against one process on one GPU."""
    import torch
    from sklearn.datasets import load_digits

    from scaleml.nn import CNNClassifier
    from scaleml.nn.distributed import fit_distributed

    gpus = torch.cuda.device_count()
    if gpus < 2:
        print(f"== data-parallel on GPUs: skipped ({gpus} GPU here; needs 2 or more)")
        return {"skipped": f"{gpus} GPU"}
    X, y = load_digits(return_X_y=True)
    X = np.tile(X / 16.0, (20, 1))  # ~36,000 images: enough work per rank to measure
    y = np.tile(y, 20)
    params = {"image_shape": (8, 8), "epochs": 3, "batch_size": 256, "random_state": 0, "device": "cuda"}
    seen = len(X) * params["epochs"]
    variants = {"one process, one GPU": lambda: CNNClassifier(**params).fit(X, y),
                f"{gpus} ranks, one GPU each (nccl)": lambda: fit_distributed(CNNClassifier(**params), X, y, nprocs=gpus)}
    runs = _interleaved(variants, repeat, seen, lambda model: _in_loop(model, seen))
    return _summarise(runs, "one process, one GPU", {**params, "images": len(X), "gpus": gpus})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["throughput", "memory", "ddp", "ddp-gpus", "all"], default="all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", type=int, default=6000, help="images in the throughput set")
    parser.add_argument("--memory-images", type=int, default=4000, help="images in the 1x memory set")
    parser.add_argument("--device", default="cpu", help="throughput part: cpu or cuda")
    parser.add_argument("--out", default="bench/results/cnn-streaming.json")
    args = parser.parse_args()
    import torch

    record = {**machine.provenance(machine.script_command("bench/nn/cnn_streaming.py"), probe_torch=True),
              "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("throughput", "all"):
            print("== throughput: streamed from disk vs in memory")
            record["throughput"] = throughput(args.repeat, args.images, Path(tmp), args.device)
        if args.part in ("memory", "all"):
            print("== memory: one epoch as the set grows 10x")
            record["memory"] = memory(args.repeat, args.memory_images, Path(tmp))
    if args.part in ("ddp", "all"):
        print("== data-parallel: Dask workers vs torchrun-style processes vs one process")
        record["ddp"] = ddp(args.repeat)
    if args.part == "ddp-gpus":
        record["ddp_gpus"] = ddp_gpus(args.repeat)
    print(f"wrote {write_json(args.out, record)}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
