"""The limits the docs promise (guarantees.md, round two, case 10), each exercised at and past its edge."""

from __future__ import annotations

from helpers import SETS, TINY, invoke, one_line_refusal, set_table
from mftctl.store import open_store, reads


def test_max_cells_refuses_a_larger_sweep_and_raising_it_admits_it(isolated_db, tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'base = "quick"\n[set]\n{set_table(*TINY)}\n[grid]\nseed = [1, 2, 3]\n')
    one_line_refusal(invoke("sweep", sweep, "--max-cells", 2), "has 3 cells, more than the limit of 2", "--max-cells")
    assert not isolated_db.exists()
    planned = invoke("sweep", sweep, "--max-cells", 3, "--dry-run")
    assert planned.exit_code == 0, planned.output


def test_stage2_components_and_traces_have_their_bounds(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    one_line_refusal(invoke("stage2", 1, "--components", 65), "65")
    one_line_refusal(invoke("stage2", 1, "--traces", 1001), "1001")
    assert reads.count_runs(open_store(isolated_db)) == 1


def test_config_and_sweep_files_above_one_megabyte_are_refused(isolated_db, tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (1 << 20) + "\n[training]\nepochs = 1\n")
    one_line_refusal(invoke("train", "--config", big), "at most 1,048,576 are read")
    big_sweep = tmp_path / "big-sweep.toml"
    big_sweep.write_text(big.read_text())
    one_line_refusal(invoke("sweep", big_sweep), "at most 1,048,576 are read")
    just_under = tmp_path / "ok.toml"
    just_under.write_text("# " + "x" * ((1 << 20) - 100) + "\n[training]\nepochs = 1\n")
    assert just_under.stat().st_size <= 1 << 20
    accepted = invoke("config", "show", "quick", "--config", just_under, "--format", "json")
    assert accepted.exit_code == 0, accepted.output
    assert not isolated_db.exists()
