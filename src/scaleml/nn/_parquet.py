"""Images in Parquet files: an image column (encoded PNG/JPEG bytes, or numbers) and a label column.

Parquet is read a row group at a time, so a global shuffle (each batch from
anywhere in the set) would read every row group once per batch. Training
therefore takes a *blocked* shuffle, as streaming loaders for sharded data do:
each epoch visits the row groups in a seeded random order, a few at a time, and
shuffles the samples within that window. A small cache holds the window's
undecoded image column; images are decoded per batch. The order is seeded, so a
run is reproducible; it differs from an array's global shuffle, so the model is
not bit-for-bit the array's (folders, ``.npy`` shards and Datasets are).
"""

from __future__ import annotations

import glob
import os
from collections import OrderedDict
from typing import Any

import numpy as np

from ..exceptions import DataError
from .sources import _to_float

WINDOW_GROUPS = 4  # row groups shuffled together (and cached per reader)


class ParquetImages:
    """Samples in Parquet files, read a row group at a time.

    Parameters
    ----------
    path : str, path or list of them
        A file, a folder of ``*.parquet`` files, or a glob; files in sorted order.
    image_column : str, default="image"
        Encoded images (PNG/JPEG bytes, decoded with Pillow to float32 in [0, 1]),
        or lists of numbers (reshaped to ``image_shape``).
    label_column : str or None, default="label"
        The labels; None for images to predict.
    image_shape : tuple or None
        ``(h, w)`` or ``(c, h, w)`` of numeric image columns.
    mode : str or None
        Pillow mode encoded images are converted to (None: each image's own).
    """

    def __init__(self, path: Any, image_column: str = "image", label_column: str | None = "label",
                 image_shape: tuple[int, ...] | None = None, mode: str | None = None):
        import pyarrow.parquet as pq

        self.files = _parquet_files(path)
        self.image_column, self.label_column = image_column, label_column
        self.image_shape, self.mode = (tuple(image_shape) if image_shape else None), mode
        groups, labels = [], []
        for file in self.files:
            meta = pq.ParquetFile(file)
            names = meta.schema_arrow.names
            for column in (image_column, label_column):
                if column is not None and column not in names:
                    raise DataError(f"{file} has no column {column!r} (it has {names}). "
                                    "Name the columns with image_column= and label_column=.")
            for group in range(meta.num_row_groups):
                groups.append((file, group, meta.metadata.row_group(group).num_rows))
            if label_column is not None:
                labels.append(meta.read(columns=[label_column]).column(0).to_numpy(zero_copy_only=False))
        if not groups or sum(g[2] for g in groups) == 0:
            raise DataError(f"No rows in {path!r}.")
        self.groups = groups
        self.offsets = np.cumsum([0] + [g[2] for g in groups])
        self.group_ids = np.repeat(np.arange(len(groups)), [g[2] for g in groups])
        self.labels = np.concatenate(labels) if labels else None
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self.sample_shape = tuple(self.read_many([0]).shape[1:])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        label = self.labels[index] if self.labels is not None else None
        return self.read_many([index])[0], label

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": OrderedDict()}  # each reader process caches its own

    def _column(self, group: int) -> Any:
        import pyarrow.parquet as pq

        if group in self._cache:
            self._cache.move_to_end(group)
            return self._cache[group]
        file, row_group, _ = self.groups[group]
        column = pq.ParquetFile(file).read_row_group(row_group, columns=[self.image_column]).column(0)
        self._cache[group] = column
        if len(self._cache) > WINDOW_GROUPS:
            self._cache.popitem(last=False)
        return column

    def read_many(self, indices: Any) -> np.ndarray:
        """Samples at ``indices`` as one float32 array (row groups read once per window)."""
        out = []
        for index in np.asarray(indices):
            group = int(self.group_ids[index])
            out.append(self._decode(self._column(group)[int(index - self.offsets[group])].as_py(), index))
        return np.stack(out)

    def _decode(self, value: Any, index: int) -> np.ndarray:
        if isinstance(value, (bytes, bytearray)):
            import io

            from PIL import Image

            with Image.open(io.BytesIO(value)) as image:
                if self.mode is not None and image.mode != self.mode:
                    image = image.convert(self.mode)
                pixels = np.asarray(image)
            return _to_float(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
        if self.image_shape is None:
            raise DataError(f"Column {self.image_column!r} holds numbers, not encoded images: pass "
                            "image_shape=(h, w) or (c, h, w) to reshape them.")
        array = np.asarray(value, dtype=np.float32)
        if array.size != int(np.prod(self.image_shape)):
            raise DataError(f"Row {index} of column {self.image_column!r} holds {array.size} values; "
                            f"image_shape={self.image_shape} needs {int(np.prod(self.image_shape))}.")
        return array.reshape(self.image_shape)

    def __repr__(self) -> str:
        return f"ParquetImages({len(self.files)} files, {len(self.groups)} row groups, {len(self)} samples)"


def _parquet_files(path: Any) -> list[str]:
    items = path if isinstance(path, (list, tuple)) else [path]
    files: list[str] = []
    for item in items:
        text = os.fspath(item)
        found = sorted(glob.glob(os.path.join(text, "*.parquet"))) if os.path.isdir(text) else sorted(glob.glob(text))
        if not found:
            raise DataError(f"No Parquet files match {text!r}.")
        files += found
    return files


def is_parquet_path(text: str) -> bool:
    if os.path.isdir(text):
        return bool(glob.glob(os.path.join(text, "*.parquet")))
    return text.endswith(".parquet") or bool(glob.glob(text)) and all(f.endswith(".parquet") for f in glob.glob(text))


def blocked_order(group_ids: np.ndarray, generator: Any) -> Any:
    """A seeded epoch order over positions whose samples sit in row groups ``group_ids``:
    groups in random order, ``WINDOW_GROUPS`` at a time, samples shuffled within each window."""
    import torch

    groups = np.unique(group_ids)
    visit = groups[torch.randperm(len(groups), generator=generator).numpy()]
    order = []
    for begin in range(0, len(visit), WINDOW_GROUPS):
        window = np.flatnonzero(np.isin(group_ids, visit[begin:begin + WINDOW_GROUPS]))
        order.append(window[torch.randperm(len(window), generator=generator).numpy()])
    return torch.as_tensor(np.concatenate(order))
