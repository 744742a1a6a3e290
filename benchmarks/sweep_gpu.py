"""A whole sweep on this machine's accelerator: wall time, the cells' summed training seconds, and how busy
the device was. The default is the research code's 21-run design sweep (examples/design21.toml) on CUDA
with diagnostics and checkpoints on (issue #17's target: ≤ 30 s on one H100).

Without a GPU it runs on the CPU, shrunk with --scale (the share of each cell's training samples kept):
the full sweep is 80 M samples, ~40 min on a 2-core CPU.

    python benchmarks/sweep_gpu.py [FILE] [--device cuda|cpu] [--jobs N] [--scale 0.02]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import threading
import tomllib
from pathlib import Path

from mftctl_cli import listed_runs, mftctl, timed

HERE = Path(__file__).resolve().parent


def gpu_busy_sampler(stop: threading.Event, samples: list[float]) -> None:
    """nvidia-smi's utilization.gpu (the share of time a kernel ran), twice a second."""
    while not stop.wait(0.5):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
        )
        if out.returncode == 0 and out.stdout.strip():
            samples.append(float(out.stdout.split()[0]))


def toml_value(value: object) -> str:
    return json.dumps(value)  # numbers and strings: TOML and JSON agree


def shrunk_sweep(source: Path, device: str, scale: float, folder: Path) -> Path:
    """The sweep file with the device set and each cell's n_train scaled (a [set] entry)."""
    spec = tomllib.loads(source.read_text())
    sets = dict(spec.get("set", {}), device=device)
    if scale != 1.0:
        from mftctl.config import preset_dict, validate

        base = validate(preset_dict(spec.get("base", "reference_3blob")))
        sets["data.n_train"] = max(1, int(base.data.n_train * scale))
    lines = [line for line in source.read_text().splitlines() if not line.startswith("[set]")]
    text = "\n".join(lines)
    # A [set] table of our own, placed before the first other table so that it is top-level TOML.
    first_table = min((text.index(f"\n[{t}]") for t in ("zip", "grid") if f"\n[{t}]" in text), default=len(text))
    table = "\n[set]\n" + "\n".join(f'"{k}" = {toml_value(v)}' for k, v in sets.items()) + "\n"
    path = folder / source.name
    path.write_text(text[:first_table] + table + text[first_table:])
    tomllib.loads(path.read_text())  # still valid
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", type=Path, default=HERE.parent / "examples" / "design21.toml")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    parser.add_argument("--jobs", type=int, default=None, help="workers (default: the sweep's own default)")
    parser.add_argument("--scale", type=float, default=None, help="share of n_train kept (default 1 on CUDA)")
    args = parser.parse_args()
    has_gpu = shutil.which("nvidia-smi") is not None
    device = args.device or ("cuda" if has_gpu else "cpu")
    scale = args.scale if args.scale is not None else (1.0 if device.startswith("cuda") else 0.02)
    folder = Path(tempfile.mkdtemp(prefix="mftctl-sweep-gpu-"))
    sweep = shrunk_sweep(args.file, device, scale, folder)
    db = folder / "sweep.db"
    cmd = mftctl("sweep", str(sweep), *(["--jobs", str(args.jobs)] if args.jobs else []), db=db)

    stop, busy = threading.Event(), []
    sampler = threading.Thread(target=gpu_busy_sampler, args=(stop, busy), daemon=True)
    if device.startswith("cuda") and has_gpu:
        sampler.start()
    try:
        wall = timed(cmd)
    finally:
        stop.set()
    runs = listed_runs(db)
    trained = sum(r["train_seconds"] or 0 for r in runs)
    sizes = sum(p.stat().st_size for p in folder.rglob("*.pt"))
    print(f"{args.file.name}: {len(runs)} cells on {device} (n_train x {scale:g}), jobs {args.jobs or 'default'}")
    print(f"  wall {wall:.1f} s; summed training seconds of the cells {trained:.1f} s ({trained / wall:.2f} x wall)")
    statuses = {s: sum(r["status"] == s for r in runs) for s in {r["status"] for r in runs}}
    print(f"  statuses {statuses}; checkpoint files {sizes / 1e6:.0f} MB")
    if busy:
        print(f"  GPU busy (nvidia-smi utilization.gpu): mean {sum(busy) / len(busy):.0f}% over {len(busy)} samples")
    elif device.startswith("cuda"):
        print("  GPU busy: no nvidia-smi readings")


if __name__ == "__main__":
    main()
