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


def read_path(path: Any, block_bytes: int | str) -> Any:
    """A Dask DataFrame over the Parquet/CSV files at ``path`` (a file, folder or glob).

    Parquet files are split by row groups into blocks of about ``block_bytes``,
    so no one task ever holds a whole large file; CSV files by bytes.
    """
    import dask.dataframe as dd

    text = os.fspath(path)
    matches = _matches(text)
    first = matches[0]
    if text.endswith(".csv") or first.endswith(".csv"):
        return dd.read_csv(text, blocksize=block_bytes)
    if os.path.isdir(first) or first.endswith((".parquet", ".pq")):
        return dd.read_parquet(
            text if len(matches) == 1 else matches, split_row_groups="adaptive", blocksize=block_bytes
        )
    raise DataError(f"Cannot tell the format of {text!r}: name files *.parquet or *.csv, or give a Parquet folder.")
