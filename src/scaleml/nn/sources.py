"""Training data that stays on disk: image folders, array shards, Parquet, any ``torch`` Dataset.

``CNNClassifier.fit`` (and ``predict``/``score``) take these besides arrays. Every
source is a map-style dataset read one sample at a time by a ``DataLoader`` (worker
processes, pinned memory on CUDA, prefetch), so no whole-set array is ever built;
only the labels (one small array) are read up front, to learn the classes and to
split off a validation set.

The same images give the same model as a folder, shards, a Dataset or an array:
samples are taken in the same seeded order, and decoded to the same float32 values an array of them would hold
(8-bit images scaled to [0, 1], as ``torchvision``'s ``ToTensor`` does). Parquet
(:class:`~scaleml.nn._parquet.ParquetImages`) is read a row group at a time in a
blocked shuffle instead.
"""

from __future__ import annotations

import glob
import os
from bisect import bisect_right
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageFolder:
    """Images in one subfolder per class: ``root/<class>/<image>.png``.

    Classes are the subfolder names, sorted; samples are taken class by class,
    files in name order. Images are decoded with Pillow to float32 ``(c, h, w)``
    in [0, 1]: one channel for grey images, three for colour, four for RGBA.

    Parameters
    ----------
    root : str or path
    size : (height, width) or None
        Resize every image to this size on reading. None: every image must have
        the same size (a different one is refused, naming the file).
    mode : str or None
        Pillow mode every image is converted to (``"L"``, ``"RGB"``); None: the
        first image's (``"L"`` for grey, ``"RGB"`` for palette and colour images).
    """

    def __init__(self, root: str | os.PathLike[str], size: tuple[int, int] | None = None, mode: str | None = None):
        self.root = Path(root)
        self.size = tuple(size) if size is not None else None
        if not self.root.is_dir():
            raise DataError(f"Image folder {str(self.root)!r} does not exist or is not a folder.")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not self.classes:
            raise DataError(
                f"Image folder {str(self.root)!r} has no subfolders. Put the images of each class in a "
                f"subfolder named after the class: {self.root}/<class>/<image>.png."
            )
        self.files: list[Path] = []
        targets: list[int] = []
        for index, name in enumerate(self.classes):
            found = sorted(p for p in (self.root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            self.files += found
            targets += [index] * len(found)
        if not self.files:
            raise DataError(f"Image folder {str(self.root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
        self.targets = np.asarray(targets, dtype=np.int64)
        self.labels = np.asarray(self.classes, dtype=object)[self.targets]
        self.mode = mode or _default_mode(self.files[0])
        self.sample_shape = tuple(self._pixels(0).shape)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        return self._scaled(self._pixels(index)), self.labels[index]

    def read_many(self, indices: list[int]) -> np.ndarray:
        """Images at ``indices`` as one float32 array, scaled once for the whole batch."""
        return self._scaled(np.stack([self._pixels(i) for i in indices]))

    @staticmethod
    def _scaled(pixels: np.ndarray) -> np.ndarray:
        return _to_float(pixels)  # 16-bit and float images keep their values

    def _pixels(self, index: int) -> np.ndarray:
        from PIL import Image

        path = self.files[index]
        try:
            with Image.open(path) as image:
                if image.mode != self.mode:
                    image = image.convert(self.mode)
                if self.size is not None and image.size != (self.size[1], self.size[0]):
                    image = image.resize((self.size[1], self.size[0]))
                pixels = np.asarray(image)
        except OSError as exc:
            raise DataError(f"Could not read image {path}: {exc}. Remove or replace the file.") from None
        pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        if hasattr(self, "sample_shape") and pixels.shape != self.sample_shape:
            raise DataError(
                f"Image {path} is {pixels.shape[2]}x{pixels.shape[1]} ({pixels.shape[0]} channels) but the "
                f"first image is {self.sample_shape[2]}x{self.sample_shape[1]} ({self.sample_shape[0]}). "
                "Pass ImageFolder(root, size=(height, width)) to resize every image as it is read."
            )
        return pixels

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.root)!r}: {len(self)} images, {len(self.classes)} classes)"


