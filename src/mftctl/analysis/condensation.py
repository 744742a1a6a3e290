"""A run's early condensation read back from its epochs (science/condensation.py measured each snapshot
while it trained): the time course of its row directions against Zhou et al.'s bound 2p."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import MftctlError
from ..science.condensation import MULTIPLICITY, bound
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run


@dataclass
class CondensationReport:
    run: Run
    activation: str
    snapshots: list[dict[str, Any]]  # Condensation.as_dict() per snapshot, in step order

    @property
    def bound(self) -> int | None:
        return bound(self.activation)

    @property
    def most_directions(self) -> int:
        return max(s["directions"] for s in self.snapshots)

    @property
    def within_bound(self) -> bool | None:
        return None if self.bound is None else self.most_directions <= self.bound

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.id,
            "activation": self.activation,
            "multiplicity": MULTIPLICITY.get(self.activation),
            "bound": self.bound,
            "most_directions": self.most_directions,
            "within_bound": self.within_bound,
            "snapshots": self.snapshots,
        }


def condensation_report(store: Store, run: Run) -> CondensationReport:
    """The run's condensation snapshots, or a one-line refusal naming the config key that takes them."""
    snapshots = [s for e in reads.epochs(store, run.id) for s in (e.diagnostics or {}).get("condensation", [])]
    if not snapshots:
        raise MftctlError(
            f"run {run.id} has no condensation snapshots; train with --set diagnostics.condensation_every=10 "
            "(every 10 steps of the first diagnostics.condensation_steps; docs/science.md, Condensation)"
        )
    activation = str(run.config.get("model", {}).get("activation", "tanh3"))
    return CondensationReport(run, activation, sorted(snapshots, key=lambda s: s["step"]))
