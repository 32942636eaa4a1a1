"""Data-parallel training over a Dask cluster: one DistributedDataParallel rank per worker.

Each worker runs one task that joins a ``torch.distributed`` group (gloo on CPU
workers, nccl when every worker has a GPU), rendezvousing at worker 0's host;
the estimator's own ``fit`` then trains as it does under ``torchrun``: the same
seed on every rank, each rank its own share of every epoch's samples, gradients
averaged. Arrays are sent to every worker once; data on disk (image folders,
shards) is read by each rank where it is, only its own samples.

A worker lost mid-training stops the other ranks at once (gloo notices the
closed connection) and the fit raises :class:`TrainingInterruptedError`, never
hangs and never returns partial weights; with ``checkpoint_dir`` the rerun
resumes from the last finished epoch.
"""

from __future__ import annotations

import functools
import json
import os
import time
import traceback
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..backends._worker_say import Telling, caller_filters, told
from ..engines.dask.cluster import workers_of
from ..engines.dask.spread import Spread
from ..exceptions import ClusterConnectionError, TrainingInterruptedError
from .callbacks import Callback
from .distributed import free_port
from .sources import is_source

RENDEZVOUS_TIMEOUT_S = 120.0


def _worker_gpus() -> tuple[int, str | None]:
    """GPUs this worker sees, and its CUDA_VISIBLE_DEVICES (dask-cuda sets it per worker)."""
    try:
        import torch
    except ImportError:
        return 0, None
    return (torch.cuda.device_count() if torch.cuda.is_available() else 0), os.environ.get("CUDA_VISIBLE_DEVICES")


def gpu_layout(estimator: Any, workers: list[str], gpus: dict[str, tuple[int, str | None]]) -> tuple[str, list[int], str | None]:
    """``(backend, local GPU index per rank, device override)``: nccl with one GPU per rank
    when every worker has its own; else gloo (on the CPU when GPUs would be shared).

    A dask-cuda worker sees its own GPU first (index 0); a plain worker seeing all of
    its host's GPUs takes the one at its index among the workers on that host.
    """
    if estimator.device == "cpu" or not all(gpus.get(w, (0, None))[0] > 0 for w in workers):
        return "gloo", [0] * len(workers), None
    seen: dict[str, int] = {}
    chosen, physical = [], []
    for worker in workers:
        host = urlparse(worker).hostname
        count, visible = gpus[worker]
        index = 0 if visible else seen.get(host, 0)
        seen[host] = seen.get(host, 0) + 1
        chosen.append(index)
        physical.append((host, visible.split(",")[0].strip() if visible else str(index), index < count))
    shared = len({p[:2] for p in physical}) < len(physical) or not all(p[2] for p in physical)
    if not shared:
        return "nccl", chosen, None
    if estimator.device == "auto":
        import warnings

        warnings.warn("The Dask workers outnumber the GPUs they would each need (several workers per GPU), "
                      "so data-parallel training runs on their CPUs with gloo. Start one worker per GPU "
                      "(dask cuda worker) to train on the GPUs.", stacklevel=3)
        return "gloo", [0] * len(workers), "cpu"
    from ..exceptions import InvalidParameterError

    raise InvalidParameterError(
        f"device={estimator.device!r}: the Dask workers outnumber their hosts' GPUs, and data-parallel "
        "training needs one GPU per worker. Start one worker per GPU (`dask cuda worker <scheduler>`, the "
        "dask-gpu-nodes profile), or use device='cpu' or 'auto'."
    )


class StopWhenAsked(Callback):
    """Added to each rank's callbacks: ends the rank when the client sets the fit's Dask
    ``Event`` (the client was interrupted or gave up), checked about once a second."""

    checkpointed = False  # the host's, not the user's: left out of checkpoints

    def __init__(self, event: str):
        self.event, self._checked = event, 0.0

    def on_batch_begin(self, training: Any) -> None:
        if time.monotonic() - self._checked < 1.0:
            return
        self._checked = time.monotonic()
        from distributed import Event

        if Event(self.event).is_set():
            raise TrainingInterruptedError("The client stopped this data-parallel fit.")


