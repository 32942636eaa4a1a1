"""CNNClassifier vs a hand-written PyTorch loop (the floor) vs skorch, same model and settings.

Digits (8x8), 75/25 split with a fixed seed, the default scaleml CNN, 20 epochs,
batch size 64, AdamW(lr=1e-3), on whatever device ``--device`` names. The three
variants' repeats are interleaved; medians are reported with images/s.

    python bench/nn/cnn.py --repeat 3 [--device cpu|cuda] [--out bench/results/cnn-cpu.json]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from scaleml import machine
from scaleml.bench.results import write_json
from scaleml.nn import CNNClassifier
from scaleml.nn._modules import build_cnn

EPOCHS, BATCH, LR = 20, 64, 1e-3


def data():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def run_scaleml(X_train, X_test, y_train, y_test, device):
    model = CNNClassifier(image_shape=(8, 8), epochs=EPOCHS, batch_size=BATCH, learning_rate=LR,
                          device=device, random_state=0).fit(X_train, y_train)
    return model.score(X_test, y_test)


def run_hand_written(X_train, X_test, y_train, y_test, device):
    torch.manual_seed(0)
    dev = torch.device(device)
    module = build_cnn((1, 8, 8), 10, (32, 64), 0.25).to(dev)
    optimizer = torch.optim.AdamW(module.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X = torch.as_tensor(X_train).reshape(-1, 1, 8, 8).to(dev)
    y = torch.as_tensor(y_train).to(dev)
    for _ in range(EPOCHS):
        module.train()
        order = torch.randperm(len(X), device=dev)
        for begin in range(0, len(X), BATCH):
            index = order[begin:begin + BATCH]
            optimizer.zero_grad()
            loss_fn(module(X[index]), y[index]).backward()
            optimizer.step()
    module.eval()
    with torch.no_grad():
        pred = module(torch.as_tensor(X_test).reshape(-1, 1, 8, 8).to(dev)).argmax(1).cpu().numpy()
    return float((pred == y_test).mean())


class _SkorchCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = build_cnn((1, 8, 8), 10, (32, 64), 0.25)

    def forward(self, X):
        return self.net(X.reshape(-1, 1, 8, 8))


def run_skorch(X_train, X_test, y_train, y_test, device):
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        _SkorchCNN, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.AdamW, lr=LR,
        max_epochs=EPOCHS, batch_size=BATCH, train_split=None, iterator_train__shuffle=True,
        device=device, verbose=0,
    )
    net.fit(X_train, y_train.astype(np.int64))
    return float((net.predict(X_test) == y_test).mean())


VARIANTS = {"hand-written loop": run_hand_written, "scaleml CNNClassifier": run_scaleml, "skorch": run_skorch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="bench/results/cnn-cpu.json")
    args = parser.parse_args()
    split = data()
    images = len(split[0]) * EPOCHS
    for fn in VARIANTS.values():  # warm-up, not counted
        fn(*split, args.device)
    runs = []
    for repeat in range(args.repeat):
        for name, fn in VARIANTS.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            accuracy = fn(*split, args.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            runs.append({"variant": name, "repeat": repeat, "seconds": seconds, "accuracy": accuracy})
            print(f"[{repeat + 1}/{args.repeat}] {name:<22} {seconds:6.2f} s  {images / seconds:8.0f} images/s  "
                  f"accuracy {accuracy:.4f}", flush=True)
    floor = statistics.median(r["seconds"] for r in runs if r["variant"] == "hand-written loop")
    summary = []
    for name in VARIANTS:
        rows = [r for r in runs if r["variant"] == name]
        median = statistics.median(r["seconds"] for r in rows)
        summary.append({"variant": name, "median_s": median, "images_per_s": images / median,
                        "vs_hand_written": median / floor,
                        "accuracy_median": statistics.median(r["accuracy"] for r in rows)})
    print(f"\n{'variant':<22} {'median s':>9} {'images/s':>9} {'x floor':>8} {'accuracy':>9}")
    for s in summary:
        print(f"{s['variant']:<22} {s['median_s']:>9.2f} {s['images_per_s']:>9.0f} {s['vs_hand_written']:>8.2f} "
              f"{s['accuracy_median']:>9.4f}")
    record = {
        "what": "digits CNN, same network/epochs/batch/optimizer; wall time of fit (+ a test-set predict)",
        **machine.provenance(machine.script_command("bench/nn/cnn.py"), probe_torch=True), "device": args.device,
        "torch": torch.__version__, "epochs": EPOCHS, "batch_size": BATCH,
        "summary": summary, "runs": runs,
    }
    print(f"wrote {write_json(args.out, record)}")


if __name__ == "__main__":
    main()
