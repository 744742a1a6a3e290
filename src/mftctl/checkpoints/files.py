"""Checkpoint files: written atomically, verified by size and SHA-256 when read."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..faults import maybe_crash


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any], epoch: int = 0) -> tuple[int, str]:
    """torch.save to a temporary file, fsync, then rename: a reader never sees half a checkpoint."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Serialised in memory first, so that a full disk shows as the OSError (ENOSPC) of a plain write, not
    # as an error from inside torch's zip writer.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        with open(tmp, "wb") as fh:
            fh.write(buffer.getbuffer())
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    maybe_crash("checkpoint-write", epoch)
    os.replace(tmp, path)
    return path.stat().st_size, sha256_of(path)


def weights_only(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's model alone (no optimizer, scheduler or RNG state): enough to measure, plot and
    sample from, not to resume."""
    keep = ("format", "epoch", "config", "frozen_encoder")
    return {**{k: state[k] for k in keep if k in state}, "model": state["model"], "weights_only": True}


def load_checkpoint(path: Path, expected_sha256: str | None = None) -> dict[str, Any]:
    import torch

    if not path.exists():
        raise CheckpointError(f"checkpoint {path} is missing; `mftctl show RUN` lists the checkpoints recorded")
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise CheckpointError(
            f"checkpoint {path} is corrupt (its SHA-256 differs from the one recorded); pick another with --epoch"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean the same to a user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is unreadable ({reason[:120]}); pick another with --epoch") from None
    if not isinstance(state, dict) or not str(state.get("format", "")).startswith("mftctl-checkpoint"):
        raise CheckpointError(f"{path} is not an mftctl checkpoint")
    return state