def _run_rank(estimator: Any, X: Any, y: Any, rank: int, world: int, address: str, backend: str,
              local_rank: int = 0, device: str | None = None, stop_event: str | None = None) -> Any:
    """One rank, in a task on its Dask worker; rank 0 returns the fitted estimator."""
    from datetime import timedelta

    import torch.distributed as dist

    os.environ["LOCAL_RANK"] = str(local_rank)  # the GPU this rank trains on (one rank per worker process)
    if device is not None:
        estimator.set_params(device=device)
    estimator._extra_callbacks = [StopWhenAsked(stop_event)] if stop_event else []

    if dist.is_initialized():
        raise RuntimeError("This Dask worker already takes part in a torch.distributed group (another "
                           "data-parallel fit is running on it); run one data-parallel fit at a time.")
    dist.init_process_group(backend, init_method=address, rank=rank, world_size=world,
                            timeout=timedelta(seconds=RENDEZVOUS_TIMEOUT_S))
    try:
        fitted = estimator.fit(X, y)
        del fitted._extra_callbacks
        return fitted if rank == 0 else None
    except BaseException as exc:
        # The failed frames hold the DDP module, which holds the process group: drop them,
        # so that destroying the group closes its connections now and the other ranks
        # (waiting in a collective) fail at once rather than at the group's timeout.
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        dist.destroy_process_group()


def ranks_for(client: Any) -> list[str]:
    """The workers that will hold a rank each, in a fixed order (rank 0 first)."""
    return sorted(_live_workers(client))


def _live_workers(client: Any) -> set[str]:
    return set(workers_of(client))


_DONE = ("finished", "error", "cancelled", "lost")


def fit_on_cluster(estimator: Any, client: Any, X: Any, y: Any) -> Any:
    """Fit a clone of ``estimator`` with one rank per worker of ``client``'s cluster.

    Returns
    -------
    The fitted clone (rank 0's; every rank ends with the same weights).

    Raises
    ------
    TrainingInterruptedError
        If a worker is lost during training.
    """
    from distributed import TimeoutError as DaskTimeoutError
    from sklearn.base import clone

    try:
        client.wait_for_workers(1, timeout=30)
    except (DaskTimeoutError, TimeoutError):
        raise ClusterConnectionError("The Dask cluster has no workers to train on (waited 30 s). Start "
                                     "workers (`dask worker <scheduler address>`) and fit again.") from None
    workers = ranks_for(client)
    world = len(workers)
    host = urlparse(workers[0]).hostname
    port = client.run(free_port, "", workers=[workers[0]])[workers[0]]
    backend, local_ranks, device = gpu_layout(estimator, workers, client.run(_worker_gpus))
    address = f"tcp://{'[' + host + ']' if ':' in host else host}:{port}"
    model = clone(estimator)
    if model.checkpoint_dir:  # the same folder for every rank whatever its working directory
        model.checkpoint_dir = os.path.abspath(model.checkpoint_dir)
    spread = Spread(client)
    token = uuid.uuid4().hex[:8]
    futures: list[Any] = []
    try:
        if not is_source(X):
            X, y = spread.put(X), spread.put(y)  # each rank reads its copy locally
        filters = caller_filters()
        futures = [
            client.submit(_run_rank_telling, filters, model, X, y, rank, world, address, backend, local_ranks[rank], device,
                          f"scaleml-ddp-stop-{token}", workers=[worker],
                          allow_other_workers=False, pure=False, retries=0,
                          key=f"scaleml-ddp-{type(estimator).__name__}-rank{rank}-of-{world}-{token}")
            for rank, worker in enumerate(workers)
        ]
        return _watch(client, futures, workers, estimator)
    finally:
        pending = [f for f in futures if f.status != "finished"]
        if pending:
            # A running task cannot be cancelled: ask the ranks to end themselves, so that
            # none goes on training (or writing checkpoints) after this fit has returned.
            from distributed import Event

            Event(f"scaleml-ddp-stop-{token}", client=client).set()
            client.cancel(pending)
        spread.release()


