"""What this machine has — CUDA devices and memory — asked without importing torch (importing it costs
seconds; the parent of a run only needs to refuse a device or a size that cannot work before it writes
a row)."""

from __future__ import annotations

import importlib.metadata
import os
import re

from .config import ExperimentConfig
from .errors import ConfigError
from .threads import usable_cpus

NVIDIA_GPUS = "/proc/driver/nvidia/gpus"


def torch_is_cuda_build() -> bool:
    """False for the CPU wheel (its version ends in +cpu) or no torch at all."""
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return False
    return "+cpu" not in version


def cuda_device_count() -> int:
    """GPUs torch will see: the driver's list, narrowed by CUDA_VISIBLE_DEVICES; 0 with a CPU-only torch."""
    if not torch_is_cuda_build():
        return 0
    try:
        count = len(os.listdir(NVIDIA_GPUS))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        ids = ids[: ids.index("-1")] if "-1" in ids else ids  # CUDA stops at the first invalid id
        count = min(count, len(ids))
    return count


def check_device(name: str) -> None:
    """Refuse cuda / cuda:N where no such device can be used; auto and cpu always pass."""
    if not name.startswith("cuda"):
        return
    count = cuda_device_count()
    if count == 0:
        raise ConfigError(f"device '{name}' asked for, but torch sees no CUDA device here; use --device cpu")
    match = re.fullmatch(r"cuda:(\d+)", name)
    if match and int(match.group(1)) >= count:
        raise ConfigError(
            f"device '{name}' asked for, but this machine has {count} CUDA device(s) (cuda:0 to cuda:{count - 1})"
        )


def default_jobs(n_runs: int, device: str) -> int:
    """Workers for a pool. CPU: one per usable core, each with its share of the threads. CUDA (asked for, or
    auto on a machine with a GPU): four per GPU, so that one cell's start-up, evaluation and
    checkpoint writes overlap another's training, but never more than the cores."""
    cores = usable_cpus()[0]  # the CPUs this process may use (affinity, cgroup quota, Slurm), not the machine's
    gpus = cuda_device_count() if device == "auto" or device.startswith("cuda") else 0
    if device.startswith("cuda:"):
        gpus = min(gpus, 1)
    if gpus:
        return max(1, min(n_runs, 4 * gpus, cores))
    return max(1, min(n_runs, cores))


def estimated_bytes(config: ExperimentConfig) -> int:
    """What training this config holds in memory at its peak, roughly (float32): weights with their
    gradients and Adam's two moments, one batch's input, hidden and output tensors, the test set."""
    d, h, b = config.data.d, config.model.hidden_size, config.training.batch_size
    params = 2 * d * h + d + h
    batch = b * (4 * d + 6 * h)
    test = config.data.n_test * (d + 2 * config.data.sparsity)
    return 4 * (4 * params + batch + test)


def available_bytes() -> int | None:
    """Memory the kernel says a new process can have (MemAvailable); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits(config: ExperimentConfig, what: str = "this config") -> None:
    """Refuse, before any row is written, a model or batch that cannot fit this machine's memory. CUDA
    devices are checked by the worker (torch would need to be imported here)."""
    need, have = estimated_bytes(config), available_bytes()
    if config.device.startswith("cuda") or have is None or need <= have:
        return
    gib = 1 << 30
    raise ConfigError(
        f"{what} needs about {need / gib:.1f} GiB (data.d={config.data.d}, model.hidden_size="
        f"{config.model.hidden_size}, training.batch_size={config.training.batch_size}) but this machine has "
        f"{have / gib:.1f} GiB available; make them smaller"
    )
