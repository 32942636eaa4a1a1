"""CNNClassifier on data that stays on disk: image folders, .npy shards, torch Datasets.

The same images in any form give the same model (CPU, seeded), and a set larger
than a memory budget trains within it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from scaleml.exceptions import DataError  # noqa: E402
from scaleml.nn import ArrayShards, CNNClassifier, ImageFolder  # noqa: E402

N_PER_CLASS = 30


@pytest.fixture(scope="module")
def digits_on_disk(tmp_path_factory):
    """30 digits of each class as 8-bit PNGs in one folder per class, the same samples as
    .npy shards, and the arrays they equal (in the folder's order: class, then file name)."""
    root = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
    images, labels = [], []
    for digit in range(10):
        chosen = np.flatnonzero(digits.target == digit)[:N_PER_CLASS]
        folder = root / "images" / f"digit{digit}"
        folder.mkdir(parents=True)
        for k, index in enumerate(chosen):
            Image.fromarray(pixels[index], mode="L").save(folder / f"{k:03d}.png")
            images.append(pixels[index])
            labels.append(f"digit{digit}")
    X = (np.stack(images).astype(np.float32) / np.float32(255.0))[:, None]  # (n, 1, 8, 8), as decoded
    y = np.asarray(labels)
    shards = root / "shards"
    shards.mkdir()
    for part, index in enumerate(np.array_split(np.arange(len(X)), 3)):
        np.save(shards / f"x_{part}.npy", X[index])
        np.save(shards / f"y_{part}.npy", y[index])
    return {"folder": root / "images", "shards": shards, "X": X, "y": y}


class DigitsDataset(torch.utils.data.Dataset):
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return torch.from_numpy(self.X[index]), self.y[index]


def _model(**params):
    params = {"channels": (8,), "epochs": 3, "batch_size": 32, "random_state": 0, "num_workers": 0, **params}
    return CNNClassifier(**params)


def test_the_same_images_in_every_form_give_the_same_model(digits_on_disk):
    X, y = digits_on_disk["X"], digits_on_disk["y"]
    reference = _model().fit(X, y).predict_proba(X)
    fitted = {
        "folder": _model().fit(str(digits_on_disk["folder"])),
        "folder, 2 loader processes": _model(num_workers=2).fit(str(digits_on_disk["folder"])),
        "shards": _model().fit(str(digits_on_disk["shards"] / "x_*.npy"), str(digits_on_disk["shards"] / "y_*.npy")),
        "Dataset": _model().fit(DigitsDataset(X, y)),
    }
    for form, model in fitted.items():
        assert_array_equal(model.classes_, np.unique(y), err_msg=form)
        assert_allclose(model.predict_proba(X), reference, rtol=0, atol=1e-6, err_msg=form)


def test_eight_bit_shards_and_datasets_read_as_the_images_do(digits_on_disk, tmp_path):
    X, y = digits_on_disk["X"], digits_on_disk["y"]
    pixels = np.round(X * 255).astype(np.uint8)  # the PNGs' own bytes
    np.save(tmp_path / "x_0.npy", pixels[:150])
    np.save(tmp_path / "x_1.npy", pixels[150:])
    from_folder = _model().fit(str(digits_on_disk["folder"])).predict_proba(X)
    from_shards = _model().fit(ArrayShards(str(tmp_path / "x_*.npy"), y)).predict_proba(X)
    from_dataset = _model().fit(DigitsDataset(pixels, y)).predict_proba(X)
    assert_allclose(from_shards, from_folder, atol=1e-6)
    assert_allclose(from_dataset, from_folder, atol=1e-6)


def test_score_takes_a_dataset(digits_on_disk):
    X, y = digits_on_disk["X"], digits_on_disk["y"]
    model = _model().fit(X, y)
    assert model.score(DigitsDataset(X, y)) == pytest.approx(model.score(X, y))


def test_early_stopping_holds_out_the_same_samples_from_a_folder(digits_on_disk):
    X, y = digits_on_disk["X"], digits_on_disk["y"]
    arrays = _model(early_stopping=True, epochs=6).fit(X, y)
    folder = _model(early_stopping=True, epochs=6).fit(ImageFolder(digits_on_disk["folder"]))
    assert [h["validation_score"] for h in folder.history_] == [h["validation_score"] for h in arrays.history_]
    assert_allclose(folder.predict_proba(X), arrays.predict_proba(X), atol=1e-6)


def test_predict_and_score_read_the_folder_too(digits_on_disk):
    X, y = digits_on_disk["X"], digits_on_disk["y"]
    model = _model().fit(X, y)
    folder = str(digits_on_disk["folder"])
    assert_array_equal(model.predict(folder), model.predict(X))
    assert model.score(folder) == pytest.approx(model.score(X, y))
    shards = ArrayShards(str(digits_on_disk["shards"] / "x_*.npy"))
    assert_array_equal(model.predict(shards), model.predict(X))


def test_an_augmentation_is_seeded(digits_on_disk):
    def flip(batch):
        flipped = torch.rand(batch.shape[0], 1, 1, 1, device=batch.device) < 0.5
        return torch.where(flipped, batch.flip(-1), batch)

    X, y = digits_on_disk["X"], digits_on_disk["y"]
    a = _model(augment=flip).fit(str(digits_on_disk["folder"])).predict_proba(X)
    b = _model(augment=flip).fit(X, y).predict_proba(X)
    plain = _model().fit(X, y).predict_proba(X)
    assert_allclose(a, b, atol=1e-6)  # same seed, same flips, in either form
    assert np.abs(a - plain).max() > 1e-3  # and the flips did change the training


def test_a_fit_from_a_folder_resumes_from_its_checkpoint(digits_on_disk, tmp_path):
    from scaleml.nn.callbacks import Callback

    class StopOnceAtEpochTwo(Callback):
        fired = False

        def on_epoch_begin(self, training):
            if training.epoch == 2 and not type(self).fired:
                type(self).fired = True
                raise KeyboardInterrupt  # as a killed process would stop

    folder = str(digits_on_disk["folder"])
    params = {"epochs": 4, "checkpoint_dir": str(tmp_path / "ckpt"), "callbacks": [StopOnceAtEpochTwo()]}
    with pytest.raises(KeyboardInterrupt):
        _model(**params).fit(folder)
    assert (tmp_path / "ckpt" / "checkpoint.pt").exists()
    resumed = _model(**params).fit(folder)
    straight = _model(epochs=4, callbacks=[StopOnceAtEpochTwo()]).fit(folder)
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in straight.history_]
    X = digits_on_disk["X"]
    assert_array_equal(resumed.predict_proba(X), straight.predict_proba(X))


