"""A run's page in the lab (`mftctl ui`): its stage-2 children summed up per method against the parent's
loss (checked by hand from the children's rows), its blob trajectories (one line per blob track the
epochs' reports hold), and its large blob scatter with the mixture `mftctl diagnose` stored — drawn
without writing a row."""

from __future__ import annotations

import statistics

from helpers import SETS, invoke
from mftctl.analysis.diagnose import DIAGNOSIS_VERSION
from mftctl.analysis.trajectories import run_tracks
from mftctl.store import open_store, reads
from mftctl.web.run_page import layout as run_page
from mftctl.web.thumbs import thumbnail


def _texts(component) -> list[str]:
    """Every string in a Dash layout, depth first."""
    if isinstance(component, str | int | float):
        return [str(component)]
    children = getattr(component, "children", None)
    if children is None:
        return []
    return [t for child in (children if isinstance(children, list) else [children]) for t in _texts(child)]


def _find(component, component_id: str):
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        found = _find(child, component_id)
        if found is not None:
            return found
    return None


def test_a_runs_page_sums_its_children_draws_its_blob_tracks_and_its_mixture(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.epochs=3").exit_code == 0
    assert invoke("stage2", 1, "--traces", 2, "--sampler", "iid").exit_code == 0
    store = open_store(str(isolated_db))
    try:
        page = run_page(store, 1)
        texts = _texts(page)
        # The children's row: 2 of 2 traces, their mean final loss and its gap to the parent's at the
        # checkpoint they were drawn from (the parent's last epoch here), computed here from the rows.
        children = reads.children(store, 1)
        assert len(children) == 2 and all(c.status == "completed" for c in children)
        parent_loss = reads.epochs(store, 1)[-1].test_loss
        mean = statistics.fmean(c.last_test_loss for c in children)
        row = texts[texts.index("gmm/iid") : texts.index("gmm/iid") + 7]
        assert row[1] == "2/2"
        assert abs(float(row[2].split(" ± ")[0]) - mean) <= 1e-3 * mean
        assert abs(float(row[4]) - (mean - parent_loss)) <= 1e-3 * abs(mean - parent_loss) + 1e-3
        assert {f"run {c.id}" for c in children} <= set(texts)  # each child linked
        # One line per blob track in each of the four trajectory panels.
        figure = _find(page, "run-trajectories").figure
        tracks = run_tracks(reads.epochs(store, 1))
        assert tracks and len([t for t in figure.data if t.meta == "blob"]) == 4 * len(tracks)
        # The large scatter: without a stored analysis it says how to get the mixture; after `diagnose`,
        # it is drawn with it (another file); the page wrote no row either way.
        before = thumbnail(store, 1, large=True)
        assert before.name.endswith("-large.png") and before.stat().st_size > 0
        assert invoke("diagnose", 1).exit_code == 0
        assert reads.get_diagnosis(store, 1, reads.checkpoints(store, 1)[-1].epoch, DIAGNOSIS_VERSION) is not None
        after = thumbnail(store, 1, large=True)
        assert after.name.endswith("-large-gmm.png") and after.stat().st_size > 0 and after != before
        assert reads.count_runs(store) == 3
    finally:
        store.close()
