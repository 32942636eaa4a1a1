"""One-pass twins of scikit-learn's encoders, SimpleImputer, RobustScaler, QuantileTransformer,
PolynomialFeatures and ColumnTransformer.

Each twin learns what its scikit-learn step needs in one pass over the blocks
(each block summarized where it is, the summaries merged in a tree) and then
makes the step itself fitted, by fitting it on a few rows that hold exactly
what the pass found: every category of every column (encoders), each column's
statistic and whether it had missing values (SimpleImputer), or a uniform
sample of rows (RobustScaler, QuantileTransformer). The fitted step is plain scikit-learn, with the
state its own ``fit`` gives it.

- ``OneHotEncoder``, ``OrdinalEncoder`` (``categories="auto"``, no
  ``min_frequency``/``max_categories``): exact; the categories are gathered per block.
- ``SimpleImputer`` (``mean``, ``most_frequent``, ``constant``): exact (the mean up
  to rounding); ``median`` has no one-pass form and is not twinned.
- ``ColumnTransformer`` of parts with ``partial_fit`` (the scalers), encoders and
  SimpleImputers (or ``"drop"``/``"passthrough"``): one pass over DataFrame blocks
  brought here, each part learning from its columns; exact where its parts are.
- ``OneHotEncoder``/``OrdinalEncoder`` given ``categories=`` lists: nothing to learn, no pass.
- ``PolynomialFeatures``: learns only the input's width, known without a pass.
- ``RobustScaler`` and ``QuantileTransformer``: approximate. Their quantiles come from a uniform sample of up to
  100,000 rows (at most 64 MiB), drawn in one pass (two for files and DataFrames,
  whose rows are counted first); a quantile's rank is then typically within about
  0.3 percentage points of the exact one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..data.blocks import Blocks, no_rows_error

SAMPLE_ROWS = 100_000
SAMPLE_BYTES = 64 * 2**20


def from_sklearn(estimator: Any) -> Any:
    """The one-pass twin of a scikit-learn encoder, imputer, RobustScaler, QuantileTransformer,
    PolynomialFeatures or ColumnTransformer, or None."""
    import sklearn.impute
    import sklearn.preprocessing as sk

    kind = type(estimator)
    params = estimator.get_params(deep=False)
    if kind in (sk.OneHotEncoder, sk.OrdinalEncoder):
        if params.get("min_frequency") is not None or params.get("max_categories") is not None:
            return None
        if not isinstance(params["categories"], str):
            return GivenCategoriesTwin(params["categories"])  # nothing to learn: no pass
        return CategoriesTwin()
    if kind is sk.PolynomialFeatures:
        return WidthTwin()
    if kind is sk.QuantileTransformer:
        return SampleTwin()
    if kind is sklearn.impute.SimpleImputer:
        if params["strategy"] not in ("mean", "most_frequent", "constant"):
            return None
        return ImputerTwin(strategy=params["strategy"], missing_values=params["missing_values"])
    if kind is sk.RobustScaler:
        return SampleTwin()
    from sklearn.compose import ColumnTransformer

    if kind is ColumnTransformer and all(_learnable(t) for _, t, _ in _parts(estimator)):
        selectors = any(callable(columns) for _, _, columns in estimator.transformers)
        if selectors and estimator.remainder != "drop":
            return None  # the remainder's columns are known only once the selectors have run
        return ColumnsTwin().set_column_transformer(estimator)
    return None


def _parts(column_transformer: Any) -> list[tuple[str, Any, Any]]:
    """``(name, transformer, columns)`` of a ColumnTransformer, the remainder last (columns None)."""
    parts = list(column_transformer.transformers)
    if column_transformer.remainder not in ("drop",):
        parts.append(("remainder", column_transformer.remainder, None))
    return parts


def _learnable(transformer: Any) -> bool:
    """Whether a ColumnTransformer's part can be learned in one streamed pass."""
    if isinstance(transformer, str):
        return transformer in ("drop", "passthrough")
    if transformer.get_params(deep=False).get("drop") is not None:
        # A dropped category makes the output's density (whether it is sparse) depend on the data.
        return False
    return hasattr(transformer, "partial_fit") or isinstance(from_sklearn(transformer), (CategoriesTwin, ImputerTwin))


