"""Data-parallel training with torch.distributed (gloo on CPU, nccl on GPUs).

Inside a process group (``torchrun --nproc-per-node 4 train.py``, one node or
several), an estimator's ``fit`` notices it and trains with
``DistributedDataParallel``: every process builds the same network from the same
seed, takes its own shard of each epoch's shuffled samples, and gradients are
averaged. :func:`fit_distributed` starts such a group on this machine.
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
from pathlib import Path
from typing import Any


def process_group() -> tuple[int, int] | None:
    """``(rank, world_size)`` of the active torch.distributed group, or None."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def shared_from_rank0(value: Any, device: Any) -> Any:
    """Rank 0's ``value`` on every rank of the active group (a seed, a checkpoint name)."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, device=device if dist.get_backend() == "nccl" else None)
    return box[0]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free now on ``host`` ("" for every interface: a rendezvous other hosts reach)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, backend: str, port: int, estimator: Any, X: Any, y: Any, folder: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank))
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        fitted = estimator.fit(X, y)
        if rank == 0:
            with open(Path(folder) / "fitted.pkl", "wb") as handle:
                pickle.dump(fitted, handle)
    finally:
        dist.destroy_process_group()


def fit_distributed(estimator: Any, X: Any, y: Any, nprocs: int = 2, backend: str | None = None) -> Any:
    """Fit a clone of ``estimator`` with ``nprocs`` data-parallel processes on this machine.

    Parameters
    ----------
    estimator : CNNClassifier, MLPClassifier or MLPRegressor
    nprocs : int
        Processes (one per GPU on a multi-GPU node).
    backend : {"gloo", "nccl"} or None
        None: nccl when CUDA is available, else gloo.

    Returns
    -------
    The fitted clone (rank 0's; every rank ends with the same weights).
    """
    import torch
    import torch.multiprocessing as mp
    from sklearn.base import clone

    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_worker, args=(nprocs, backend, free_port(), clone(estimator), X, y, folder),
                 nprocs=nprocs, join=True)
        with open(Path(folder) / "fitted.pkl", "rb") as handle:
            return pickle.load(handle)  # written by our own rank-0 process just now
