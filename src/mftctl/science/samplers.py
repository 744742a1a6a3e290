"""Stage-2 encoder samplers: new encoders drawn from a parent's weight-pair statistics, keeping more or
less of how the parent arranges them per hidden unit (row i of W1 with column i of W2).

    iid       every entry drawn from the pair mixture on its own: keeps the cloud (the blobs and their
              masses), destroys everything per row.
    row       per row, the number of outer-blob entries of a random parent row; which outer blob each
              one is, drawn from the outer blobs' weights; positions uniform; the rest from the centre
              blob. Keeps how many outliers a hidden unit has, destroys their ± composition.
    row-sign  per row, the exact blob composition of a random parent row (e.g. one + and one − outlier),
              positions uniform, the whole row's sign flipped with probability 1/2 — the tanh³ symmetry
              (W1[i, :], W2[:, i]) -> −(W1[i, :], W2[:, i]) leaves the network's function unchanged.
    shuffle   the parent's own encoder with each row's entries permuted independently: keeps every row's
              values exactly, destroys which inputs share a hidden unit. (Permuting whole rows or whole
              columns is a symmetry of the task and would change nothing.)
    rewire    the parent's encoder with its outliers moved by degree-preserving Curveball trades: keeps
              every row's values and every row's and column's outlier count, destroys which units
              share inputs and how their signs cancel.
    code      a fresh code: the parent's row and column outlier counts, supports and signs annealed to
              lower the crosstalk, each outlier at the outer blob's centre ±(ā, b̄), the rest resampled
              from the parent's centre blob. Keeps the code's statistics, none of its entries.

Pure numpy: each function takes the mixture or the parent's statistics and a generator, returns arrays.
"""

from __future__ import annotations

import numpy as np

from .mixture import Mixture


def assign(mixture: Mixture, points: np.ndarray) -> np.ndarray:
    """Each point's most probable component (the posterior's argmax)."""
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    log_p = np.empty((len(points), mixture.k))
    for c in range(mixture.k):
        cov = mixture.covariances[c] + 1e-18 * np.eye(points.shape[1])
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (points - mixture.means[c]).T)
        log_det = 2 * np.log(np.diag(chol)).sum()
        log_p[:, c] = np.log(mixture.weights[c]) - 0.5 * (z**2).sum(axis=0) - 0.5 * log_det
    return log_p.argmax(axis=1)


def row_compositions(mixture: Mixture, points: np.ndarray, h: int) -> np.ndarray:
    """(h, K) counts: how many of each parent row's entries fall in each component (component 0, the
    heaviest, is the centre blob). `points` are the h·d pairs in row order (row i·d + j)."""
    labels = assign(mixture, points).reshape(h, -1)
    return np.stack([(labels == c).sum(axis=1) for c in range(mixture.k)], axis=1)


