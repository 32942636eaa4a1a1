"""``Categorizer`` and ``DummyEncoder``: DataFrame in, DataFrame out, as dask-ml's were.

The way dask-ml users encoded categoricals: ``Categorizer`` turns string columns
into pandas categoricals whose categories it learned (one pass over a Dask
DataFrame: every column's distinct values gathered per partition in one
``dask.compute``), and ``DummyEncoder`` one-hot encodes categorical columns with
``get_dummies``, partition by partition, so a Dask DataFrame stays lazy. Both take
pandas DataFrames too. A value not seen at fit raises scikit-learn's
``OneHotEncoder`` error (``handle_unknown="error"``, the default) or becomes a
missing value (``"ignore"``: dask-ml's behaviour); missing values stay missing
(no dummy is set for them), as in pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import StrOptions, ValidatedParams


def _is_dask_frame(X: Any) -> bool:
    return type(X).__module__.startswith("dask.") and hasattr(X, "npartitions") and hasattr(X, "columns")


def _check_frame(X: Any, owner: str) -> Any:
    if isinstance(X, pd.DataFrame) or _is_dask_frame(X):
        return X
    raise TypeError(
        f"{owner} takes a pandas or Dask DataFrame (its columns are named and typed), got "
        f"{type(X).__name__}; wrap an array as pd.DataFrame(X, columns=[...]) or dd.from_dask_array(X, columns=[...])."
    )


def _is_text(dtype: Any) -> bool:
    return isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype) \
        or pd.api.types.is_string_dtype(dtype)


def _as_dtype(spec: Any) -> pd.CategoricalDtype:
    """A CategoricalDtype from one, or from dask-ml's ``(categories, ordered)`` pair."""
    if isinstance(spec, pd.CategoricalDtype):
        return spec
    categories, ordered = spec
    return pd.CategoricalDtype(categories, ordered)


def _learned_dtype(series: pd.Series) -> pd.CategoricalDtype:
    # pandas' own rule: the categories of astype("category"), sorted where they can be.
    return series.astype("category").dtype


def learn_categories(X: Any, columns: list) -> dict:
    """Each column's CategoricalDtype: pandas in memory, one ``dask.compute`` for a Dask DataFrame.

    A Dask column whose categories are known already is not read.
    """
    if isinstance(X, pd.DataFrame):
        return {name: X[name].dtype if isinstance(X[name].dtype, pd.CategoricalDtype)
                else _learned_dtype(X[name]) for name in columns}
    import dask

    known = {name: X[name].dtype for name in columns
             if isinstance(X[name].dtype, pd.CategoricalDtype) and X[name].cat.known}
    todo = [name for name in columns if name not in known]
    # One pass: every column's distinct values per partition, merged in a tree, in one compute.
    gathered = dask.compute(*[X[name].dropna().drop_duplicates() for name in todo])
    learned = {}
    for name, values in zip(todo, gathered):
        ordered = isinstance(X[name].dtype, pd.CategoricalDtype) and X[name].dtype.ordered
        found = _learned_dtype(pd.Series(list(np.asarray(values, dtype=object))))
        learned[name] = pd.CategoricalDtype(found.categories, ordered)
    return {name: known.get(name, learned.get(name)) for name in columns}


def _cast(frame: pd.DataFrame, dtypes: dict, handle_unknown: str) -> pd.DataFrame:
    """``frame`` with ``dtypes`` applied; an unseen value raises scikit-learn's error unless ignored."""
    frame = frame.copy()
    for name, dtype in dtypes.items():
        cast = frame[name].astype(dtype)
        if handle_unknown == "error":
            unseen = cast.isna() & frame[name].notna()
            if unseen.any():
                found = sorted(map(str, pd.unique(frame[name][unseen])))
                raise ValueError(
                    f"Found unknown categories {found} in column {name!r} during transform (not seen at fit); "
                    "fit on data holding them, give categories=, or pass handle_unknown='ignore' to make them missing."
                )
        frame[name] = cast
    return frame


def _apply(X: Any, fn: Any, meta: Any, *args: Any) -> Any:
    """``fn(partition, *args)`` on pandas, or on each partition of a Dask DataFrame (lazily)."""
    if isinstance(X, pd.DataFrame):
        return fn(X, *args)
    return X.map_partitions(fn, *args, meta=meta)