def test_bad_folders_and_shards_are_refused_with_the_fix(tmp_path, digits_on_disk):
    (tmp_path / "flat").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DataError, match="one subfolder per class|no subfolders"):
        _model().fit(str(tmp_path / "flat"))
    mixed = tmp_path / "mixed"
    (mixed / "a").mkdir(parents=True)
    (mixed / "b").mkdir()
    Image.new("L", (8, 8)).save(mixed / "a" / "1.png")
    Image.new("L", (9, 8)).save(mixed / "b" / "2.png")
    with pytest.raises(DataError, match=r"2\.png is 9x8.*size=\(height, width\)"):
        _model().fit(str(mixed))
    resized = _model(epochs=1).fit(ImageFolder(mixed, size=(8, 8)))
    assert resized.input_shape_ == (1, 8, 8)
    with pytest.raises(DataError, match="labels are its subfolder names; pass y=None"):
        _model().fit(str(digits_on_disk["folder"]), digits_on_disk["y"])
    with pytest.raises(DataError, match="pass the labels .* as y"):
        _model().fit(str(digits_on_disk["shards"] / "x_*.npy"))
    with pytest.raises(DataError, match="3 image shards but 1 label shards"):
        ArrayShards(str(digits_on_disk["shards"] / "x_*.npy"), str(digits_on_disk["shards"] / "y_0.npy"))
    with pytest.raises(DataError, match="neither a folder of images"):
        _model().fit(str(tmp_path / "nothing.csv"), "label")


