"""Reading Parquet and CSV files lazily, as Dask DataFrames split into blocks."""

from __future__ import annotations

import glob
import os
from typing import Any

from ..exceptions import DataError


def _matches(text: str) -> list[str]:
    matches = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
    if not matches or not all(os.path.exists(m) for m in matches):
        raise DataError(f"No file or folder at {text!r}. Give a Parquet/CSV file, a folder of Parquet files, or a glob.")
    return matches


def read_frame(path: Any, columns: list[str] | None = None) -> Any:
    """The Parquet/CSV files at ``path`` (a file, folder or glob) read whole into one pandas
    DataFrame (only ``columns``, when given)."""
    import pandas as pd

    matches = _matches(os.fspath(path))
    if os.fspath(path).endswith(".csv") or matches[0].endswith(".csv"):
        frames = [pd.read_csv(m, usecols=columns) for m in matches]
    elif os.path.isdir(matches[0]) or matches[0].endswith((".parquet", ".pq")):
        frames = [pd.read_parquet(m, columns=columns) for m in matches]
    else:
        raise DataError(f"Cannot tell the format of {os.fspath(path)!r}: name files *.parquet or *.csv, or give a "
                        "Parquet folder.")
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


# Blocks of files read with block_bytes="auto": a 64th of the files' size, within these bounds.
# Reading a Parquet block takes about five times its decoded size at its peak (the column
# chunks read, the pages decompressed, the Arrow arrays, the NumPy copy: measured in
# bench/out_of_core/peak_rss.py), so a block of a 64th keeps a pass near a tenth of the data.
AUTO_BLOCKS = 64
MIN_AUTO_BLOCK, MAX_AUTO_BLOCK = 1 << 20, 32 << 20


def auto_block_bytes(path: Any) -> int:
    """The block size ``block_bytes="auto"`` reads the files at ``path`` in: a 64th of their
    size on disk, at least 1 MiB and at most 32 MiB."""
    total = sum(_size(m) for m in _matches(os.fspath(path)))
    return int(min(MAX_AUTO_BLOCK, max(MIN_AUTO_BLOCK, total // AUTO_BLOCKS)))


def _data_files(folder: str) -> list[str]:
    """The data files in a Parquet folder, as Dask reads it (names starting with ``_`` or ``.``,
    such as ``_metadata``, left out)."""
    return [os.path.join(root, name) for root, _, names in os.walk(folder)
            for name in sorted(names) if not name.startswith(("_", "."))]


def _size(match: str) -> int:
    return sum(map(os.path.getsize, _data_files(match))) if os.path.isdir(match) else os.path.getsize(match)


def parquet_rows(path: Any) -> int | None:
    """Rows in the Parquet files at ``path``, from their footers (None for CSV, or a
    footer that cannot be read: the count is then learned by reading)."""
    text = os.fspath(path)
    matches = _matches(text)
    if text.endswith(".csv") or matches[0].endswith(".csv"):
        return None
    import pyarrow.parquet as pq

    files = [f for m in matches for f in (_data_files(m) if os.path.isdir(m) else [m])]
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except (OSError, ValueError):
        return None


def read_path(path: Any, block_bytes: int | str = "auto", columns: list[str] | None = None) -> Any:
    """A Dask DataFrame over the Parquet/CSV files at ``path`` (a file, folder or glob).

    Parquet files are split by row groups into blocks of about ``block_bytes``
    (``"auto"``: :func:`auto_block_bytes`), so no one task ever holds a whole large
    file (a row group is never split: write files with row groups smaller than the
    blocks); CSV files by bytes. ``columns``: only these are read.
    """
    import dask.dataframe as dd

    text = os.fspath(path)
    matches = _matches(text)
    first = matches[0]
    if block_bytes == "auto":
        block_bytes = auto_block_bytes(path)
    if text.endswith(".csv") or first.endswith(".csv"):
        return dd.read_csv(text, blocksize=block_bytes, usecols=columns)
    if os.path.isdir(first) or first.endswith((".parquet", ".pq")):
        return dd.read_parquet(
            text if len(matches) == 1 else matches, split_row_groups="adaptive", blocksize=block_bytes,
            columns=columns,
        )
    raise DataError(f"Cannot tell the format of {text!r}: name files *.parquet or *.csv, or give a Parquet folder.")
