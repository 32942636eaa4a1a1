"""The ``dask-ml`` backend: fits and predictions on data larger than memory.

- In-memory input (NumPy, pandas): fitted as the ``dask`` backend fits it (so the
  results equal the ``local`` backend's); predictions run in this process.
- Lazy input (Dask arrays/DataFrames, Parquet/CSV paths): every step of the
  pipeline, nested pipelines flattened, is fitted on the blocks: with
  ``partial_fit`` block by block (a few blocks in memory however large the data);
  scaleml's blocked estimators pass by pass where the blocks are; a step without
  ``partial_fit`` on the data loaded whole when the peak of that (the input as float64
  times a measured factor, ``_lazy_steps.load_factor``) fits ``max_in_memory_bytes``,
  beyond that by its out-of-core twin (scaleml.linear_model for
  LogisticRegression, LinearRegression and Ridge; scaleml.decomposition for PCA
  and TruncatedSVD; scaleml.cluster for KMeans), else refused
  with the alternatives named. ``predict``, ``transform``, ... return lazy Dask
  arrays computed block by block; ``score`` one number.

dask-ml itself is used only where it works and wins: on dask 2026.8 /
scikit-learn 1.9 its ``Incremental`` ran 3.4x slower than a plain ``partial_fit``
loop and its GLMs 100x slower than scikit-learn (DEVELOPERS.md).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from numbers import Integral
from typing import Any, ContextManager

from ..._validation import Interval, StrOptions
from ...data.blocks import Blocks, local_memory_budget
from ...data.forms import is_lazy
from ...exceptions import InvalidParameterError
from ...planning import Record, data_forms, self_placement
from . import _lazy_steps as steps
from . import _ways as ways
from .._base import Option
from ..dask.backend import BYTE_SIZE, POSITIVE_INT, DaskBackend


class DaskMLBackend(DaskBackend):
    """Out-of-core training and block-wise prediction on Dask collections and files.

    Options (besides the ``dask`` backend's)
    -------
    epochs : int
        Passes over lazy data for the final ``partial_fit`` step (default 1: the
        plain partial_fit loop; more passes usually reach the in-memory fit's
        accuracy, see bench/BENCHMARKS.md).
    shuffle : bool
        With ``epochs > 1``, every pass after the first visits the blocks in a new
        random order (default True); ``random_state`` seeds it.
    window : int
        Blocks read ahead while this process fits (default 1: one block read while
        the one before is fitted; each more costs a block's reading, several times
        the block, in memory).
    max_in_memory_bytes : int or None
        Largest lazy input a step without ``partial_fit`` may load whole; None:
        a quarter of this machine's available memory.
    block_bytes : int or str
        Size of the blocks Parquet/CSV files are read in (default ``"auto"``: a
        64th of the files' size, 1 to 32 MiB, so a pass over files holds a small
        part of them): Parquet files are split by row groups, so keep row groups
        smaller than this.
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
        "epochs": Option(1, "passes over lazy data for the final partial_fit step", [POSITIVE_INT]),
        "shuffle": Option(True, "with epochs > 1, every pass after the first visits the blocks in a new random order",
                          ["boolean"]),
        "random_state": Option(None, "seed of the block order of shuffled passes", ["random_state"]),
        "window": Option(1, "blocks read ahead while this process fits", [POSITIVE_INT]),
        "max_in_memory_bytes": Option(None, "largest lazy input a step without partial_fit may load whole",
                                      [Interval(Integral, 0, None), None]),
        "block_bytes": Option("auto", "size of the blocks files are read in (Parquet row groups, CSV bytes); "
                              "'auto': a 64th of the files, 1 to 32 MiB", [StrOptions({"auto"}), BYTE_SIZE, POSITIVE_INT]),
        "read_on": Option(
            "auto",
            "where lazy blocks are read: 'client' (threads in this process), 'workers' "
            "(the cluster), 'auto' (workers when an address is given)",
            [StrOptions({"auto", "client", "workers"})],
        ),
    }

    # -- where blocks are read -----------------------------------------------------------

    def reads_on_workers(self) -> bool:
        read_on = self.options["read_on"]
        if read_on == "auto":
            return self.cluster_spec().resolved_address is not None
        return read_on == "workers"

    def reading_client(self) -> Any:
        """The client that reads lazy blocks (starting the cluster), or None for threads here."""
        return self.cluster() if self.reads_on_workers() else None

    def request(self, path: str, data_form: str, X: Any) -> Any:
        request = super().request(path, data_form, X)
        if request.lazy and not self.reads_on_workers():
            # Lazy blocks are read and reduced on threads here, not on the cluster.
            return replace(request, cluster=None)
        return request

    def blocks(self, X: Any, y: Any = None, *, start: bool = True, estimator: Any = None) -> Blocks:
        """``X, y`` as blocks, read where this backend reads them (``start=False``: describe only).

        When ``estimator``'s first step selects columns by name (a ColumnTransformer),
        a DataFrame's blocks stay DataFrames.
        """
        return Blocks.from_input(X, y, block_bytes=self.options["block_bytes"],
                                 client=self.reading_client() if start else None,
                                 frames=estimator is not None and steps.selects_columns(estimator))

    # -- fitting ------------------------------------------------------------------------------
    # In-memory input goes the dask backend's way; lazy input step by step, each step
    # by its way of fitting (_lazy_steps: streamed, loaded whole, twinned, ...).

    def check_fit(self, estimator: Any, method: str, X: Any, fit_params: dict) -> None:
        if not is_lazy(X):
            return super().check_fit(estimator, method, X, fit_params)
        if fit_params:
            raise InvalidParameterError(
                f"Fit parameters {sorted(fit_params)} cannot be streamed with lazy data; "
                "pass in-memory data to use them."
            )

    def place(self, estimator: Any, X: Any, y: Any, record: Record) -> Any:
        if not is_lazy(X):
            return super().place(estimator, X, y, record)
        data = self.blocks(X, y, start=not record.dry_run, estimator=estimator)
        settings, planned = self.lazy_settings(), list(data_forms(estimator, X))
        planned_ways = []
        for index, (path, step, form) in enumerate(planned):
            own = self_placement(step, self.request(path, form, X))
            size = ways.input_bytes(data, [way.step for way in planned_ways])
            planned_ways.append(ways.way_of_fitting(settings, path, step, form, index == len(planned) - 1, size, own))
            record.place(planned_ways[-1].placement())
        return ways.LazyFit(data, planned_ways)

    def fitting(self, estimator: Any, method: str, X: Any, record: Record) -> ContextManager[Any]:
        return super().fitting(estimator, method, X, record) if not is_lazy(X) else nullcontext()

    def run(self, estimator: Any, method: str, X: Any, y: Any, record: Record, planned: Any,
            fit_params: dict) -> Any:
        if not is_lazy(X):
            return super().run(estimator, method, X, y, record, planned, fit_params)
        planned.run(record)
        if method == "fit_transform":
            # A lazy transform block by block (the target column, if y named one, left
            # out as in the fit): memory holds a few blocks.
            return steps.lazy_apply(self, estimator, "transform", X, target=y if isinstance(y, str) else None)
        return estimator

    def lazy_settings(self) -> ways.LazySettings:
        """What the ways of fitting read of this backend, fixed for one fit."""
        from dask.utils import format_bytes

        budget = self.memory_budget()
        named = ("max_in_memory_bytes" if self.options["max_in_memory_bytes"] is None
                 else f"max_in_memory_bytes ({format_bytes(budget)})")
        return ways.LazySettings(self.options["epochs"], self.options["shuffle"], self.options["random_state"],
                                  self.options["window"], budget, named, self.reads_on_workers())

    def memory_budget(self) -> int:
        budget = self.options["max_in_memory_bytes"]
        return local_memory_budget() if budget is None else budget

    # -- predicting ---------------------------------------------------------------------------------

    def call(self, estimator: Any, method: str, X: Any, *args: Any, target: str | None = None, **kwargs: Any) -> Any:
        """``method`` on in-memory ``X`` here; on lazy ``X`` block by block (``target``:
        the target column the model was fitted with, left out of the features)."""
        if not is_lazy(X):
            return getattr(estimator, method)(X, *args, **kwargs)
        if method == "score":
            return steps.lazy_score(self, estimator, X, *args, **kwargs)
        if args or kwargs:
            raise InvalidParameterError(f"{method} takes no extra arguments with lazy data; got {args or ''}{kwargs or ''}.")
        return steps.lazy_apply(self, estimator, method, X, target)
