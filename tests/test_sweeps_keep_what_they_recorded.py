"""A sweep's cells are defined by what it recorded, never by files read again: a base_config file changed
after the first run neither adds unlike cells to the old sweep nor pools them with the old ones."""

from __future__ import annotations

from helpers import TINY, invoke, set_table
from mftctl.store import open_store, reads


def test_a_changed_base_config_file_never_mixes_into_the_recorded_sweep(isolated_db, tmp_path):
    base = tmp_path / "base.toml"
    base.write_text("[data]\nn_train = 1000\n")
    sweep_file = tmp_path / "grid.toml"
    sweep_file.write_text(
        f'base_config = "base.toml"\n[set]\n{set_table(*TINY, without="n_train")}\n[grid]\nseed = [1, 2]\n'
    )
    assert invoke("sweep", sweep_file).exit_code == 0
    store = open_store(isolated_db)
    assert {r.config["data"]["n_train"] for r in reads.sweep_runs(store, 1)} == {1000}

    base.write_text("[data]\nn_train = 1200\n")
    resumed = invoke("sweep", "--resume", 1)
    assert resumed.exit_code == 0, resumed.output
    runs = reads.sweep_runs(store, 1)
    assert len(runs) == 2 and {r.config["data"]["n_train"] for r in runs} == {1000}

    again = invoke("sweep", sweep_file)
    assert again.exit_code == 1 and "base config" in again.output and "--resume 1" in again.output
    assert reads.count_runs(store) == 2
    renamed = invoke("sweep", sweep_file, "--name", "bigger")
    assert renamed.exit_code == 0
    assert {r.config["data"]["n_train"] for r in reads.sweep_runs(store, 2)} == {1200}