def _from_components(mixture: Mixture, components: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from the given component for every entry (any shape); returns shape + (D,)."""
    flat = components.reshape(-1)
    chol = np.linalg.cholesky(mixture.covariances + 1e-18 * np.eye(mixture.means.shape[1]))
    z = rng.standard_normal((len(flat), mixture.means.shape[1]))
    draws = mixture.means[flat] + np.einsum("nij,nj->ni", chol[flat], z)
    return draws.reshape(*components.shape, -1)


def _place(counts: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    """A row of d component labels: counts[c] entries of each outer component c >= 1 at uniformly random
    distinct positions, the centre (0) elsewhere."""
    row = np.zeros(d, dtype=np.int64)
    outer = np.repeat(np.arange(len(counts)), counts)[counts[0] :]  # the labels of the outer entries
    outer = outer[:d]
    row[rng.choice(d, size=len(outer), replace=False)] = outer
    return row


def sample_pairs(
    sampler: str,
    mixture: Mixture,
    compositions: np.ndarray | None,
    h: int,
    d: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(h, d, D) draws for the samplers that use the mixture (iid, row, row-sign), with the parent row each
    child row's composition came from (None for iid) and each row's sign flip (None but for row-sign)."""
    if sampler == "iid":
        return mixture.sample(h * d, rng).reshape(h, d, -1), None, None
    if compositions is None:
        raise ValueError(f"sampler {sampler!r} needs the parent's row compositions")
    parent_rows = rng.integers(len(compositions), size=h)
    labels = np.empty((h, d), dtype=np.int64)
    outer_weights = mixture.weights[1:] / mixture.weights[1:].sum() if mixture.k > 1 else None
    for i, r in enumerate(parent_rows):
        counts = compositions[r].copy()
        if sampler == "row" and outer_weights is not None:
            n_outer = int(counts[1:].sum())
            counts[1:] = rng.multinomial(n_outer, outer_weights)
        counts[0] = d - counts[1:].sum()
        labels[i] = _place(counts, d, rng)
    draws = _from_components(mixture, labels, rng)
    signs = None
    if sampler == "row-sign":
        signs = rng.choice((-1.0, 1.0), size=h)
        draws *= signs[:, None, None]
    return draws, parent_rows, signs


def shuffle_rows(encoder: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The encoder with each row's entries permuted independently."""
    return rng.permuted(encoder, axis=1)


# --- The outlier code (docs/science.md, "The encoder is a code") ---------------------------------------


def outlier_threshold(blobs: list[dict]) -> float | None:
    """Half the outer blobs' |W1| centre (mass-weighted), from the blob measurement's blobs (science/blobs):
    an encoder entry beyond it is an outlier. None where there is no outer blob (one blob: nothing formed).
    The measurement, not a fitted mixture, decides: a 3-component mixture can spend two components on a
    heavy-tailed centre and miss 1%-mass outer blobs altogether (it did at d = 1024: docs/findings.md)."""
    outer = sorted(blobs, key=lambda b: b["mass"])[:-1]  # all but the heaviest: the centre
    mass = sum(b["mass"] for b in outer)
    if not outer or mass <= 0:
        return None
    return float(sum(abs(b["centre"][0]) * b["mass"] for b in outer) / mass) / 2


def signs_beyond(encoder: np.ndarray, threshold: float) -> np.ndarray:
    """(h, d) int8 signed outlier indicator s: sign(W1[i, j]) where |W1[i, j]| > threshold, 0 elsewhere."""
    encoder = np.asarray(encoder)
    return (np.sign(encoder) * (np.abs(encoder) > threshold)).astype(np.int8)


def outlier_signs(mixture: Mixture, points: np.ndarray, encoder: np.ndarray) -> np.ndarray:
    """(h, d) int8 signed outlier indicator s: sign(W1[i, j]) where pair (i, j) lies in an outer blob (its
    most probable component is not component 0, the heaviest: the centre), 0 elsewhere. `points` are the
    pairs (or encoder entries) the mixture was fitted on, in row order. The rule of `rewire` and `code`
    children planned before `outlier_threshold` (kept so that they rebuild as they were drawn)."""
    encoder = np.asarray(encoder)
    outer = (assign(mixture, points) != 0).reshape(encoder.shape)
    return (np.sign(encoder) * outer).astype(np.int8)


def crosstalk(signs: np.ndarray) -> float:
    """Σ_{j<k} (Σ_i s_ji s_ki)²: how much hidden units that share inputs fail to cancel."""
    s = np.asarray(signs, dtype=np.float64)
    overlap = s @ s.T
    return float(((overlap**2).sum() - (np.diag(overlap) ** 2).sum()) / 2)


def curveball_trades(h: int) -> int:
    """Trades for a well-mixed matrix: each row takes part in ~2·ln(h)·5 trades (Strona et al. 2014 mix
    within a few multiples of the row count; Carstens 2016 gives O(h log h))."""
    return int(5 * h * max(1.0, np.log(h)))


def curveball(mask: np.ndarray, rng: np.random.Generator, trades: int | None = None) -> np.ndarray:
    """A binary matrix with every row's and column's sum of `mask`, by Curveball trades (Strona et al.
    2014): two random rows pool the columns only one of them holds and deal them back at random, each
    row keeping its count."""
    m = np.asarray(mask, dtype=bool).copy()
    h = len(m)
    if h < 2:
        return m
    for _ in range(curveball_trades(h) if trades is None else trades):
        a, b = rng.choice(h, size=2, replace=False)
        only_a, only_b = m[a] & ~m[b], m[b] & ~m[a]
        n_a = int(only_a.sum())
        if n_a == 0 or not only_b.any():
            continue
        pool = np.flatnonzero(only_a | only_b)
        rng.shuffle(pool)
        m[a, pool] = False
        m[b, pool] = False
        m[a, pool[:n_a]] = True
        m[b, pool[n_a:]] = True
    return m


def rewire(encoder: np.ndarray, signs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The parent's encoder with its outliers moved by Curveball trades: every row's and every column's
    outlier count kept exactly. Values (and so signs) travel with their entries within their row: each
    moved outlier swaps places with the centre entry at its new column, so every row keeps its values."""
    encoder = np.array(encoder, dtype=np.float64, copy=True)
    old = np.asarray(signs) != 0
    new = curveball(old, rng)
    for i in range(len(encoder)):
        left, arrived = np.flatnonzero(old[i] & ~new[i]), np.flatnonzero(new[i] & ~old[i])
        left = rng.permutation(left)
        encoder[i, left], encoder[i, arrived] = encoder[i, arrived], encoder[i, left].copy()
    return encoder


def anneal_code(
    signs: np.ndarray, rng: np.random.Generator, steps: int | None = None, t_end_ratio: float = 1e-3
) -> np.ndarray:
    """Signs and supports of a code annealed to lower its crosstalk, every row's and column's outlier count
    kept. `steps` Metropolis moves (default 50 per outlier: at the demo recipe 20 gave a solved loss of
    5.43, 50 5.39 and 200 5.40 at 4× the time, though the crosstalk fell a further 20%), half sign flips
    of one outlier, half swaps of two outliers' columns (a checkerboard move, which keeps the degrees);
    geometric cooling from the median |Δ| of the first proposals to `t_end_ratio` of it. The overlap
    matrix is kept up to date, so a move costs O(h)."""
    s = np.asarray(signs, dtype=np.int8).copy()
    h = len(s)
    overlap = s.astype(np.float64) @ s.T.astype(np.float64)
    where = np.argwhere(s != 0)  # the outliers, (row, column); a swap moves one entry's column
    n = len(where)
    if n < 2 or h < 2:
        return s
    steps = 50 * n if steps is None else steps

    def flip_delta(j: int, i: int) -> tuple[float, np.ndarray]:
        v = s[:, i].astype(np.float64)
        v[j] = 0.0
        change = -2.0 * s[j, i] * v  # the new overlap of row j with every other row, minus the old
        return float((2 * overlap[j] * change + change**2).sum()), change

    def swap_delta(p: int, q: int) -> tuple[float, np.ndarray, np.ndarray] | None:
        (j, i), (k, col) = where[p], where[q]
        if j == k or i == col or s[j, col] != 0 or s[k, i] != 0:
            return None
        v = s[:, col].astype(np.float64) - s[:, i]
        v[j] = v[k] = 0.0  # the overlap of j with k is unchanged by the move (docs/science.md)
        dj, dk = s[j, i] * v, -s[k, col] * v
        delta = (2 * overlap[j] * dj + dj**2).sum() + (2 * overlap[k] * dk + dk**2).sum()
        return float(delta), dj, dk

    probe = [abs(flip_delta(*where[rng.integers(n)])[0]) for _ in range(64)]
    t0 = float(np.median([p for p in probe if p > 0] or [1.0]))
    cooling = t_end_ratio ** (1.0 / max(1, steps))
    temperature = t0
    for _ in range(steps):
        temperature *= cooling
        if rng.random() < 0.5:
            p = int(rng.integers(n))
            j, i = where[p]
            delta, change = flip_delta(j, i)
            if delta <= 0 or rng.random() < np.exp(-delta / temperature):
                overlap[j] += change
                overlap[:, j] += change
                s[j, i] = -s[j, i]
        else:
            p, q = (int(x) for x in rng.integers(n, size=2))
            move = swap_delta(p, q)
            if move is None:
                continue
            delta, dj, dk = move
            if delta <= 0 or rng.random() < np.exp(-delta / temperature):
                (j, i), (k, col) = where[p], where[q]
                overlap[j] += dj
                overlap[:, j] += dj
                overlap[k] += dk
                overlap[:, k] += dk
                s[j, col], s[j, i] = s[j, i], 0
                s[k, i], s[k, col] = s[k, col], 0
                where[p] = (j, col)
                where[q] = (k, i)
    return s


def fresh_code(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(h, d) int8 signs of a fresh code with `mask`'s row and column degrees: its support dealt afresh by
    Curveball trades, random signs, both annealed to a low crosstalk (the `code` sampler's and the
    ansatz's code, science/theory.py)."""
    dealt = curveball(mask, rng)
    signs = np.where(dealt, rng.choice(np.array([-1, 1], dtype=np.int8), size=dealt.shape), 0).astype(np.int8)
    return anneal_code(signs, rng)


def code_pairs(signs: np.ndarray, pairs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(h, d, 2) pairs of a fresh code with `signs`' row and column degrees: its support dealt afresh by
    Curveball trades, its signs random, both annealed to lower the crosstalk. Every outlier is the outer
    blob's centre ±(ā, b̄) — the mean |W1| and |W2| of the parent's outliers, turned to the code's sign
    (the ± pair of blobs an odd activation gives; encoder and decoder signs agree) — and every other entry
    a pair drawn from the parent's centre blob, its own (W1, W2) values resampled. (Drawn from the fitted
    Gaussians instead, the centre's heavy tails and a lopsided outer fit cost the code a third of its
    advantage at the demo recipe: docs/findings.md.)"""
    signs = np.asarray(signs)
    pairs = np.asarray(pairs, dtype=np.float64).reshape(*signs.shape, -1)
    outer = signs != 0
    code = fresh_code(outer, rng)
    blob = np.abs(pairs[outer]).mean(axis=0) if outer.any() else np.zeros(pairs.shape[-1])
    centre = pairs[~outer] if (~outer).any() else np.zeros((1, pairs.shape[-1]))
    drawn = centre[rng.integers(len(centre), size=signs.shape)]
    drawn[code != 0] = code[code != 0, None] * blob
    return drawn