class _Twin(BaseEstimator):
    """Learns in one pass (``fit_blocks``), then fits the scikit-learn step (``export_to``)."""

    def fit_blocks(self, data: Blocks) -> _Twin:
        self.summary_ = data.reduce(_summarize, self, merge=self.merge, indexed=True)
        if self.summary_[0] == 0:
            raise no_rows_error(data.description)
        self.n_passes_ = data.passes
        return self

    def export_to(self, model: Any) -> None:
        model.fit(self.stand_in())


class CategoriesTwin(_Twin):
    """Every column's distinct values, gathered block by block (encoders)."""

    def summarize(self, part: tuple[Any, Any], index: int) -> tuple:
        import pandas as pd

        X = _as_2d(part[0])
        return len(X), X.dtype, [pd.unique(X[:, j]) for j in range(X.shape[1])]

    def merge(self, *summaries: tuple) -> tuple:
        import pandas as pd

        rows = sum(s[0] for s in summaries)
        dtype = np.result_type(*(s[1] for s in summaries)) if all(s[1] != object for s in summaries) else object
        columns = [pd.unique(np.concatenate([s[2][j] for s in summaries]))
                   for j in range(len(summaries[0][2]))]
        return rows, dtype, columns

    def stand_in(self) -> np.ndarray:
        """Rows in which every column shows each of its values (cycled to the longest)."""
        _, dtype, columns = self.summary_
        length = max(len(values) for values in columns)
        return np.column_stack([np.resize(np.asarray(values, dtype=dtype), length) for values in columns])


class GivenCategoriesTwin(_Twin):
    """An encoder given its categories: nothing is read; the stand-in rows hold every category.

    Values outside them are found when transforming (scikit-learn's fit would find them first).
    """

    def __init__(self, categories=None):
        self.categories = categories

    def fit_blocks(self, data: Blocks) -> _Twin:
        if data.n_features is not None and data.n_features != len(self.categories):
            raise ValueError(f"Shape mismatch: if categories is an array, it has to be of shape (n_features,): "
                             f"{len(self.categories)} lists of categories for {data.n_features} features.")
        self.n_passes_ = 0
        return self

    def stand_in(self) -> np.ndarray:
        columns = [np.asarray(values) for values in self.categories]
        length = max(len(values) for values in columns)
        dtype = np.result_type(*columns) if all(c.dtype != object and c.dtype.kind not in "US" for c in columns) \
            else object
        return np.column_stack([np.resize(values.astype(dtype), length) for values in columns])


class WidthTwin(_Twin):
    """A step that learns only the input's width (PolynomialFeatures): known without a pass."""

    def fit_blocks(self, data: Blocks) -> _Twin:
        width = data.n_features
        if width is None:  # not known from the source: the first non-empty block says
            width = next(np.shape(_as_2d(X))[1] for X, _ in data.stream() if len(X))
        self.width_ = int(width)
        self.n_passes_ = data.passes
        return self

    def stand_in(self) -> np.ndarray:
        return np.zeros((1, self.width_))