class Categorizer(ValidatedParams, TransformerMixin, BaseEstimator):
    """Turn a DataFrame's text columns into categoricals with the categories learned at fit.

    dask-ml's ``Categorizer``: pandas or Dask DataFrame in, the same kind out, the
    other columns untouched. On a Dask DataFrame the categories come from one pass
    (each partition's distinct values, merged); given ``categories=``, nothing is read.

    Parameters
    ----------
    categories : dict or None, default=None
        Column name -> ``pandas.CategoricalDtype`` or ``(categories, ordered)``; the
        columns and categories to use, with no pass over the data.
    columns : list or None, default=None
        Columns to categorize; None: every object, string or categorical column.
    handle_unknown : {"error", "ignore"}, default="error"
        A value not seen at fit: scikit-learn's ``OneHotEncoder`` error, or (``"ignore"``,
        dask-ml's behaviour) a missing value.

    Attributes
    ----------
    columns_ : pandas.Index
        The columns categorized.
    categories_ : dict
        Column name -> ``pandas.CategoricalDtype``.
    """

    _parameter_constraints = {"categories": [dict, None], "columns": [list, tuple, pd.Index, None],
                              "handle_unknown": [StrOptions({"error", "ignore"})]}

    def __init__(self, categories=None, columns=None, handle_unknown="error"):
        self.categories = categories
        self.columns = columns
        self.handle_unknown = handle_unknown

    def fit(self, X: Any, y: Any = None) -> Categorizer:
        """Learn each column's categories (none read when ``categories`` is given)."""
        self._validate_params()
        X = _check_frame(X, "Categorizer")
        if self.categories is not None:
            self.columns_ = pd.Index(list(self.categories))
            self.categories_ = {name: _as_dtype(spec) for name, spec in self.categories.items()}
            return self
        columns = list(self.columns) if self.columns is not None else \
            [name for name, dtype in X.dtypes.items() if _is_text(dtype)]
        self.columns_ = pd.Index(columns)
        self.categories_ = learn_categories(X, columns)
        return self

    def transform(self, X: Any, y: Any = None) -> Any:
        """The columns of ``categories_`` as categoricals (lazy for a Dask DataFrame)."""
        check_is_fitted(self, "categories_")
        X = _check_frame(X, "Categorizer")
        missing = [name for name in self.categories_ if name not in X.columns]
        if missing:
            raise ValueError(f"Columns {missing} were categorized at fit but are not in X: pass the columns fitted.")
        meta = None if isinstance(X, pd.DataFrame) else _cast(_sample(X), self.categories_, "ignore").iloc[:0]
        return _apply(X, _cast, meta, self.categories_, self.handle_unknown)


def _dummies(frame: pd.DataFrame, dtypes: dict, drop_first: bool, handle_unknown: str) -> pd.DataFrame:
    return pd.get_dummies(_cast(frame, dtypes, handle_unknown), columns=list(dtypes), drop_first=drop_first)


def _undummy(frame: pd.DataFrame, encoder: DummyEncoder) -> pd.DataFrame:
    """The categorical columns back from their dummies (the argmax of each column's block)."""
    # Values given as one NumPy array share a dtype (object, say): the other columns get theirs back.
    parts = [frame[list(encoder.non_categorical_columns_)].astype(encoder.non_categorical_dtypes_)]
    for name in encoder.categorical_columns_:
        dtype = encoder.dtypes_[name]
        block = frame.iloc[:, encoder.categorical_blocks_[name]].to_numpy(dtype=float)
        codes = block.argmax(axis=1) if block.shape[1] else np.zeros(len(frame), dtype=int)
        if encoder.drop_first:
            codes = np.where((block == 0).all(axis=1), 0, codes + 1)
        else:
            codes = np.where((block == 0).all(axis=1), -1, codes)  # no dummy set: missing
        parts.append(pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), name=name, index=frame.index))
    return pd.concat(parts, axis=1)[list(encoder.columns_)]


