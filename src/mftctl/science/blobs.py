"""The blob measurement: how many blobs a 2-D cloud of weight pairs forms, how deep the valleys between
them are, and each blob's mass and centre. One deterministic function of all the pairs.

How (persistence-based mode clustering on a density grid, the ToMATo scheme of Chazal et al. 2013):
1. Robust frame: per axis, centre at the median and divide by 1.4826 × the median absolute deviation.
   The centre blob holds nearly every pair, so this unit is its width at any weight scale: the result
   is the same when either axis is scaled by any factor.
2. Grid: u = asinh(z / 2) per axis keeps the centre linear and compresses the far field logarithmically,
   so one fixed grid resolves a centre blob and outer blobs 50 widths away. Every pair is counted
   (an exact histogram: no sample, hence no sampling noise) and the counts are smoothed with a fixed
   Gaussian kernel. Dividing by the Jacobian of u turns them into density in the robust frame.
3. Modes: cells are visited from the densest down, growing components (union-find). When a component
   meets a denser one, it is a blob if its valley is deep enough (`min_depth`: 1 − saddle / peak), its
   peak stands out of counting noise (`min_significance` Poisson sigmas above the saddle) and it holds
   at least `min_mass` of the pairs above the saddle; otherwise it merges into the denser one. A sparse
   bridge has no peak of its own, the lumps of a forming continuum are shallow, and the noise bumps of a
   heavy tail are insignificant, so none of them count as blobs.
4. Report: blob count, the separation score (the shallowest valley depth among blobs: 0 for one blob,
   near 1 for blobs with nothing between them), a silhouette on the final labels (count-weighted, on
   a coarsened grid, so it is exact and cheap), and per blob its mass, centre and valley depth.

Steps 1–2 run in numpy on the host (a GPU tensor's pairs cross once, 8 bytes a pair): numpy's
partition and bincount are ~10× faster than torch's on this CPU and sum the same way at any thread
count. Step 3 walks at most 128² cells in Python.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from ..errors import InputError
from .records import blob_state

METHOD = "modes-1"

# asinh scale in robust sigmas: linear within ±2 sigma of the centre, logarithmic beyond.
ASINH_SCALE = 2.0
# Share of pairs cut off at each end of each axis when the grid's extent is chosen, so that a handful
# of extreme pairs does not stretch the grid (a 0.3% blob is 30 times this).
EXTENT_TAIL = 5e-5
# Gaussian smoothing of the counts, in grid cells.
SMOOTHING_CELLS = 1.0
# Cells whose smoothed count is below this are empty: their pairs are noise.
EMPTY_COUNT = 0.05
# Effective number of cells one smoothed count averages over (for the noise of a smoothed count).
_KERNEL_CELLS = 4 * math.pi * SMOOTHING_CELLS**2
# The silhouette is computed on a grid coarsened to at most this many cells per axis.
SILHOUETTE_CELLS = 32


@dataclass(frozen=True)
class BlobSettings:
    """The thresholds of step 3; `mftctl config show` documents them as diagnostics.*"""

    min_depth: float = 0.2
    min_significance: float = 4.0
    min_mass: float = 5e-4
    # The sign symmetry the network's activation gives its pairs (choices.ACTIVATION_SYMMETRY), which
    # symmetry_error checks: odd ±(w₁, w₂), even (±w₁, w₂), none.
    symmetry: str = "odd"


@dataclass(frozen=True)
class Blob:
    mass: float  # share of all pairs in the blob's basin
    centre: tuple[float, float]  # mean (encoder, decoder) weight of those pairs
    peak: tuple[float, float]  # where its density is highest
    depth: float | None  # 1 − saddle / peak against a denser blob; None for the densest
    width: tuple[float, float] | None = None  # standard deviation of its pairs per axis (weight units)


@dataclass(frozen=True)
class BlobReport:
    n_blobs: int
    separation: float  # min depth over blobs other than the densest; 0.0 with one blob
    silhouette: float | None  # count-weighted, over pairs in blobs; None below two blobs
    noise_fraction: float  # pairs in no blob (empty cells, the cut-off extremes)
    symmetry_error: float | None  # max over outer blobs of min |μ_i − mirror(μ_j)| / |μ_i|; None below two
    correlation: float | None  # Pearson correlation of encoder and decoder weights
    blobs: list[Blob] = field(default_factory=list)
    pairs: int = 0
    scale: tuple[float, float] = (1.0, 1.0)  # the robust sigma per axis
    method: str = METHOD
    symmetry: str = "odd"  # what symmetry_error checked (BlobSettings.symmetry)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["blobs"] = [asdict(b) for b in self.blobs]
        return data

    @property
    def state(self) -> str:
        return blob_state(self.n_blobs, self.separation)


def grid_size(n: int) -> int:
    """Cells per axis: finer with more pairs, so that a small blob still has counts per cell."""
    return int(min(128, max(24, round(1.6 * n ** (1 / 3)))))


def measure_blobs(pairs: Any, settings: BlobSettings | None = None) -> BlobReport:
    """Measure the blobs of an (N, 2) cloud of (encoder, decoder) weight pairs.

    >>> import numpy as np, mftctl
    >>> rng = np.random.default_rng(0)
    >>> centre = rng.normal(0, 0.01, (100_000, 2))
    >>> outer = rng.normal([[1.4, 0.08]], 0.02, (1_000, 2))
    >>> report = mftctl.measure_blobs(np.concatenate([centre, outer, -outer]))
    >>> report.n_blobs, report.state
    (3, 'formed')
    """
    settings = settings or BlobSettings()
    if hasattr(pairs, "detach"):  # a torch tensor, on any device: 8 bytes a pair cross to the host, once
        pairs = pairs.detach().cpu().numpy()
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise InputError(f"measure_blobs expects an (N, 2) array of pairs, got shape {pairs.shape}")
    return _measure_columns(pairs[:, 0], pairs[:, 1], settings)


def measure_model_blobs(model: Any, settings: BlobSettings | None = None) -> BlobReport:
    """measure_blobs on a TwoLayerNet's h·d pairs (W1[i, j], W2[j, i]), without building the (N, 2) array."""
    enc, dec = (w.detach().cpu().numpy() for w in (model.fc1.weight, model.fc2.weight))
    return measure_weight_blobs(enc, dec, settings)


