"""Each blob followed through a run's epochs, from the blob reports its epoch rows hold (nothing is
measured again): the blobs of one epoch matched to those of the epoch before by position."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# What a track is drawn as, panel by panel (`plot`'s trajectories.png and the lab's run page): Track.panels.
PANELS = ("centre: encoder weight w₁", "centre: decoder weight w₂", "mass (share of pairs)", "width: σ of w₁")


@dataclass
class Track:
    """One blob through the epochs it was seen in."""

    epochs: list[int] = field(default_factory=list)
    centres: list[tuple[float, float]] = field(default_factory=list)
    masses: list[float] = field(default_factory=list)
    widths: list[tuple[float, float] | None] = field(default_factory=list)

    def add(self, epoch: int, blob: dict[str, Any]) -> None:
        self.epochs.append(epoch)
        self.centres.append(tuple(blob["centre"]))
        self.masses.append(blob["mass"])
        width = blob.get("width")  # reports from before widths were recorded have none
        self.widths.append(tuple(width) if width is not None else None)

    def panels(self) -> tuple[list[float], list[float], list[float], list[float | None]]:
        """The values of each of PANELS per epoch: centre w₁, centre w₂, mass, width in w₁ (None unknown)."""
        widths = [w[0] if w is not None else None for w in self.widths]
        return [c[0] for c in self.centres], [c[1] for c in self.centres], self.masses, widths


def blob_tracks(reports: list[tuple[int, dict[str, Any]]]) -> list[Track]:
    """Tracks from (epoch, blob report) in epoch order. Each epoch's blobs are matched to the tracks seen
    the epoch before by an optimal assignment on their centres (in units of the report's robust scale per
    axis, so both weights count alike); a blob left over starts a track, a track left over ends."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    active: list[int] = []  # indices of the tracks seen in the previous measured epoch
    for epoch, report in reports:
        blobs = report.get("blobs") or []
        if not blobs:
            continue
        scale = np.asarray(report.get("scale") or (1.0, 1.0), dtype=float)
        scale[scale <= 0] = 1.0
        mine = np.asarray([b["centre"] for b in blobs], dtype=float) / scale
        matched: dict[int, int] = {}
        if active:
            theirs = np.asarray([tracks[t].centres[-1] for t in active], dtype=float) / scale
            cost = np.linalg.norm(mine[:, None, :] - theirs[None, :, :], axis=2)
            rows, cols = linear_sum_assignment(cost)
            matched = {int(r): active[int(c)] for r, c in zip(rows, cols, strict=True)}
        now = []
        for i, blob in enumerate(blobs):
            if i not in matched:
                tracks.append(Track())
                matched[i] = len(tracks) - 1
            tracks[matched[i]].add(epoch, blob)
            now.append(matched[i])
        active = now
    return tracks


def run_tracks(epochs: list) -> list[Track]:
    """The tracks of a run's epoch rows (those with a blob report)."""
    reports = [(e.epoch, json.loads(e.diagnostics_json)) for e in epochs if e.diagnostics_json]
    return blob_tracks(reports)