def _run_rank_telling(filters: list, *args: Any, **kwargs: Any) -> Any:
    """:func:`_run_rank`, what it says (warnings, printed output, a callback's print)
    recorded under the caller's warning filters and returned with the model, to be said
    where the fit was called (``backends._worker_say``)."""
    return Telling(functools.partial(_run_rank, *args, **kwargs), filters)()


def _lost_workers(client: Any, workers: list[str]) -> list[str]:
    """The ranks' workers the scheduler no longer lists."""
    live = _live_workers(client)
    return [w for w in workers if w not in live]


def _watch(client: Any, futures: list[Any], workers: list[str], estimator: Any) -> Any:
    """Wait for every rank; stop them all as soon as one fails or a worker is lost."""
    from distributed import TimeoutError as DaskTimeoutError
    from distributed import wait

    while True:
        statuses = [f.status for f in futures]
        if all(s == "finished" for s in statuses):
            return told(futures[0].result())  # rank 0's warnings and output, as one process says them
        lost = _lost_workers(client, workers)
        failed = [f for f, s in zip(futures, statuses) if s in ("error", "cancelled", "lost")]
        if failed and not lost:
            # A rank fails at once when a peer dies (gloo sees the closed connection), before
            # the scheduler may have noticed the loss: wait for either the loss or every other
            # rank to end too (bad data fails every rank alike).
            deadline = time.monotonic() + 10
            while not lost and time.monotonic() < deadline and not all(f.status in _DONE for f in futures):
                time.sleep(0.1)
                lost = _lost_workers(client, workers)
        if lost:
            client.cancel(futures)
            raise TrainingInterruptedError(_lost_message(lost, workers, estimator)) from None
        # A rank's own error first; errors that only say a peer went away come last.
        errors = sorted((f for f in futures if f.status == "error"), key=lambda f: _peer_error(f.exception()))
        if errors:
            error, traceback = errors[0].exception(), errors[0].traceback()
            client.cancel(futures)
            raise error.with_traceback(traceback)  # the rank's own exception, its traceback kept
        if failed:
            client.cancel(futures)
            ranks = ", ".join(str(futures.index(f)) for f in failed)
            raise TrainingInterruptedError(
                f"Rank {ranks} of the data-parallel fit was {failed[0].status} by the Dask cluster (a worker "
                "restarted, or the cluster closed); the other ranks were stopped and no weights were kept. "
                "Fit again" + (" to resume from the last checkpoint." if estimator.checkpoint_dir or any(
                    type(c).__name__ == "Checkpoint" for c in (estimator.callbacks or [])) else ".")
            )
        running = [f for f in futures if f.status not in _DONE]
        try:
            if running:
                with client.as_current():  # wait() asks for the current client
                    wait(running, timeout=0.5, return_when="FIRST_COMPLETED")
        except (TimeoutError, DaskTimeoutError):
            pass  # look again: a worker may have gone without any rank ending


def _peer_error(error: BaseException) -> bool:
    text = str(error)
    return "gloo" in text or "by peer" in text or "NCCL" in text


def _lost_message(lost: list[str], workers: list[str], estimator: Any) -> str:
    ranks = ", ".join(f"{w} (rank {workers.index(w)})" for w in lost)
    text = (f"Dask worker {ranks} of the {len(workers)} training {type(estimator).__name__} "
            "was lost during data-parallel training; the other ranks were stopped and no weights were kept.")
    folder = estimator.checkpoint_dir or next(
        (c.dirname for c in (estimator.callbacks or []) if type(c).__name__ == "Checkpoint"), None)
    folder = os.path.abspath(folder) if folder else None
    if not folder:
        return text + (" Set checkpoint_dir (on storage every worker sees) so that a rerun resumes from "
                       "the last finished epoch; as it is, fitting again starts from the first epoch.")
    manifest = Path(folder) / "checkpoint.json"
    try:
        epoch = json.loads(manifest.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return text + (f" No checkpoint was written to {os.fspath(folder)} before the loss; fitting again "
                       "starts from the first epoch.")
    return text + (f" Fit again: it resumes from the checkpoint in {os.fspath(folder)} "
                   f"(epoch {epoch} of {estimator.epochs}) on the workers present then.")
