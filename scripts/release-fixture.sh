#!/usr/bin/env bash
# A small database written by one release of mftctl, for tests/test_releases.py: a completed run, a
# stage-2 child, a run stopped after two epochs (to resume), and a two-cell sweep — with their run
# folders, and `list --format json` as that release printed it.
#
#   bash scripts/release-fixture.sh OUT_DIR [COMMIT]
#
# With COMMIT, that commit's src/ is checked out into a temporary worktree and run with this
# environment's packages (PYTHONPATH); without, the installed mftctl writes it.
set -euo pipefail
out="$(realpath -m "$1")"
commit="${2:-}"
here="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$out"
mkdir -p "$out"
if [[ -n "$commit" ]]; then
    tree="$(mktemp -d)"
    git -C "$here" worktree add --detach "$tree" "$commit" >/dev/null
    trap 'git -C "$here" worktree remove --force "$tree"' EXIT
    export PYTHONPATH="$tree/src"
    git -C "$here" log -1 --format='%H %cs' "$commit" >"$out/release.txt"
else
    git -C "$here" log -1 --format='%H %cs' HEAD >"$out/release.txt"
fi
cd "$out"
export MFTCTL_DB="$out/mftctl.db" COLUMNS=200
unset MFTCTL_RUNS_DIR
tiny=(--set data.d=32 --set data.n_train=2000 --set data.n_test=500 --set model.hidden_size=16
    --set training.batch_size=500 --set training.diagnostic_sample_size=512)
m() { python -m mftctl "$@"; }
m train --preset quick "${tiny[@]}" --set training.epochs=2 --name done >/dev/null
m stage2 1 --set training.epochs=1 >/dev/null
# Run 3: stopped once two epochs are in, as a user's Ctrl-C or `stop` leaves it.
m train --preset quick "${tiny[@]}" --set training.epochs=30 --name stopped --detach >/dev/null
column() { python -c "import sqlite3; print(sqlite3.connect('mftctl.db').execute('select $1 from run where id = 3').fetchone()[0])"; }
# Polled in one process (a `show` per poll costs a second: a quick run outran it), then the signal a
# user's Ctrl-C sends, straight to the worker: every release records that as `killed`, resumable.
python - <<'PY'
import sqlite3, time
for _ in range(3000):
    try:
        row = sqlite3.connect("mftctl.db").execute("select epochs_done, pid from run where id = 3").fetchone()
    except sqlite3.Error:
        row = None
    if row and row[0] is not None and row[0] >= 2 and row[1]:
        import os, signal
        os.kill(int(row[1]), signal.SIGINT)
        break
    time.sleep(0.02)
PY
for _ in $(seq 300); do [[ "$(column status)" != running ]] && break; sleep 0.1; done
if [[ "$(column status)" == completed ]]; then  # the run outran the poll (a busy machine): try again
    echo "run 3 completed before it could be stopped; run the script again" >&2
    exit 1
fi
cat >grid.toml <<'EOF'
name = "grid"
base = "quick"
[set]
"data.d" = 32
"data.n_train" = 2000
"data.n_test" = 500
"model.hidden_size" = 16
"training.batch_size" = 500
"training.epochs" = 1
[grid]
seed = [1, 2]
EOF
m sweep grid.toml --jobs 1 >/dev/null
m list --format json >list.json
rm -f grid.toml mftctl.db-shm mftctl.db-wal
du -sh "$out"