class ImputerTwin(_Twin):
    """Per column: the statistic's ingredients and whether a value was missing (SimpleImputer)."""

    def __init__(self, strategy="mean", missing_values=np.nan):
        self.strategy = strategy
        self.missing_values = missing_values

    def _missing(self, X: np.ndarray) -> np.ndarray:
        import pandas as pd

        if _is_nan(self.missing_values):
            return np.asarray(pd.isna(X))
        return X == self.missing_values

    def summarize(self, part: tuple[Any, Any], index: int) -> tuple:
        X = _as_2d(part[0])
        missing = self._missing(X)
        columns = []
        for j in range(X.shape[1]):
            present = X[~missing[:, j], j]
            if self.strategy == "mean":
                columns.append((float(np.sum(present.astype(np.float64))), len(present)))
            elif self.strategy == "most_frequent":
                values, counts = np.unique(present, return_counts=True)
                columns.append(dict(zip(values.tolist(), counts.tolist())))
            else:
                columns.append(present[:1])
        return len(X), X.dtype, missing.any(axis=0), columns

    def merge(self, *summaries: tuple) -> tuple:
        rows = sum(s[0] for s in summaries)
        dtype = np.result_type(*(s[1] for s in summaries)) if all(s[1] != object for s in summaries) else object
        missing = np.logical_or.reduce([s[2] for s in summaries])
        columns = []
        for j in range(len(missing)):
            parts = [s[3][j] for s in summaries]
            if self.strategy == "mean":
                columns.append((sum(p[0] for p in parts), sum(p[1] for p in parts)))
            elif self.strategy == "most_frequent":
                counts: dict = {}
                for p in parts:
                    for value, count in p.items():
                        counts[value] = counts.get(value, 0) + count
                columns.append(counts)
            else:
                columns.append(next((p for p in parts if len(p)), parts[0]))
        return rows, dtype, missing, columns

    def stand_in(self) -> np.ndarray:
        """Two rows: each column's statistic (or the missing marker where it had no value),
        then the missing marker where the column had missing values, else the statistic again."""
        _, dtype, missing, columns = self.summary_
        marker = self.missing_values
        first = []
        for column in columns:
            if self.strategy == "mean":
                total, count = column
                first.append(total / count if count else marker)
            elif self.strategy == "most_frequent":
                # scikit-learn breaks ties by the smallest value
                best = max(column.values()) if column else None
                first.append(min(v for v, c in column.items() if c == best) if column else marker)
            else:
                first.append(column[0] if len(column) else marker)
        second = [marker if had else value for value, had in zip(first, missing)]
        return np.array([first, second], dtype=dtype if dtype == object else np.float64)