def measure_weight_blobs(enc: np.ndarray, dec: np.ndarray, settings: BlobSettings | None = None) -> BlobReport:
    """measure_blobs on the pairs (enc[i, j], dec[j, i]) of an (h, d) encoder and a (d, h) decoder."""
    return _measure_columns(enc.ravel(), dec.T.ravel(), settings or BlobSettings())


def _measure_columns(enc: np.ndarray, dec: np.ndarray, settings: BlobSettings) -> BlobReport:
    cols = [np.ascontiguousarray(c, dtype=np.float32 if c.dtype == np.float32 else np.float64) for c in (enc, dec)]
    if not all(np.isfinite(c.sum()) for c in cols):
        finite = np.isfinite(cols[0]) & np.isfinite(cols[1])
        cols = [c[finite] for c in cols]
    n = len(cols[0])
    if n < 2:
        return BlobReport(0, 0.0, None, 1.0, None, None, pairs=n)
    cells = grid_size(n)
    centre, scale, lo, step = [], [], [], []
    index = np.zeros(n, dtype=np.int64)
    inside = np.ones(n, dtype=bool)
    for col in cols:
        k_tail = int(EXTENT_TAIL * n)
        mid = (n - 1) // 2
        part = np.partition(col, sorted({k_tail, mid, n - 1 - k_tail}))
        c = float(part[mid])
        mad = float(np.partition(np.abs(col - c), mid)[mid]) * 1.4826
        # A degenerate axis (all equal, or a spike holding half the pairs) falls back to the std, then 1.
        s = mad if mad > 0 else (float(col.std(dtype=np.float64)) or 1.0)
        u_lo, u_hi = (math.asinh((float(part[k]) - c) / (s * ASINH_SCALE)) for k in (k_tail, n - 1 - k_tail))
        width = max(u_hi - u_lo, 1e-6)
        u_lo, u_hi = u_lo - 0.02 * width, u_hi + 0.02 * width
        u = np.arcsinh((col - c) / (s * ASINH_SCALE))
        i = np.floor((u - u_lo) * (cells / (u_hi - u_lo))).astype(np.int64)
        inside &= (i >= 0) & (i < cells)
        index = index * cells + np.clip(i, 0, cells - 1)
        centre.append(c)
        scale.append(s)
        lo.append(u_lo)
        step.append((u_hi - u_lo) / cells)
    index[~inside] = cells * cells
    size = cells * cells + 1
    counts = np.bincount(index, minlength=size)[:-1].astype(np.float64).reshape(cells, cells)
    sums = [np.bincount(index, weights=col, minlength=size)[:-1].reshape(cells, cells) for col in cols]
    squares = [
        np.bincount(index, weights=np.square(col, dtype=np.float64), minlength=size)[:-1].reshape(cells, cells)
        for col in cols
    ]

    smooth = gaussian_filter(counts, SMOOTHING_CELLS, mode="constant", truncate=3.0)
    centres_u = [lo_k + (np.arange(cells) + 0.5) * step_k for lo_k, step_k in zip(lo, step, strict=True)]
    density = smooth / np.outer(np.cosh(centres_u[0]), np.cosh(centres_u[1]))
    labels, depths, peaks = _modes(density, smooth, counts.sum(), counts, settings)
    order = _blob_order(labels, depths, counts)
    remap = np.full(len(depths) + 1, -1)
    for new, old in enumerate(order):
        remap[old] = new
    cell_labels = remap[labels]  # -1 for empty cells and merged-away noise

    blobs, spreads = _blobs(cell_labels, counts, sums, squares, order, depths, peaks, centres_u, centre, scale, n)
    mass_in_blobs = sum(b.mass for b in blobs)
    depth_values = [b.depth for b in blobs[1:] if b.depth is not None]
    # Silhouette distances in units of the centre blob's own spread per axis: scale-free, and not skewed
    # by how far apart the blobs are (which sets the cloud's median absolute deviation when none dominates).
    unit = spreads[0] if blobs else (1.0, 1.0)
    cell_xy = [np.sinh(cu) * ASINH_SCALE / w for cu, w in zip(centres_u, unit, strict=True)]
    return BlobReport(
        n_blobs=len(blobs),
        separation=min(depth_values) if depth_values else 0.0,
        silhouette=_grid_silhouette(counts, cell_labels, cell_xy) if len(blobs) > 1 else None,
        noise_fraction=max(0.0, 1.0 - mass_in_blobs),
        symmetry_error=symmetry_error([b.centre for b in blobs], settings.symmetry),
        correlation=_correlation(cols),
        blobs=blobs,
        pairs=n,
        scale=(scale[0], scale[1]),
        symmetry=settings.symmetry,
    )


