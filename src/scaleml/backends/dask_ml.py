"""The ``dask-ml`` backend: parallel and out-of-core fits on Dask collections.

- In-memory input (NumPy, pandas): the fit runs as scikit-learn runs it (so the
  results equal the ``local`` backend's); prediction and transformation of large
  inputs run block-wise on the cluster.
- Lazy input (Dask arrays/DataFrames, Parquet/CSV paths): each pipeline step with
  ``partial_fit`` is trained block by block, the blocks read ahead on the workers
  while this process fits, so memory stays bounded by a few blocks however large
  the data. A step without ``partial_fit`` is fitted in memory when the data fits
  the budget; beyond it by its blocked twin when it has one (below), and refused
  with the alternatives otherwise. scaleml.linear_model estimators are always
  fitted on the blocks.

Larger than memory, LogisticRegression, LinearRegression and Ridge are fitted by
``scaleml.linear_model`` (blocked Newton/L-BFGS and one-pass least squares), PCA
by dask-ml's. dask-ml is used only where it works and wins: on dask 2026.8 /
scikit-learn 1.9 its ``Incremental`` ran 3.4x slower than a plain ``partial_fit``
loop and its GLMs 100x slower than scikit-learn (DEVELOPERS.md).
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np

from ._base import Option, Placement, describe_estimator, positive_int, top_level_steps
from ._dask_cluster import ENV_ADDRESS
from .dask import DaskBackend


def _check_read_on(value: Any) -> str | None:
    if value in ("auto", "client", "workers"):
        return None
    return "expected 'auto', 'client' or 'workers'"


class DaskMLBackend(DaskBackend):
    """Out-of-core ``partial_fit`` training and block-wise prediction on Dask.

    Options (besides the ``dask`` backend's)
    -------
    epochs : int
        Passes over lazy data for the final ``partial_fit`` step (default 1).
    window : int
        Blocks read ahead while this process fits (default 2).
    max_in_memory_bytes : int or None
        Largest lazy input a step without ``partial_fit`` may load whole; None:
        a quarter of this machine's available memory.
    block_bytes : int or str
        Size of the blocks Parquet/CSV files are read in (default ``"32MiB"``):
        Parquet files are split by row groups, so keep row groups smaller than this.
    read_on : {"auto", "client", "workers"}
        Where lazy blocks are read. ``partial_fit`` is sequential, so every block
        must reach the one process that fits: on one machine reading them there
        with threads is cheapest (no cluster, no copy between processes); with a
        remote cluster (``address``) the workers read next to the data and send
        the blocks. ``auto`` picks the first without an address, else the second.
    """

    name = "dask-ml"
    summary = "parallel and out-of-core estimators on Dask collections"
    out_of_core = True
    options = {
        **DaskBackend.options,
        "epochs": Option(1, "passes over lazy data for the final partial_fit step", positive_int("passes over the data for partial_fit steps")),
        "window": Option(2, "blocks read ahead while this process fits", positive_int("blocks read ahead")),
        "max_in_memory_bytes": Option(None, "largest lazy input a step without partial_fit may load whole"),
        "block_bytes": Option("32MiB", "size of the blocks files are read in (Parquet row groups, CSV bytes)"),
        "read_on": Option(
            "auto",
            "where lazy blocks are read: 'client' (threads in this process), 'workers' "
            "(the cluster), 'auto' (workers when an address is given)",
            _check_read_on,
        ),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Which path each lazily fitted step took, for the plan (weak: steps of
        # models that are gone must not linger, nor be confused with new ones).
        self._fitted_natively: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._loaded_whole: weakref.WeakSet = weakref.WeakSet()

    # -- fitting --------------------------------------------------------------------

    def fit(self, estimator: Any, X: Any, y: Any = None, **fit_params: Any) -> Any:
        from ._dask_data import is_lazy

        if not is_lazy(X):
            return super().fit(estimator, X, y, **fit_params)
        if fit_params:
            raise TypeError(
                f"Fit parameters {sorted(fit_params)} cannot be streamed with lazy data; "
                "pass in-memory data to use them."
            )
        from ._dask_data import to_lazy

        data = to_lazy(X, y, self.options["block_bytes"])
        steps = top_level_steps(estimator)
        for index, (name, step) in enumerate(steps):
            final = index == len(steps) - 1
            before = [s for _, s in steps[:index]]
            if hasattr(step, "partial_fit"):
                self._stream_fit(step, before, data, final)
            elif hasattr(step, "fit_blocks"):  # scaleml.linear_model: made for blocks
                self._fit_blocks(step, before, data)
            else:
                self._fit_in_memory(name, step, before, data)
        return estimator

    def _reading_client(self) -> Any:
        """The client that reads lazy blocks, or None to read them in this process."""
        read_on = self.options["read_on"]
        if read_on == "auto":
            read_on = "workers" if self.options["address"] or os.environ.get(ENV_ADDRESS) else "client"
        return self.client() if read_on == "workers" else None

    def _compute(self, collection: Any) -> Any:
        from ._dask_data import compute

        return compute(collection, self._reading_client())

    def _blocks(self, data: Any, before: list[Any]):
        from ._dask_data import stream

        for X_block, y_block in stream(data.parts, self.options["window"], self._reading_client()):
            for step in before:
                X_block = step.transform(X_block)
            yield X_block, y_block

    def _stream_fit(self, step: Any, before: list[Any], data: Any, final: bool) -> None:
        from sklearn.base import is_classifier

        kwargs = {}
        if final and is_classifier(step):
            kwargs["classes"] = self._classes(data)
        rows = 0
        for _ in range(self.options["epochs"] if final else 1):
            for X_block, y_block in self._blocks(data, before):
                if len(X_block) == 0:
                    continue  # an empty partition (a filtered file, say)
                step.partial_fit(X_block, y_block, **kwargs)
                rows += len(X_block)
        if rows == 0:
            raise _no_rows(data)

    def _classes(self, data: Any) -> Any:
        if data.y_unique is None:
            raise ValueError("A classifier needs y: pass the target column name or a Dask array.")
        return np.sort(np.asarray(self._compute(data.y_unique)))

    def _fit_in_memory(self, name: str, step: Any, before: list[Any], data: Any) -> None:
        budget = self.options["max_in_memory_bytes"]
        if budget is None:
            import psutil

            budget = psutil.virtual_memory().available // 4
        X_parts, y_parts, size = [], [], 0
        for X_block, y_block in self._blocks(data, before):
            size += X_block.nbytes
            if size > budget:
                if _native(step) is not None:
                    return self._fit_native(step, before, data)
                raise MemoryError(
                    f"Step {name!r} ({type(step).__name__}) has no partial_fit, and the data "
                    f"exceeds the in-memory budget of {budget / 2**20:.0f} MiB (max_in_memory_bytes). "
                    "Use an estimator that learns incrementally (SGDClassifier/SGDRegressor, "
                    "IncrementalPCA, MiniBatchKMeans, MultinomialNB, ...), fit on a sample, "
                    "or raise max_in_memory_bytes."
                )
            X_parts.append(X_block)
            y_parts.append(y_block)
        if not X_parts or sum(len(p) for p in X_parts) == 0:
            raise _no_rows(data)
        y_all = None if y_parts[0] is None else np.concatenate(y_parts)
        step.fit(np.concatenate(X_parts), y_all)
        self._loaded_whole.add(step)

    def _fit_native(self, step: Any, before: list[Any], data: Any) -> None:
        """Fit ``step`` out of core with its blocked twin, then store the result in ``step``.

        The fitted attributes are copied into the scikit-learn estimator, so the
        pipeline stays plain scikit-learn and predicts without dask or dask-ml.
        """
        import dask

        native = _native(step)
        if hasattr(native, "fit_blocks"):
            self._fit_blocks(native, before, data)
        else:
            import dask.array as da

            parts = [dask.delayed(_transformed_part)(before, part) for part in data.parts]
            n_features = self._compute(parts[0])[0].shape[1]
            X = da.concatenate([
                da.from_delayed(dask.delayed(_first)(p), shape=(np.nan, n_features), dtype=float) for p in parts
            ])
            client = self._reading_client()
            with dask.config.set(scheduler=client if client is not None else "threads"):
                X = X.compute_chunk_sizes()  # dask-ml's PCA needs the block lengths
                native.fit(X)
        self._fitted_natively[step] = _native_engine(native)
        for attr, value in vars(native).items():
            if attr.endswith("_") and not attr.startswith("_"):
                # mean_ comes back as a Dask array: make it concrete.
                setattr(step, attr, value.compute() if hasattr(value, "compute") else value)

    def _fit_blocks(self, model: Any, before: list[Any], data: Any) -> None:
        """Fit a scaleml.linear_model estimator on the (transformed) lazy blocks, where they are read."""
        import dask

        from ..linear_model._passes import BlockedData

        parts = [dask.delayed(_transformed_part)(before, part) for part in data.parts]
        n_features = data.n_features
        if before or n_features is None:
            n_features = self._compute(parts[0])[0].shape[1]
        model.fit_blocks(BlockedData(
            parts, lazy=True, client=self._reading_client(), description=data.description,
            y_unique=data.y_unique, n_features=n_features,
        ))

    # -- prediction -----------------------------------------------------------------

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        from ._dask_data import is_lazy

        if not is_lazy(X):
            return getattr(estimator, method)(X, *args, **kwargs)
        if method == "score":
            return self._score(estimator, X, *args, **kwargs)
        if args or kwargs:
            raise TypeError(f"{method} takes no extra arguments with lazy data.")
        import dask

        from ._dask_data import to_lazy

        parts = to_lazy(X, None, self.options["block_bytes"]).parts
        blocks = [dask.delayed(_apply)(estimator, method, part) for part in parts]
        # One output row per input row, gathered in order into this process.
        return np.concatenate(self._compute(blocks))

    def _score(self, estimator: Any, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        from sklearn.base import is_classifier, is_regressor
        from sklearn.metrics import accuracy_score, r2_score

        from ._dask_data import to_lazy

        if not (is_classifier(estimator) or is_regressor(estimator)):
            raise TypeError(f"score on lazy data supports classifiers and regressors, not {type(estimator).__name__}.")
        if sample_weight is not None:
            raise TypeError("sample_weight is not supported with lazy data.")
        import dask

        data = to_lazy(X, y, self.options["block_bytes"])
        pairs = self._compute([dask.delayed(_predict_with_truth)(estimator, part) for part in data.parts])
        truth = np.concatenate([t for t, _ in pairs])
        pred = np.concatenate([p for _, p in pairs])
        return float(accuracy_score(truth, pred) if is_classifier(estimator) else r2_score(truth, pred))

    def place(self, step: str, estimator: Any, data_form: str, data: Any = None) -> Placement:
        from ._dask_data import is_lazy

        name = describe_estimator(estimator)
        if data is None or not is_lazy(data):
            placement = super().place(step, estimator, data_form, data)
            return Placement(
                step, name, "cpu", placement.engine, placement.parallelism, data_form,
                placement.reason.replace("dask backend", "dask-ml backend (in-memory input, fitted as scikit-learn does)"),
            )
        if getattr(estimator, "_scaleml_blocked", False):
            where = "threads in this process" if self._reading_client() is None else "Dask (blocks on the workers)"
            return Placement(
                step, name, "cpu", "scaleml.linear_model", where, data_form,
                f"dask-ml backend: scaleml's blocked solver, one pass over the blocks per step on {where}",
            )
        if hasattr(estimator, "partial_fit"):
            window = self.options["window"]
            if self._reading_client() is None:
                parallelism = f"this process, {window} reader threads"
                where = f"{window} threads in this process read blocks ahead"
            else:
                parallelism = "blocks read on the Dask workers"
                where = f"the Dask workers read {window} blocks ahead and send them here"
            return Placement(
                step, name, "cpu", "scikit-learn partial_fit", parallelism, data_form,
                f"dask-ml backend: streamed block by block with partial_fit; {where}, "
                "so memory holds a few blocks however large the data",
            )
        if estimator in self._fitted_natively:
            engine = self._fitted_natively[estimator]
            how = (
                "scaleml's blocked solver (one pass over the blocks per step, sums reduced where the blocks are)"
                if engine == "scaleml.linear_model" else "dask-ml's blocked implementation"
            )
            return Placement(
                step, name, "cpu", engine, "blocked, out of core", data_form,
                f"dask-ml backend: no partial_fit and larger than max_in_memory_bytes, so fitted "
                f"by {how}; the result stored in the scikit-learn estimator",
            )
        if estimator in self._loaded_whole:
            return Placement(
                step, name, "cpu", "scikit-learn", "1 process", data_form,
                "dask-ml backend: no partial_fit; the data fitted within max_in_memory_bytes, "
                "so it was loaded whole and fitted as scikit-learn does",
            )
        if _native(estimator) is not None:
            engine = _native_engine(_native(estimator))
            return Placement(
                step, name, "cpu", f"scikit-learn, or {engine} when larger than memory", "1 process", data_form,
                "dask-ml backend: no partial_fit; fitted on the data loaded whole when it fits "
                f"max_in_memory_bytes, else by {engine}'s blocked implementation out of core",
            )
        return Placement(
            step, name, "cpu", "scikit-learn", "1 process", data_form,
            "dask-ml backend: no partial_fit, so it is fitted on the data loaded whole "
            "(refused if larger than max_in_memory_bytes)",
        )


def _no_rows(data: Any) -> ValueError:
    return ValueError(
        f"Found array with 0 sample(s) in the lazy input ({data.description}) while a "
        "minimum of 1 is required."
    )


def _native(step: Any) -> Any:
    """The out-of-core twin of ``step``, unfitted, or None.

    scaleml's blocked linear models for scikit-learn's LogisticRegression,
    LinearRegression and Ridge (same objective; dask-ml's GLMs were 100x slower);
    dask-ml's PCA (exact, blocked QR/SVD), where dask-ml works on current Dask and
    gives scikit-learn's result. dask-ml's KMeans returns a class that is not
    scikit-learn's, so KMeans is refused with MiniBatchKMeans suggested instead.
    """
    from sklearn.decomposition import PCA

    from ..linear_model import from_sklearn

    twin = from_sklearn(step)
    if twin is not None:
        return twin
    if type(step) is PCA:
        from dask_ml.decomposition import PCA as DaskPCA

        params = step.get_params()
        solver = params["svd_solver"] if params["svd_solver"] in ("auto", "full", "tsqr", "randomized") else "auto"
        return DaskPCA(
            n_components=params["n_components"], whiten=params["whiten"], svd_solver=solver,
            tol=params["tol"], iterated_power=params["iterated_power"] if isinstance(params["iterated_power"], int) else 0,
            random_state=params["random_state"],
        )
    return None


def _native_engine(native: Any) -> str:
    return "scaleml.linear_model" if type(native).__module__.startswith("scaleml") else "dask-ml"


def _transformed_part(before: list[Any], part: tuple[Any, Any]) -> tuple[Any, Any]:
    X_block = part[0]
    for step in before:
        X_block = step.transform(X_block)
    return np.asarray(X_block, dtype=float), part[1]


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _apply(model: Any, method: str, part: tuple[Any, Any]) -> Any:
    return getattr(model, method)(part[0])


def _predict_with_truth(model: Any, part: tuple[Any, Any]) -> tuple[Any, Any]:
    return part[1], model.predict(part[0])
