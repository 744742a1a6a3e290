#!/usr/bin/env bash
# Issue #17's GPU measurements as one command, for a session lent a device machine (see docs/performance.md):
# the training step against its GEMM floor, one reference run's wall, the 21-run design sweep (target
# ≤ 30 s on an H100), TF32 against float32 over 3 seeds, then the test suite on the GPU machine.
#
#   bash scripts/gpu-checks.sh            # everything, logs under $OUT (the device tool's) or /tmp/gpu-checks
#   SMOKE=1 bash scripts/gpu-checks.sh    # the same steps on this CPU, shrunk to seconds (a dry run of the script)
#
# The device machine has torch, typer, rich, scikit-learn and matplotlib but not sqlmodel/SQLAlchemy/pydantic:
# carry them as wheels in .whl (the device tool's README) and this script installs them first.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-checks}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if [ -n "${SMOKE:-}" ]; then
    DEVICE=cpu SCALE="--scale 0.002" STEP="--preset quick" TRAIN="--preset quick" TF32="--preset quick --seeds 2 --scale 0.2"
else
    DEVICE=cuda SCALE="" STEP="--preset reference_3blob" TRAIN="--preset reference_3blob" TF32="--seeds 3"
fi
work=$(mktemp -d)
step() {  # name, command...: run it, keep its output, go on whatever it returns
    local name=$1; shift
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    local start=$SECONDS
    "$@" >"$OUT/$name.txt" 2>&1
    echo "   exit $? after $((SECONDS - start)) s; last lines:" | tee -a "$OUT/summary.txt"
    tail -n 8 "$OUT/$name.txt" | tee -a "$OUT/summary.txt"
}
[ -z "${SMOKE:-}" ] && nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
step train_step $PY benchmarks/train_step.py $STEP --device $DEVICE
step train_one bash -c "time $PY -m mftctl train $TRAIN --device $DEVICE --db $work/one.db"
step design21 $PY benchmarks/sweep_gpu.py --device $DEVICE $SCALE
step tf32 $PY benchmarks/tf32.py --device $DEVICE $TF32
if [ -z "${SMOKE:-}" ]; then  # the suite last: what is left of the lease (tests that need a service skip)
    step pytest timeout 420 $PY -m pytest -q -x -p no:cacheprovider
fi