def _modes(
    density: np.ndarray, smooth: np.ndarray, total: float, counts: np.ndarray, settings: BlobSettings
) -> tuple[np.ndarray, list[float], list[int]]:
    """Union-find over cells from the densest down (ToMATo). Returns each cell's component id (-1:
    empty), and per component its valley depth (nan: noise, to be dropped) and its peak cell."""
    rows, cols = density.shape
    # A border of empty cells, so that every cell has eight neighbours and no bounds are checked.
    width = cols + 2
    padded = np.full((rows + 2, width), -1.0)
    padded[1:-1, 1:-1] = np.where(smooth >= EMPTY_COUNT, density, -1.0)
    flat_density = padded.ravel()
    visit = np.flatnonzero(flat_density >= 0)
    # Ties broken by cell index: a stable sort makes the walk the same on every run.
    visit = visit[np.argsort(-flat_density[visit], kind="stable")].tolist()
    level_of = flat_density.tolist()
    count_of = np.pad(smooth, 1).ravel().tolist()
    mass_of = np.pad(counts, 1).ravel().tolist()
    parent = [-1] * len(level_of)
    peak: dict[int, tuple[float, float]] = {}  # root -> (peak density, peak smoothed count)
    mass: dict[int, float] = {}  # root -> pairs in the component so far (above the current level)
    depth: dict[int, float] = {}  # blob roots -> their valley depth
    noise_sigmas = settings.min_significance

    def find(c: int) -> int:
        root = c
        while parent[root] != root:
            root = parent[root]
        while parent[c] != root:
            parent[c], c = root, parent[c]
        return root

    neighbours = (-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1)
    for cell in visit:
        roots = {find(cell + o) for o in neighbours if parent[cell + o] >= 0}
        if not roots:
            parent[cell] = cell
            peak[cell] = (level_of[cell], count_of[cell])
            mass[cell] = mass_of[cell]
            continue
        elder = max(roots, key=lambda k: (peak[k][0], -k))
        parent[cell] = elder
        mass[elder] += mass_of[cell]
        for root in roots:
            if root == elder or root in depth:
                continue
            top, top_count = peak[root]
            valley = 1.0 - level_of[cell] / top
            noise = math.sqrt(max(top_count, 1e-12) / _KERNEL_CELLS)
            significant = (top_count - count_of[cell]) / noise >= noise_sigmas
            if valley >= settings.min_depth and significant and mass[root] / total >= settings.min_mass:
                depth[root] = valley
            else:
                parent[root] = elder
                mass[elder] += mass[root]
    roots_of = [find(c) for c in visit]
    # Still alive at the end: the blobs met above, and components that never met a denser one. The
    # densest of those is the centre blob; the others are islands with an empty valley (depth 1), kept
    # when they are significant and massive enough.
    alive = sorted(set(roots_of), key=lambda k: (-peak[k][0], k))
    depths = []
    for i, root in enumerate(alive):
        if root in depth or i == 0:
            depths.append(depth.get(root, 1.0))
            continue
        top_count = peak[root][1]
        keep = math.sqrt(top_count * _KERNEL_CELLS) >= noise_sigmas and mass[root] / total >= settings.min_mass
        depths.append(1.0 if keep else float("nan"))
    ids = {root: i for i, root in enumerate(alive)}
    labels = np.full(len(level_of), -1, dtype=np.int64)
    labels[visit] = [ids[r] for r in roots_of]
    unpad = [(r // width - 1) * cols + (r % width - 1) for r in alive]
    return labels.reshape(rows + 2, width)[1:-1, 1:-1], depths, unpad


def _blob_order(labels: np.ndarray, depths: list[float], counts: np.ndarray) -> list[int]:
    """Component ids that are blobs: the densest peak first (the centre blob), then by mass."""
    ids = [i for i, dep in enumerate(depths) if not math.isnan(dep)]
    if not ids:
        return []
    mass = {i: counts[labels == i].sum() for i in ids[1:]}
    return [ids[0]] + sorted(ids[1:], key=lambda i: (-mass[i], i))


def _blobs(labels, counts, sums, squares, order, depths, peaks, centres_u, centre, scale, n):
    """Blob records (mass, centre, peak, depth, width) and each blob's standard deviation per axis, from the
    per-cell counts, sums and sums of squares of the pairs (exact: every pair is in its cell's sums)."""
    blobs, spreads = [], []
    cells = len(centres_u[0])
    for new, old in enumerate(order):
        mine = labels == new
        m = counts[mine].sum()
        mean = [float(s[mine].sum() / m) for s in sums]
        var = [max(float(q[mine].sum() / m) - mu**2, 0.0) for q, mu in zip(squares, mean, strict=True)]
        r, c = divmod(peaks[old], cells)
        peak = [
            ctr + math.sinh(cu[k]) * ASINH_SCALE * s
            for ctr, cu, k, s in zip(centre, centres_u, (r, c), scale, strict=True)
        ]
        blobs.append(
            Blob(
                mass=float(m / n),
                centre=(mean[0], mean[1]),
                peak=(peak[0], peak[1]),
                depth=None if new == 0 else float(depths[old]),
                width=(math.sqrt(var[0]), math.sqrt(var[1])),
            )
        )
        # In robust units; a blob one cell wide has at least the cell's own width.
        spreads.append(tuple(max(math.sqrt(v) / s, 0.1) for v, s in zip(var, scale, strict=True)))
    return blobs, spreads


def _grid_silhouette(counts: np.ndarray, labels: np.ndarray, cell_xy: list[np.ndarray]) -> float | None:
    """Silhouette of the pairs in blobs, every pair placed at the centre of its cell on a grid coarsened
    to at most SILHOUETTE_CELLS per axis (a coarse cell takes the label holding most of its pairs).
    Exact for that placement, and cheap: distances between at most SILHOUETTE_CELLS² cells."""
    f = max(1, -(-counts.shape[0] // SILHOUETTE_CELLS))
    rows = counts.shape[0] // f * f
    k = int(labels.max()) + 1
    blocks = (rows // f, f, rows // f, f)
    per_label = np.stack(
        [np.where(labels[:rows, :rows] == j, counts[:rows, :rows], 0.0).reshape(blocks).sum((1, 3)) for j in range(k)]
    )
    weight = per_label.sum(axis=0).ravel()
    keep = np.flatnonzero(weight > 0)
    label = per_label.reshape(k, -1).argmax(axis=0)[keep]
    w = weight[keep]
    if len(np.unique(label)) < 2:
        return None
    xy = [c[:rows].reshape(-1, f).mean(axis=1) for c in cell_xy]
    points = np.stack(np.meshgrid(*xy, indexing="ij"), axis=-1).reshape(-1, 2)[keep]
    # As scipy's cdist computes it; scipy.spatial alone costs a fifth of a second of every worker's start.
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1))
    sizes = np.bincount(label, weights=w, minlength=k)
    # Mean distance from each cell to the pairs of each label (excluding the pair itself for its own).
    totals = np.stack([dist[:, label == j] @ w[label == j] for j in range(k)], axis=1)
    rows_idx = np.arange(len(label))
    own = sizes[label] - 1
    a = np.where(own > 0, totals[rows_idx, label] / np.maximum(own, 1), 0.0)
    mean_other = np.where(sizes > 0, totals / np.where(sizes > 0, sizes, 1), np.inf)
    mean_other[rows_idx, label] = np.inf
    b = mean_other.min(axis=1)
    s = np.where(own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(np.average(s, weights=w))


# How each symmetry maps a pair: odd (w₁, w₂) → (−w₁, −w₂); even (w₁, w₂) → (−w₁, w₂).
_MIRRORS = {"odd": np.array([-1.0, -1.0]), "even": np.array([-1.0, 1.0])}


def symmetry_error(centres: list[tuple[float, float]], symmetry: str = "odd") -> float | None:
    """max over outer blobs (all but the first) of min_j |μ_i − mirror(μ_j)| / |μ_i|: 0 when every outer
    blob has its mirror image (odd: ±(w₁, w₂); even: (±w₁, w₂)); None for an activation with neither."""
    outer = [np.asarray(c) for c in centres[1:]]
    if len(outer) < 2 or symmetry not in _MIRRORS:
        return None
    mirror = _MIRRORS[symmetry]
    worst = 0.0
    for i, mu in enumerate(outer):
        norm = np.linalg.norm(mu)
        if norm == 0:
            continue
        best = min(np.linalg.norm(mu - mirror * other) for j, other in enumerate(outer) if j != i)
        worst = max(worst, float(best / norm))
    return worst


def _correlation(cols: list[np.ndarray]) -> float | None:
    """Pearson correlation, summed pairwise by numpy (the same result on every run and thread count)."""
    a, b = (c - c.mean(dtype=np.float64) for c in cols)
    saa, sbb = float(np.square(a).sum()), float(np.square(b).sum())
    if saa == 0 or sbb == 0:
        return None
    return float((a * b).sum() / math.sqrt(saa * sbb))
