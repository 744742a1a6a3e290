"""How a run's ending is recorded: one mapping from what the training raised to the run's status and error
(runs/worker.ending), held here against each kind of ending the worker meets."""

from __future__ import annotations

import errno

from mftctl.runs.worker import STOPPED, TrialPruned, ending
from mftctl.science.train import TrainingDiverged
from mftctl.status import RunStatus


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # as the worker meets it: with its traceback
        return caught


def test_a_stop_is_killed_with_its_reason_or_the_default_one():
    assert ending(_raised(KeyboardInterrupt("preempted by Slurm"))) == (RunStatus.killed, "preempted by Slurm")
    assert ending(_raised(KeyboardInterrupt())) == (RunStatus.killed, STOPPED)


def test_pruned_and_diverged_keep_their_own_message_without_a_traceback():
    assert ending(_raised(TrialPruned("pruned at epoch 3"))) == (RunStatus.pruned, "pruned at epoch 3")
    status, error = ending(_raised(TrainingDiverged("loss is nan at epoch 2: lower the learning rate")))
    assert (status, error) == (RunStatus.failed, "loss is nan at epoch 2: lower the learning rate")


def test_a_bug_fails_with_its_traceback_and_a_full_disk_says_so_first():
    status, error = ending(_raised(ZeroDivisionError("division by zero")))
    assert status == RunStatus.failed
    assert error.startswith("Traceback") and "ZeroDivisionError: division by zero" in error
    status, error = ending(_raised(OSError(errno.ENOSPC, "No space left on device", "/runs/7/ckpt.pt")))
    assert status == RunStatus.failed
    first, rest = error.split("\n\n", 1)
    assert first.startswith("disk full (/runs/7/ckpt.pt)") and rest.startswith("Traceback")


def test_a_base_exception_outside_the_mapping_is_a_failure_not_a_loss():
    status, error = ending(_raised(SystemExit(3)))
    assert status == RunStatus.failed and "SystemExit" in error