@pytest.fixture(scope="module")
def digits_parquet(digits_on_disk, tmp_path_factory):
    """The same digits as Parquet: PNG bytes in 'image', labels in 'label', 3 files of
    row groups of 40 rows; and a copy with the pixels as lists of numbers."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    root = tmp_path_factory.mktemp("parquet")
    X, y = digits_on_disk["X"], digits_on_disk["y"]
    (root / "png").mkdir()
    (root / "numbers").mkdir()
    for part, index in enumerate(np.array_split(np.arange(len(X)), 3)):
        encoded = []
        for k in index:
            buffer = __import__("io").BytesIO()
            Image.fromarray(np.round(X[k, 0] * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
            encoded.append(buffer.getvalue())
        pq.write_table(pa.table({"image": encoded, "label": y[index]}), root / "png" / f"part-{part}.parquet",
                       row_group_size=40)
        pq.write_table(pa.table({"pixels": [X[k].ravel().tolist() for k in index], "digit": y[index]}),
                       root / "numbers" / f"part-{part}.parquet", row_group_size=40)
    return root


def test_parquet_images_train_reproducibly_and_read_as_the_arrays(digits_on_disk, digits_parquet):
    from scaleml.nn import ParquetImages

    X, y = digits_on_disk["X"], digits_on_disk["y"]
    first = _model().fit(str(digits_parquet / "png"), "label")
    again = _model().fit(str(digits_parquet / "png" / "*.parquet"), "label")
    assert_array_equal(first.predict_proba(X), again.predict_proba(X))  # seeded: the same run twice
    # The images decode to the array's values: predictions from Parquet equal those from the array.
    assert_array_equal(first.predict(str(digits_parquet / "png")), first.predict(X))
    assert first.score(str(digits_parquet / "png"), "label") == pytest.approx(first.score(X, y))
    numbers = ParquetImages(digits_parquet / "numbers", image_column="pixels", label_column="digit",
                            image_shape=(1, 8, 8))
    assert_array_equal(_model().fit(numbers).predict_proba(X), first.predict_proba(X))
    assert _model(epochs=8).fit(str(digits_parquet / "png"), "label").score(X, y) > 0.8


def test_parquet_is_shuffled_a_few_row_groups_at_a_time():
    from scaleml.nn._parquet import WINDOW_GROUPS, blocked_order

    group_ids = np.repeat(np.arange(10), 40)
    order = blocked_order(group_ids, torch.Generator().manual_seed(0)).numpy()
    assert sorted(order) == list(range(400))
    windows = [set(group_ids[order[b:b + 40 * WINDOW_GROUPS]]) for b in range(0, 400, 40 * WINDOW_GROUPS)]
    assert all(len(w) <= WINDOW_GROUPS for w in windows)
    again = blocked_order(group_ids, torch.Generator().manual_seed(0)).numpy()
    other = blocked_order(group_ids, torch.Generator().manual_seed(1)).numpy()
    assert_array_equal(order, again) and not np.array_equal(order, other)


def test_parquet_columns_are_named_when_missing(digits_parquet):
    with pytest.raises(DataError, match=r"has no column 'target'.*image_column= and label_column="):
        _model().fit(str(digits_parquet / "png"), "target")
    with pytest.raises(DataError, match="y as the name of the label column"):
        _model().fit(str(digits_parquet / "png"), np.zeros(300))


MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys, threading, time
    import numpy as np

    def anonymous_mb():
        # Memory the process allocated (not file pages it maps, which the kernel can drop).
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return (int(fields["RssAnon"].split()[0]) + int(fields["RssShmem"].split()[0])) / 1024

    import torch
    from scaleml.nn import CNNClassifier
    model = CNNClassifier(channels=(4,), epochs=1, batch_size=64, random_state=0, num_workers=0)
    baseline, peak, done = anonymous_mb(), [0.0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], anonymous_mb())
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    model.fit(sys.argv[1] + "/x_*.npy", sys.argv[1] + "/y_*.npy")
    done.set()
    print(json.dumps({"baseline_mb": baseline, "peak_mb": peak[0], "epochs": model.n_epochs_}))
""")


@pytest.mark.slow
def test_a_set_larger_than_the_memory_budget_trains_within_it(tmp_path):
    # 10,000 images of 3x64x64: 469 MiB as the float32 array training reads, 117 MiB on disk (uint8).
    n, shape, budget_mb = 10_000, (3, 64, 64), 200
    rng = np.random.default_rng(0)
    for part in range(10):
        np.save(tmp_path / f"x_{part}.npy", rng.integers(0, 255, (n // 10, *shape), dtype=np.uint8))
        np.save(tmp_path / f"y_{part}.npy", rng.integers(0, 3, n // 10))
    as_array_mb = n * np.prod(shape) * 4 / 2**20
    assert as_array_mb > 2 * budget_mb
    run = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["epochs"] == 1
    assert figures["peak_mb"] - figures["baseline_mb"] < budget_mb, figures
