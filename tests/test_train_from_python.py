"""`mftctl.train`: the `train` command as one library call — the same run, row and hash as the CLI's,
refusals as one-line MftctlErrors with nothing written, and a detached run that finishes on its own."""

import json
import time

import pytest

from helpers import SETS, TINY, count_runs, invoke
from mftctl.errors import MftctlError


def test_train_from_python_is_the_command(isolated_db):
    import mftctl

    as_dict = {key: json.loads(value) for key, value in (line.split("=", 1) for line in TINY)}
    record = mftctl.train("quick", set=as_dict | {"device": "cpu"}, name="from-python", tags=["py"], note="n")
    assert record["id"] == 1 and record["status"] == "completed" and record["epochs_done"] == 2
    assert record["name"] == "from-python" and record["tags"] == ["py"]
    shown = json.loads(invoke("show", 1, "--format", "json").output)
    assert {k: shown[k] for k in record} == record  # what `show --format json` says of the run
    # The same config from the command line and from a list of --set lines: the same hash.
    assert invoke("train", "--preset", "quick", *SETS, "--set", 'device="cpu"').exit_code == 0
    lines = mftctl.train("quick", set=[*TINY, 'device="cpu"'])
    hashes = {r["id"]: r["config_hash"] for r in json.loads(invoke("list", "--format", "json").output)}
    assert hashes[1] == hashes[2] == hashes[3] == lines["config_hash"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"set": {"training.epochs": -1}}, "training.epochs"),
        ({"set": {"training.epochz": 3}}, "did you mean training.epochs"),
        ({"set": {"training.epochs": [3]}}, "give a number, a string or True/False"),
        ({"set": "training.epochs=3"}, "is not a dict of keys to values"),
        ({"preset": 3}, "is not a preset name"),
        ({"preset": "quikc"}, "quick"),
        ({"detach": "yes"}, "is not True or False"),
        ({"tags": ["a b"]}, "tag"),
    ],
)
def test_bad_input_from_python_is_one_line_and_writes_nothing(isolated_db, kwargs, message):
    import mftctl

    kwargs = {"preset": "quick", "set": list(TINY)} | kwargs
    with pytest.raises(MftctlError, match=message) as refused:
        mftctl.train(kwargs.pop("preset"), **kwargs)
    assert "\n" not in str(refused.value)
    assert count_runs(isolated_db) == 0


def test_a_detached_run_from_python_returns_at_once_and_finishes(isolated_db):
    import mftctl

    record = mftctl.train("quick", set=list(TINY), detach=True)
    assert record["status"] in ("queued", "running")
    for _ in range(600):
        shown = json.loads(invoke("show", record["id"], "--format", "json").output)
        if shown["status"] == "completed":
            break
        time.sleep(0.1)
    assert shown["status"] == "completed" and shown["epochs_done"] == 2