class DummyEncoder(ValidatedParams, TransformerMixin, BaseEstimator):
    """One-hot encode a DataFrame's categorical columns into 0/1 columns named ``column_category``.

    dask-ml's ``DummyEncoder``: pandas or Dask DataFrame in, the same kind out (a Dask
    DataFrame encoded partition by partition with ``pandas.get_dummies``, lazily), the
    other columns first and untouched. Columns must be categorical (``Categorizer``
    makes them so); a Dask column whose categories are unknown has them learned in one pass.

    Parameters
    ----------
    columns : list or None, default=None
        Categorical columns to encode; None: every categorical column.
    drop_first : bool, default=False
        Leave out each column's first category (its rows have every dummy 0).
    handle_unknown : {"error", "ignore"}, default="error"
        A value not in the fitted categories: scikit-learn's ``OneHotEncoder`` error,
        or every dummy 0 (``"ignore"``).

    Attributes
    ----------
    columns_, categorical_columns_, non_categorical_columns_, transformed_columns_ : pandas.Index
    dtypes_ : dict
        Column name -> ``pandas.CategoricalDtype``.
    non_categorical_dtypes_ : dict
        The other columns' dtypes (given back by ``inverse_transform`` of a NumPy array).
    categorical_blocks_ : dict
        Column name -> the slice of its dummies in the output.
    """

    _parameter_constraints = {"columns": [list, tuple, pd.Index, None], "drop_first": ["boolean"],
                              "handle_unknown": [StrOptions({"error", "ignore"})]}

    def __init__(self, columns=None, drop_first=False, handle_unknown="error"):
        self.columns = columns
        self.drop_first = drop_first
        self.handle_unknown = handle_unknown

    def fit(self, X: Any, y: Any = None) -> DummyEncoder:
        """Find the categorical columns and their categories."""
        self._validate_params()
        X = _check_frame(X, "DummyEncoder")
        columns = list(self.columns) if self.columns is not None else \
            [name for name, dtype in X.dtypes.items() if isinstance(dtype, pd.CategoricalDtype)]
        wrong = [name for name in columns if not isinstance(X[name].dtype, pd.CategoricalDtype)]
        if wrong:
            raise ValueError(f"DummyEncoder encodes categorical columns; {wrong} are not: make them so with "
                             "scaleml.preprocessing.Categorizer (or .astype('category')) first.")
        self.columns_ = pd.Index(X.columns)
        self.categorical_columns_ = pd.Index(columns)
        self.non_categorical_columns_ = self.columns_.drop(self.categorical_columns_)
        self.dtypes_ = learn_categories(X, columns)
        left, self.categorical_blocks_ = len(self.non_categorical_columns_), {}
        for name in columns:
            right = left + len(self.dtypes_[name].categories) - int(self.drop_first)
            self.categorical_blocks_[name], left = slice(left, right), right
        sample = _cast(_sample(X), self.dtypes_, "ignore")
        self.non_categorical_dtypes_ = sample[list(self.non_categorical_columns_)].dtypes.to_dict()
        self.transformed_columns_ = pd.get_dummies(sample, columns=columns, drop_first=self.drop_first).columns
        return self

    def _check_columns(self, X: Any) -> None:
        if not pd.Index(X.columns).equals(self.columns_):
            raise ValueError(f"Columns of 'X' do not match the training columns. Got {list(X.columns)!r}, "
                             f"expected {list(self.columns_)!r}: pass the columns the encoder was fitted on, in order.")

    def transform(self, X: Any, y: Any = None) -> Any:
        """The dummies (lazy for a Dask DataFrame), columns ``transformed_columns_``."""
        check_is_fitted(self, "dtypes_")
        X = _check_frame(X, "DummyEncoder")
        self._check_columns(X)
        args = (self.dtypes_, self.drop_first, self.handle_unknown)
        meta = None if isinstance(X, pd.DataFrame) else _dummies(_sample(X), self.dtypes_, self.drop_first, "ignore")
        return _apply(X, _dummies, None if meta is None else meta.iloc[:0], *args)

    def inverse_transform(self, X: Any) -> Any:
        """The encoded frame (or its NumPy/Dask array of values) back to categorical columns."""
        check_is_fitted(self, "dtypes_")
        if isinstance(X, np.ndarray):
            X = pd.DataFrame(X, columns=self.transformed_columns_)
        elif not isinstance(X, pd.DataFrame) and not _is_dask_frame(X):
            import dask.dataframe as dd

            X = dd.from_dask_array(X, columns=list(self.transformed_columns_))
        meta = None if isinstance(X, pd.DataFrame) else _undummy(_sample(X).astype(X.dtypes.to_dict()), self).iloc[:0]
        return _apply(X, _undummy, meta, self)


def _sample(X: Any) -> pd.DataFrame:
    """A few rows with X's columns and dtypes: its head in pandas, Dask's non-empty stand-in otherwise."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[:1]
    from dask.dataframe.utils import make_meta, meta_nonempty

    return meta_nonempty(make_meta(X))
