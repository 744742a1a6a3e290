"""Blob trajectories: each blob followed through the epochs by position, from the epoch rows alone."""

from mftctl.analysis.trajectories import blob_tracks


def _report(*blobs, scale=(1.0, 1.0)):
    return {"scale": scale, "blobs": [{"centre": c, "mass": m, "width": (0.1, 0.1)} for c, m in blobs]}


def test_blobs_are_followed_by_position_whatever_their_order():
    reports = [
        (1, _report(((0, 0), 0.9), ((1.0, 0.1), 0.05), ((-1.0, -0.1), 0.05))),
        # the same blobs a little further out, listed in another order (the report orders by mass)
        (2, _report(((0, 0), 0.8), ((-1.2, -0.12), 0.11), ((1.2, 0.12), 0.09))),
        # a fourth blob appears at the top
        (3, _report(((0, 0), 0.7), ((1.3, 0.13), 0.1), ((-1.3, -0.13), 0.1), ((0.0, 2.0), 0.1))),
        (4, {"blobs": []}),  # an epoch without a report is passed over
    ]
    tracks = blob_tracks(reports)
    assert len(tracks) == 4
    plus = next(t for t in tracks if t.centres[0] == (1.0, 0.1))
    assert plus.epochs == [1, 2, 3] and plus.centres == [(1.0, 0.1), (1.2, 0.12), (1.3, 0.13)]
    assert plus.masses == [0.05, 0.09, 0.1]
    minus = next(t for t in tracks if t.centres[0] == (-1.0, -0.1))
    assert [c[0] for c in minus.centres] == [-1.0, -1.2, -1.3]
    new = next(t for t in tracks if t.centres[0] == (0.0, 2.0))
    assert new.epochs == [3] and new.widths == [(0.1, 0.1)]


def test_distances_are_measured_in_each_axis_robust_scale():
    """A small decoder-axis step counts as much as a large encoder-axis one when the decoder's spread is small."""
    reports = [
        (1, _report(((0, 0), 0.5), ((1.0, 0.01), 0.25), ((1.0, -0.01), 0.25), scale=(1.0, 0.001))),
        (2, _report(((0, 0), 0.5), ((0.9, -0.01), 0.25), ((1.1, 0.01), 0.25), scale=(1.0, 0.001))),
    ]
    tracks = blob_tracks(reports)
    up = next(t for t in tracks if t.centres[0] == (1.0, 0.01))
    assert up.centres[1] == (1.1, 0.01)  # the decoder sign decides, not the nearer encoder value
