"""Reading Parquet and CSV files lazily, as Dask DataFrames split into blocks."""

from __future__ import annotations

import glob
import os
from typing import Any

from ..exceptions import DataError


def read_path(path: Any, block_bytes: int | str) -> Any:
    """A Dask DataFrame over the Parquet/CSV files at ``path`` (a file, folder or glob).

    Parquet files are split by row groups into blocks of about ``block_bytes``,
    so no one task ever holds a whole large file; CSV files by bytes.
    """
    import dask.dataframe as dd

    text = os.fspath(path)
    matches = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
    if not matches or not all(os.path.exists(m) for m in matches):
        raise DataError(f"No file or folder at {text!r}. Give a Parquet/CSV file, a folder of Parquet files, or a glob.")
    first = matches[0]
    if text.endswith(".csv") or first.endswith(".csv"):
        return dd.read_csv(text, blocksize=block_bytes)
    if os.path.isdir(first) or first.endswith((".parquet", ".pq")):
        return dd.read_parquet(
            text if len(matches) == 1 else matches, split_row_groups="adaptive", blocksize=block_bytes
        )
    raise DataError(f"Cannot tell the format of {text!r}: name files *.parquet or *.csv, or give a Parquet folder.")