def _default_mode(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as image:
        if image.mode in ("L", "1", "I;16", "I", "F"):
            return "L"
        return "RGBA" if image.mode in ("RGBA", "LA") else "RGB"


class ArrayShards:
    """Samples in ``.npy`` shards, read through memory maps (never loaded whole).

    8-bit (``uint8``) samples are scaled to float32 in [0, 1], as image files are;
    other types are used as they are.

    Parameters
    ----------
    images : str, path or list of them
        A glob (``"data/x_*.npy"``) or list of ``.npy`` files of samples,
        ``(n, h, w)`` or ``(n, c, h, w)``, all with the same sample shape;
        shards are taken in sorted name order.
    labels : str, path, list of them, or array
        A glob/list of ``.npy`` label shards paired with ``images`` in sorted
        order (each as long as its image shard), or one array of every label.
    """

    def __init__(self, images: Any, labels: Any = None):
        self.image_files = _expand(images, "images")
        self.shards = [np.load(path, mmap_mode="r") for path in self.image_files]
        shapes = {tuple(s.shape[1:]) for s in self.shards}
        if len(shapes) != 1:
            raise DataError(f"Image shards {images!r} hold samples of different shapes {sorted(shapes)}; "
                            "every shard must hold samples of one shape.")
        self.offsets = np.cumsum([0] + [len(s) for s in self.shards]).tolist()
        if labels is None:  # for predicting
            self.labels = None
        elif isinstance(labels, (str, os.PathLike)) or (isinstance(labels, list) and labels
                                                      and isinstance(labels[0], (str, os.PathLike))):
            label_files = _expand(labels, "labels")
            if len(label_files) != len(self.image_files):
                raise DataError(f"{len(self.image_files)} image shards but {len(label_files)} label shards; "
                                "pair every image shard with one label shard (same sorted order).")
            parts = [np.load(path) for path in label_files]
            for image_file, label_file, shard, part in zip(self.image_files, label_files, self.shards, parts):
                if len(part) != len(shard):
                    raise DataError(f"Label shard {label_file} holds {len(part)} labels but image shard "
                                    f"{image_file} holds {len(shard)} samples.")
            self.labels = np.concatenate(parts)
        else:
            self.labels = np.asarray(labels)
            if len(self.labels) != len(self):
                raise DataError(f"{len(self.labels)} labels for {len(self)} samples in {images!r}.")
        self.sample_shape = shapes.pop()

    def __len__(self) -> int:
        return self.offsets[-1]

    def read_many(self, indices: list[int]) -> np.ndarray:
        """Samples at ``indices`` as one float32 array: one gather per shard, not one read per sample."""
        indices = np.asarray(indices)
        shard_of = np.searchsorted(self.offsets, indices, side="right") - 1
        out = np.empty((len(indices), *self.sample_shape), dtype=self.shards[0].dtype)
        for shard in np.unique(shard_of):
            chosen = shard_of == shard
            out[chosen] = self.shards[shard][indices[chosen] - self.offsets[shard]]
        return _to_float(out)

    def __getstate__(self) -> dict[str, Any]:
        # Sent to Dask workers and DataLoader processes as file names, not as the mapped data.
        return {**self.__dict__, "shards": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.shards = [np.load(path, mmap_mode="r") for path in self.image_files]

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        shard = bisect_right(self.offsets, index) - 1
        label = self.labels[index] if self.labels is not None else None
        return _to_float(self.shards[shard][index - self.offsets[shard]]), label

    def __repr__(self) -> str:
        return f"ArrayShards({len(self.image_files)} shards, {len(self)} samples of shape {self.sample_shape})"


def _expand(pattern: Any, what: str) -> list[str]:
    items = pattern if isinstance(pattern, (list, tuple)) else [pattern]
    files: list[str] = []
    for item in items:
        found = sorted(glob.glob(os.fspath(item)))
        if not found:
            raise DataError(f"No {what} files match {os.fspath(item)!r}.")
        files += found
    bad = [f for f in files if not f.endswith(".npy")]
    if bad:
        raise DataError(f"{what} shards must be .npy files (np.save); got {bad[0]!r}.")
    return files


# -- what fit/predict accept ----------------------------------------------------------------


def is_source(X: Any) -> bool:
    """Whether ``X`` is data these estimators stream rather than arrays in memory."""
    from ._parquet import ParquetImages

    if isinstance(X, (str, os.PathLike, ImageFolder, ArrayShards, ParquetImages, DatasetSource)):
        return True
    return _is_torch_dataset(X)


def _is_torch_dataset(X: Any) -> bool:
    if "torch" not in type(X).__module__ and not any("torch" in c.__module__ for c in type(X).__mro__):
        return False
    from torch.utils.data import Dataset

    return isinstance(X, Dataset)


def open_source(X: Any, y: Any = None, owner: str = "the estimator", labels: bool = True) -> Any:
    """``X`` (and ``y`` where it names label shards) as a source with ``labels`` and ``sample_shape``.

    A folder path is an :class:`ImageFolder` (labels: its subfolders); a ``.npy``
    path or glob is :class:`ArrayShards` with ``y`` its labels; a ``torch``
    Dataset is read once for its labels (its ``targets`` attribute is used
    instead where it has one) unless ``y`` gives them. With ``labels=False``
    (predicting) no labels are needed or read.
    """
    from ._parquet import ParquetImages, is_parquet_path

    if isinstance(X, (str, os.PathLike)):
        text = os.fspath(X)
        if is_parquet_path(text):
            if y is not None and not isinstance(y, str):
                raise DataError(f"For Parquet files pass y as the name of the label column (got "
                                f"{type(y).__name__}); the images are in the column named 'image', or "
                                "pass ParquetImages(path, image_column=..., label_column=...).")
            return ParquetImages(text, label_column=(y or "label") if labels else None)
        if os.path.isdir(text):
            X = ImageFolder(text)
        elif text.endswith(".npy") or (glob.glob(text) and all(f.endswith(".npy") for f in glob.glob(text))):
            if y is None and labels:
                raise DataError(f"{text!r} holds samples without labels: pass the labels to {owner} as y "
                                "(a glob of .npy label shards, or an array).")
            return ArrayShards(text, y)
        else:
            raise DataError(
                f"{text!r} is neither a folder of images (one subfolder per class), .npy shards nor "
                f"Parquet files. {owner} takes an image folder, a glob of .npy shards with y, Parquet "
                "files with y the label column, a torch Dataset, or arrays."
            )
    if isinstance(X, DatasetSource):
        return X
    if isinstance(X, ImageFolder):
        if y is not None:
            raise DataError(f"An image folder's labels are its subfolder names; pass y=None to {owner} "
                            f"(got y of type {type(y).__name__}).")
        return X
    if isinstance(X, (ArrayShards, ParquetImages)):
        if y is not None:
            raise DataError(f"{type(X).__name__} carries its labels; pass y=None to {owner}.")
        if labels and X.labels is None:
            raise DataError(f"This {type(X).__name__} has no labels; give them to train on it.")
        return X
    return DatasetSource(X, y, labels=labels)


class DatasetSource:
    """A ``torch.utils.data.Dataset`` of ``(sample, label)`` pairs, its labels read up front.

    Samples may be tensors or arrays; 8-bit ones are scaled to [0, 1] as image files are.
    """

    def __init__(self, dataset: Any, y: Any = None, labels: bool = True):
        self.dataset = dataset
        if not labels:
            self.labels = None
        elif y is not None:
            self.labels = np.asarray(y)
        elif getattr(dataset, "targets", None) is not None:
            targets = np.asarray(dataset.targets)
            classes = getattr(dataset, "classes", None)
            self.labels = np.asarray(classes, dtype=object)[targets] if classes is not None else targets
        else:
            self.labels = np.asarray([self._pair(i)[1] for i in range(len(dataset))])
        if self.labels is not None and len(self.labels) != len(dataset):
            raise DataError(f"{len(self.labels)} labels for a Dataset of {len(dataset)} samples.")
        if len(dataset) == 0:
            raise DataError("The Dataset is empty.")
        self.sample_shape = tuple(_as_sample(self._pair(0)[0]).shape)

    def _pair(self, index: int) -> tuple[Any, Any]:
        item = self.dataset[index]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise DataError(f"The Dataset's items must be (sample, label) pairs; item {index} is "
                            f"{type(item).__name__}.")
        return item[0], item[1]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self._pair(index)

    def __repr__(self) -> str:
        return f"{type(self.dataset).__name__} ({len(self)} samples)"


def _to_float(pixels: np.ndarray) -> np.ndarray:
    """float32 samples: 8-bit images scaled to [0, 1] (as from an image file), others as they are."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / np.float32(255.0)
    return np.asarray(pixels, dtype=np.float32)


def _as_sample(sample: Any) -> np.ndarray:
    """A sample as float32 ``(c, h, w)`` (a 2-D sample gains its channel axis; 8-bit in [0, 1])."""
    array = sample.detach().cpu().numpy() if hasattr(sample, "detach") else np.asarray(sample)
    array = _to_float(array)
    return array[None] if array.ndim == 2 else array


class Indexed:
    """Batches as ``(float32 samples, indices)``: labels are taken from the encoded label
    array, by index, in the training process. A DataLoader fetches a whole batch with
    one ``__getitems__`` call (one gather per shard for ``ArrayShards``)."""

    def __init__(self, source: Any):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        import torch

        return torch.from_numpy(_as_sample(self.source[index][0])), index

    def __getitems__(self, indices: list[int]) -> tuple[Any, Any]:
        import torch

        if hasattr(self.source, "read_many"):
            samples = self.source.read_many(indices)
            samples = samples[:, None] if samples.ndim == 3 else samples
        else:
            samples = np.stack([_as_sample(self.source[i][0]) for i in indices])
        return torch.from_numpy(samples), torch.as_tensor(indices)


def as_batch(batch: Any) -> Any:
    """The DataLoader's collate function: ``Indexed.__getitems__`` already made the batch."""
    return batch


def fingerprint_of(source: Any) -> str:
    """What identifies a source's data for checkpoints, without reading every sample."""
    if isinstance(source, ImageFolder):
        stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in source.files]
        return repr((str(source.root), source.size, source.mode, stats))
    if isinstance(source, ArrayShards):
        stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in source.image_files]
        return repr((stats, source.labels.tobytes() if source.labels.dtype != object else list(source.labels)))
    if hasattr(source, "groups"):  # ParquetImages
        stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in source.files]
        return repr((stats, source.image_column, source.label_column, source.image_shape, source.mode))
    return repr((type(source.dataset).__qualname__, len(source), list(source.labels)))
