"""The column names of lazy data (a Dask DataFrame, or Parquet/CSV files: their metadata
only), and the check that a fitted model gets the feature columns it was fitted on."""

from __future__ import annotations

from typing import Any

from ..exceptions import DataError
from .forms import is_path


def lazy_columns(X: Any) -> list[str] | None:
    """The column names of lazy ``X`` (a Dask DataFrame, or Parquet/CSV files: their metadata
    only), or None where it has none (a Dask array)."""
    if hasattr(X, "columns"):
        return [str(column) for column in X.columns]
    if is_path(X):
        from .files import read_path

        return [str(column) for column in read_path(X, "32MiB").columns]
    return None


def check_feature_columns(X: Any, fitted: list[str], target: str | None) -> None:
    """Refuse lazy ``X`` whose feature columns are not ``fitted``, in that order.

    Blocks reach the steps as arrays, so nothing downstream sees the names: a file with
    its columns in another order was scored as if they matched (0.41 for 0.82).
    scikit-learn refuses a DataFrame with other feature names the same way.
    """
    columns = lazy_columns(X)
    if columns is None:
        return
    given = [column for column in columns if column != target]
    if given == fitted:
        return
    missing = [c for c in fitted if c not in given]
    extra = [c for c in given if c not in fitted]
    detail = (f"missing {missing}" if missing else "") + ("; " if missing and extra else "") + (
        f"not seen in fit {extra}" if extra else "")
    raise DataError(
        "The feature columns should match those the model was fitted on, in the same order "
        f"({detail or 'the same columns, in another order'}). Fitted on {fitted}; got {given}. "
        "Select them in that order (e.g. df[model.feature_columns_]) before predicting."
    )


def has_column(X: Any, column: str) -> bool:
    """Whether lazy ``X`` (a Dask DataFrame, or Parquet/CSV files read as one) has ``column``."""
    if hasattr(X, "columns"):
        return column in X.columns
    if is_path(X):
        from .files import read_path

        return column in read_path(X, "32MiB").columns
    return False
