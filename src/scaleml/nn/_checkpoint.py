"""Per-epoch checkpoints: written atomically, verified before use, safe to load.

A checkpoint is ``checkpoint.pt`` (tensors and plain values, read back with
``torch.load(weights_only=True)``, which runs no code) plus ``checkpoint.json``
holding its SHA-256 and what it was made from. A file that is missing, cut short
or altered fails the hash check and is refused, never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

from ..exceptions import CheckpointError

PAYLOAD, MANIFEST = "checkpoint.pt", "checkpoint.json"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def save_checkpoint(folder: str | os.PathLike[str], state: dict[str, Any], fingerprint: str) -> None:
    """Write ``state`` (tensors, lists, numbers, strings) for ``fingerprint``."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    _atomic_write(folder / PAYLOAD, payload)
    manifest = {"sha256": hashlib.sha256(payload).hexdigest(), "fingerprint": fingerprint, "epoch": state["epoch"]}
    _atomic_write(folder / MANIFEST, json.dumps(manifest).encode())


def load_checkpoint(folder: str | os.PathLike[str], fingerprint: str) -> dict[str, Any] | None:
    """The verified state saved for ``fingerprint``, or None when there is none.

    Raises
    ------
    CheckpointError
        If the checkpoint is damaged or was made by a different fit.
    """
    import torch

    folder = Path(folder)
    manifest_path, payload_path = folder / MANIFEST, folder / PAYLOAD
    if not manifest_path.exists() and not payload_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        payload = payload_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"The checkpoint in {folder} is incomplete or unreadable ({exc}); refusing to load it. "
            "Delete the folder to start the fit afresh."
        ) from None
    if hashlib.sha256(payload).hexdigest() != manifest.get("sha256"):
        raise CheckpointError(
            f"The checkpoint in {folder} does not match its recorded hash (damaged or half-written); "
            "refusing to load it. Delete the folder to start the fit afresh."
        )
    if manifest.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"The checkpoint in {folder} was made by a different fit (other data or parameters). "
            "Use another checkpoint_dir, or delete this one."
        )
    try:
        return torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError and others here
        raise CheckpointError(
            f"The checkpoint in {folder} holds values that load only by running code "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); refusing to load it. "
            "Delete the folder to start the fit afresh; keep callbacks' state to tensors and plain numbers."
        ) from None


def remove_checkpoint(folder: str | os.PathLike[str]) -> None:
    for name in (PAYLOAD, MANIFEST):
        (Path(folder) / name).unlink(missing_ok=True)