class SampleTwin(_Twin):
    """A uniform sample of rows (RobustScaler's and QuantileTransformer's quantiles).

    Every row is kept with probability ``1.1 * limit / rows`` (a generator seeded per
    block), so each block's summary is its share of the sample, never the block
    itself; the merge keeps the ``limit`` rows with the smallest keys. The row count
    is known up front for Dask arrays; files and DataFrames cost one pass to count.
    """

    def fit_blocks(self, data: Blocks) -> _Twin:
        rows = sum(data.rows) if data.rows is not None else data.reduce(_count_rows, merge=_add)
        self.rows_ = int(rows)
        return super().fit_blocks(data)

    def summarize(self, part: tuple[Any, Any], index: int) -> tuple:
        X = np.asarray(_as_2d(part[0]), dtype=np.float64)
        limit = max(1, min(SAMPLE_ROWS, SAMPLE_BYTES // max(1, 8 * X.shape[1])))
        rate = min(1.0, 1.1 * limit / max(self.rows_, 1))
        keys = np.random.default_rng([0, index]).random(len(X))  # seeded: a refit draws the same sample
        kept = keys < rate
        return len(X), keys[kept], X[kept], limit

    def merge(self, *summaries: tuple) -> tuple:
        limit = summaries[0][3]
        keys = np.concatenate([s[1] for s in summaries])
        rows = np.concatenate([s[2] for s in summaries])
        if len(keys) > limit:
            keep = np.argpartition(keys, limit)[:limit]
            keys, rows = keys[keep], rows[keep]
        return sum(s[0] for s in summaries), keys, rows, limit

    def stand_in(self) -> np.ndarray:
        return self.summary_[2]


class ColumnsTwin(_Twin):
    """A ColumnTransformer learned in one pass over DataFrame blocks streamed here.

    Each part learns from its columns of every block: with ``partial_fit`` (the
    scalers, IncrementalPCA) or its one-pass twin's summary (encoders,
    SimpleImputer). The ColumnTransformer is then fitted on a few stand-in rows
    (the first block's head, each encoder's and imputer's columns holding exactly
    what the pass found), which gives it scikit-learn's own fitted structure, and
    the parts learned with ``partial_fit`` take their places in ``transformers_``.
    """

    def fit_blocks(self, data: Blocks) -> _Twin:
        from sklearn.base import clone

        self.learners_: dict[str, Any] = {}
        summaries: dict[str, Any] = {}
        head, rows = None, 0
        for index, (X_block, _) in enumerate(data.stream()):
            if head is None and len(X_block):
                head = X_block.iloc[:50].copy()  # stand-in rows (a copy: a view would keep the block)
            rows += len(X_block)
            for name, transformer, columns in self._parts:
                if isinstance(transformer, str):
                    continue
                learner = self.learners_.setdefault(
                    name, clone(transformer) if hasattr(transformer, "partial_fit") else from_sklearn(transformer))
                block = _columns(X_block, columns, self._remainder_columns)
                if hasattr(learner, "partial_fit"):
                    learner.partial_fit(block)
                else:
                    summary = learner.summarize((block, None), index)
                    summaries[name] = summary if name not in summaries else learner.merge(summaries[name], summary)
        if rows == 0:
            raise no_rows_error(data.description)
        for name, summary in summaries.items():
            self.learners_[name].summary_ = summary
        self.head_ = head
        self.n_passes_ = 1
        return self

    def export_to(self, model: Any) -> None:
        import pandas as pd

        stand_ins = {name: learner.stand_in() for name, learner in self.learners_.items()
                     if not hasattr(learner, "partial_fit")}
        length = max([len(self.head_), 2, *(len(rows) for rows in stand_ins.values())])
        frame = {column: np.resize(self.head_[column].to_numpy(), length) for column in self.head_.columns}
        for name, transformer, columns in self._parts:
            if name in stand_ins:
                selected = list(_columns(self.head_, columns, self._remainder_columns).columns)
                for j, column in enumerate(selected):
                    frame[column] = np.resize(stand_ins[name][:, j], length)
        model.fit(pd.DataFrame(frame, columns=list(self.head_.columns)))
        for i, (name, _, columns) in enumerate(model.transformers_):
            learner = self.learners_.get(name)
            if learner is not None and hasattr(learner, "partial_fit"):
                model.transformers_[i] = (name, learner, columns)

    def set_column_transformer(self, column_transformer: Any) -> ColumnsTwin:
        self._parts = _parts(column_transformer)
        named = [c for _, _, cols in column_transformer.transformers for c in _as_list(cols)]
        self._remainder_columns = named
        return self


def _as_list(columns: Any) -> list[Any]:
    if columns is None or callable(columns):
        return []
    return [columns] if isinstance(columns, (str, int)) else list(columns)


def _columns(frame: Any, columns: Any, named: list[Any]) -> Any:
    """The DataFrame's columns a part selects; the remainder (None): those no part names."""
    if columns is None:
        return frame[[c for c in frame.columns if c not in named]]
    if callable(columns):
        columns = columns(frame)
    if isinstance(columns, (str, int)):
        columns = [columns]
    columns = list(columns)
    if columns and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in columns):
        return frame.iloc[:, columns]
    return frame[columns]


def _count_rows(part: tuple[Any, Any]) -> int:
    return len(part[0])


def _add(*counts: int) -> int:
    return sum(counts)


def _summarize(part: tuple[Any, Any], twin: _Twin, index: int) -> tuple:
    return twin.summarize(part, index)


def _as_2d(X: Any) -> np.ndarray:
    X = np.asarray(X)
    return X.reshape(len(X), -1) if X.ndim != 2 else X


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
