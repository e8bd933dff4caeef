"""Winograd convolution: 3x3 stride-1 layers in fewer multiplications.

A 1-D correlation of ``m`` outputs with a 3-tap kernel is a bilinear map, and
Toom-Cook computes it with ``n = m + 2`` multiplications instead of ``3m``:
transform the ``n`` inputs and the 3 taps, multiply pointwise, transform back::

    y = AT @ ((G @ g) * (BT @ d))

Here ``G`` evaluates the kernel polynomial at ``n`` points (the last one at
infinity: its leading coefficient), ``BT`` is the transposed inverse of the
evaluation matrix of degree ``n - 1`` and ``AT`` the transposed evaluation
matrix of the output polynomial. That is the transpose (Tellegen's principle)
of a polynomial product ``s = conv(g, h)``, since ``<s, d> = <h,
correlate(d, g)>``: it computes correlation, the kernel unflipped. In 2-D the
transforms apply along both axes of an ``n x n`` input tile giving an
``m x m`` output tile, and the sum over input channels turns the ``n * n``
pointwise products into ``n * n`` matrix products, one per transform point::

    M[p] = U[p] @ V[p]     U[p]: (C_out, C_in) weights, V[p]: (C_in, tiles) inputs

F(4x4, 3x3) takes 36 multiplications per 16 outputs instead of 144;
F(2x2, 3x3) 16 per 4 instead of 36.

Computation (:func:`kernel_source`). The weights are transformed once per
call, in float64. Worker threads (``ndconv.set_num_threads``) each take
blocks of about 64 tiles through one compiled serial kernel that releases
the GIL: input transform into the worker's buffer, products by BLAS on that
thread, output transform into the result. The blocks stay in the worker's
cache, the buffers under the workspace limit, and no thread pool (numba's,
OpenBLAS's) spins beside another.

Accuracy. Each output's rounding error is proportional to the largest
magnitudes in its whole tile, and grows with the tile. Measured in float32
against float64, as the componentwise error max |error| / (|x| (*) |w|), and
as the largest fraction of the conformance tolerance (rtol 1e-5, atol 1e-6
per product summed), on N(0, 1) data:

=====================  =================  =================  =================
C_in (per group)       4                  16                 64
=====================  =================  =================  =================
F(2x2): 0, ±1          2.8e-07 (0.13)     1.5e-07 (0.07)     1.3e-07 (0.05)
F(4x4): 0, ±1, ½, -2   3.2e-06 (0.90)     1.7e-06 (0.48)     1.2e-06 (0.37)
F(4x4): 0, ±1, ±2      9.9e-06 (2.70)     3.3e-06 (0.96)     2.1e-06 (1.25)
F(4x4): 0, ±1, ±½      8.5e-06 (2.20)     3.1e-06 (1.46)     2.0e-06 (0.99)
=====================  =================  =================  =================

Only the points 0, 1, -1, 1/2, -2 (as Barabasz et al., arXiv:1803.10986,
recommend) keep F(4x4) within the tolerance, and only from
:data:`F4_MIN_CHANNELS` input channels per group on, whose sum averages the
rounding errors; with fewer, float32 uses F(2x2). float64 always uses F(4x4)
(about 1e-15). On ReLU'd N(0, 1) data F(4x4) reaches 1.9e-06 (0.31).

Data matter: a tile holding both large and small values loses its small
outputs' accuracy, and one NaN or Inf spreads over its whole tile.
:func:`winograd_guard` therefore refuses integers, non-finite values, values
near the dtype's overflow, and tiles whose input magnitudes (summed over a
group's channels) vary more than :func:`dynamic_range_limit` (10 for
F(4x4), 67 for F(2x2) in float32), which keeps the error within
:data:`ERROR_BOUND`; ``"auto"`` then computes directly.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from .._limits import get_workspace_limit
from .._padding import pad
from .._shapes import ConvSpec
from .._threads import kernel_threads, run_workers
from ._jit import compile_source, is_cached
from .costs import DEFAULT_MACHINE, MachineModel, copied_padding_bytes

#: Finite transform points of F(2x2, 3x3) and F(4x4, 3x3); infinity is always the last.
POINTS = {2: (0, 1, -1), 4: (0, 1, -1, Fraction(1, 2), -2)}
#: Fewest input channels per group for which float32 uses F(4x4): with fewer, the
#: channel sum averages too little of its larger rounding error away (see the table above).
F4_MIN_CHANNELS = 16
#: Componentwise error the guard keeps results within, by itemsize: float32 about twice
#: what N(0, 1) data gets, float64 a little under the conformance tolerance.
ERROR_BOUND = {4: 4e-6, 8: 1e-12}
#: Growth of the componentwise error with the guard's tile ratio (:func:`tile_ratio`),
#: in units of the dtype's rounding unit, by tile size: the largest measured on inputs of
#: two magnitudes (tests/test_winograd.py).
ERROR_PER_RATIO = {2: 1.0, 4: 7.0}
SUPPORTED_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


def _evaluation(points: tuple[Fraction, ...], terms: int) -> list[list[Fraction]]:
    """Rows evaluating a polynomial of ``terms`` coefficients at each point, then infinity."""
    rows = [[Fraction(p) ** k for k in range(terms)] for p in points]
    return [*rows, [Fraction(0)] * (terms - 1) + [Fraction(1)]]


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact inverse by Gauss-Jordan elimination."""
    size = len(matrix)
    rows = [[*row, *(Fraction(int(i == j)) for j in range(size))] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = next(i for i in range(col, size) if rows[i][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for i in range(size):
            if i != col and rows[i][col] != 0:
                rows[i] = [a - rows[i][col] * b for a, b in zip(rows[i], rows[col])]
    return [row[size:] for row in rows]


@functools.lru_cache(maxsize=2)
def transforms(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(AT, G, BT)`` of F(m x m, 3x3): shapes ``(m, n)``, ``(n, 3)``, ``(n, n)``, ``n = m + 2``.

    Row ``p`` of ``BT`` and of ``G`` (and column ``p`` of ``AT``) belong to
    point ``p``; each may be scaled if ``G``'s row takes the inverse scale. The
    scales make ``BT`` and ``AT`` small integers, so that the compiled
    transforms are exact in their constants; ``G``, applied in float64 to the
    weights, carries the fractions.

    >>> at, g, bt = transforms(2)
    >>> d, k = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0])
    >>> at @ ((g @ k) * (bt @ d)), np.correlate(d, k)
    (array([14., 20.]), array([14., 20.]))
    >>> bt
    array([[ 1.,  0., -1.,  0.],
           [ 0.,  1.,  1.,  0.],
           [ 0., -1.,  1.,  0.],
           [ 0., -1.,  0.,  1.]])
    """
    points = tuple(Fraction(p) for p in POINTS[m])
    n = m + 2
    at = [list(col) for col in zip(*_evaluation(points, m))]
    g = _evaluation(points, 3)
    bt = [list(col) for col in zip(*_inverse(_evaluation(points, n)))]
    for p in range(n):
        # Integer BT row: multiply by the denominators, divide by the numerators' gcd.
        scale = Fraction(math.lcm(*(v.denominator for v in bt[p])),
                         math.gcd(*(v.numerator for v in bt[p])))
        # Integer AT column.
        scale_at = math.lcm(*(at[i][p].denominator for i in range(m)))
        bt[p] = [v * scale for v in bt[p]]
        for i in range(m):
            at[i][p] *= scale_at
        g[p] = [v / (scale * scale_at) for v in g[p]]
    return tuple(np.array([[float(v) for v in row] for row in a]) for a in (at, g, bt))


def tile_outputs(spec: ConvSpec) -> int:
    """Outputs per tile side, ``m`` of F(m x m, 3x3): 4, or 2 where F(4x4) is not worth it.

    float32 with few input channels per group needs F(2x2)'s accuracy
    (:data:`F4_MIN_CHANNELS`); small outputs take F(2x2) when it computes
    no more products.

    >>> from ndconv._shapes import conv_spec
    >>> f32 = np.dtype(np.float32)
    >>> tile_outputs(conv_spec((1, 64, 56, 56), (64, 64, 3, 3), dtype=f32))
    4
    >>> tile_outputs(conv_spec((1, 3, 56, 56), (64, 3, 3, 3), dtype=f32))
    2
    >>> tile_outputs(conv_spec((1, 64, 4, 4), (64, 64, 3, 3), dtype=f32))
    2
    """
    per_group = spec.in_channels // spec.groups
    if spec.dtype.itemsize < 8 and per_group < F4_MIN_CHANNELS:
        return 2
    return 4 if _products(spec, 4) < _products(spec, 2) else 2


def _products(spec: ConvSpec, m: int) -> int:
    """Pointwise products per channel pair: tiles times points."""
    return math.prod(-(-n // m) for n in spec.out_spatial) * (m + 2) ** 2


def supports_winograd(spec: ConvSpec) -> bool:
    """Whether :func:`correlate_winograd` computes ``spec``: 2-D, 3x3, stride 1, dilation 1.

    Any groups and padding (zeros inside the transform, other modes padded
    first), float32 or float64.

    >>> from ndconv._shapes import conv_spec
    >>> supports_winograd(conv_spec((1, 8, 9, 9), (8, 4, 3, 3), groups=2, padding="same"))
    True
    >>> supports_winograd(conv_spec((1, 8, 9, 9), (8, 8, 3, 3), stride=2))
    False
    """
    return (
        spec.kernel == (3, 3)
        and spec.stride == (1, 1)
        and spec.dilation == (1, 1)
        and spec.dtype in SUPPORTED_DTYPES
    )


@functools.lru_cache(maxsize=2)
def kernel_source(m: int) -> str:
    """Source of the compiled function ``winograd``: one worker's share of a convolution.

    ``winograd(x, u, out, lo_h, lo_w, seg, rows, kb, at, bt, vbuf, mbuf, worker,
    workers)``: ``x`` is ``(N, C, H, W)``, zero-padded by ``lo_h``, ``lo_w`` in
    front (and implicitly behind); ``u`` holds the transformed weights
    ``(n * n, G, K / G, C / G)``; ``out`` is the result ``(N, K, OH, OW)``;
    ``at`` and ``bt`` are from :func:`transforms`. The tiles of each tile row
    are cut into segments of ``seg`` tiles, each followed by a phantom tile
    (the next ``m`` columns: its phases complete the last real tile's, its
    results are dropped). A block is ``rows`` consecutive segments,
    ``span = rows * (seg + 1)`` tile slots; the worker takes every
    ``workers``-th block, with its own buffers ``vbuf``, ``mbuf``
    (``(n * n, >= C * span)``, ``(n * n, >= K * span)``), through three steps:

    1. input transform, per channel: the block's input rows are copied into
       zero-padded lines, split into their ``m`` phases (column ``m * t + j``
       of slot ``t``), and ``BT`` is applied down the columns, then along the
       rows, each a loop across all slots, which LLVM vectorises;
    2. products ``M[p] = U[p] @ V[p]`` per point and group by BLAS, in row
       blocks of ``kb`` so that each call stays on the calling thread in
       OpenBLAS (:data:`SINGLE_THREAD_GEMM`);
    3. output transform, per channel: ``AT`` on both sides across all slots,
       interleaved into ``m`` output rows and copied into ``out``.

    Only the number of terms is unrolled; the coefficients are read from the
    matrices (zeros included), which keeps compiling to seconds.
    """
    n = m + 2

    def terms(coefficient: str, value: Callable[[int], str]) -> str:
        return " + ".join(f"{coefficient}{j} * {value(j)}" for j in range(n))

    def coefficients(matrix: str, row: str) -> list[str]:
        return [f"b{j} = {matrix}[{row}, {j}]" for j in range(n)]

    body = [
        f"lines = np.zeros(({n}, {m} * (lanes + 1)), x.dtype)",
        f"ph = np.zeros(({n}, {m}, lanes + 1), x.dtype)",
        f"sb = np.zeros(({n}, {m}, lanes + 1), x.dtype)",
        f"half = np.zeros(({n * m}, lanes), x.dtype)",
        f"ycol = np.zeros(({m * m}, lanes), x.dtype)",
        f"yloc = np.zeros(({m}, {m} * lanes), x.dtype)",
        "sample = np.zeros(rows, np.int64)",
        "top = np.zeros(rows, np.int64)",
        "left = np.zeros(rows, np.int64)",
        "for block in range(worker, blocks, workers):",
        "    present = min(rows, units - block * rows)",
        "    for r in range(present):",
        "        unit = block * rows + r",
        f"        left[r] = unit % segs * seg * {m}",
        f"        top[r] = unit // segs % tiles_h * {m}",
        "        sample[r] = unit // (segs * tiles_h)",
        "    for c in range(channels):",
        "        for r in range(rows):",
        # The segment's input rows, zero outside the input. Explicit loops over
        # views: numba's slice assignment does not vectorise.
        "            line = lines[:, r * reach:(r + 1) * reach]",
        "            row = top[r] - lo_h",
        "            col = left[r] - lo_w",
        "            start = min(max(col, 0), width)",
        "            stop = max(min(col + reach, width), start)",
        "            inside = stop - start if r < present else 0",
        f"            for k in range({n}):",
        "                dst = line[k]",
        "                if inside == 0 or not 0 <= row + k < height:",
        "                    for j in range(reach):",
        "                        dst[j] = 0",
        "                    continue",
        "                for j in range(start - col):",
        "                    dst[j] = 0",
        "                src = x[sample[r], c, row + k, start:stop]",
        "                dst = line[k, start - col:]",
        "                for j in range(inside):",
        "                    dst[j] = src[j]",
        "                for j in range(inside, reach - (start - col)):",
        "                    dst[j] = 0",
        f"        for k in range({n}):",
        "            for t in range(lanes):",
        *(f"                ph[k, {j}, t] = lines[k, {m} * t + {j}]" for j in range(m)),
        # BT down the columns of each phase...
        f"        for i in range({n}):",
        *(f"            {line}" for line in coefficients("bt", "i")),
        f"            for j in range({m}):",
        "                for t in range(lanes):",
        "                    sb[i, j, t] = " + terms("b", lambda k: f"ph[{k}, j, t]"),
        # ... then along the rows: column j < m of slot t is phase j, column j >= m
        # is phase j - m of slot t + 1.
        # (Slots past span spill into the next channel's, which overwrites them.)
        f"        for i in range({n}):",
        f"            for l in range({n}):",
        *(f"                {line}" for line in coefficients("bt", "l")),
        f"                dst = vbuf[i * {n} + l, c * span:c * span + lanes]",
        "                for t in range(lanes):",
        "                    dst[t] = " + terms("b", lambda j: f"sb[i, {j % m}, t + {j // m}]"),
        f"    for p in range({n * n}):",
        "        vp = vbuf[p, :channels * span].reshape((channels, span))",
        "        mp = mbuf[p, :out_channels * span].reshape((out_channels, span))",
        "        for g in range(groups):",
        "            vg = vp[g * per_in:(g + 1) * per_in]",
        "            if per_in == 1:",
        "                for k in range(per_out):",
        "                    weight = u[p, g, k, 0]",
        "                    for t in range(span):",
        "                        mp[g * per_out + k, t] = weight * vg[0, t]",
        "                continue",
        "            for k0 in range(0, per_out, kb):",
        "                k1 = min(k0 + kb, per_out)",
        "                np.dot(u[p, g, k0:k1], vg, mp[g * per_out + k0:g * per_out + k1])",
        "    for k in range(out_channels):",
        # AT along each row a of the tile's products (m values from n)...
        f"        for a in range({n}):",
        *(f"            r{j} = mbuf[a * {n} + {j}, k * span:k * span + lanes]" for j in range(n)),
        f"            for l in range({m}):",
        *(f"                {line}" for line in coefficients("at", "l")),
        "                for t in range(lanes):",
        f"                    half[a * {m} + l, t] = " + terms("b", lambda j: f"r{j}[t]"),
        # ... then down the columns,
        f"        for i in range({m}):",
        *(f"            {line}" for line in coefficients("at", "i")),
        f"            for l in range({m}):",
        "                for t in range(lanes):",
        f"                    ycol[i * {m} + l, t] = "
        + terms("b", lambda a: f"half[{a * m} + l, t]"),
        # interleaved: output column m * t + l of row i is ycol[i * m + l, t].
        f"        for i in range({m}):",
        "            for t in range(lanes):",
        *(f"                yloc[i, {m} * t + {j}] = ycol[i * {m} + {j}, t]" for j in range(m)),
        "        for r in range(present):",
        f"            count = min({m} * seg, out_w - left[r])",
        "            first = r * reach",
        f"            for i in range(min({m}, out_h - top[r])):",
        "                dst = out[sample[r], k, top[r] + i, left[r]:left[r] + count]",
        "                src = yloc[i, first:first + count]",
        "                for j in range(count):",
        "                    dst[j] = src[j]",
    ]
    head = [
        "def winograd(x, u, out, lo_h, lo_w, seg, rows, kb, at, bt, vbuf, mbuf, worker, workers):",
        "channels = x.shape[1]",
        "height = x.shape[2]",
        "width = x.shape[3]",
        "out_channels = out.shape[1]",
        "out_h = out.shape[2]",
        "out_w = out.shape[3]",
        "groups = u.shape[1]",
        "per_out = u.shape[2]",
        "per_in = u.shape[3]",
        "span = rows * (seg + 1)",
        # Loops run over a multiple of 32 slots (beyond span, results are dropped):
        # LLVM's vector loops then leave no scalar remainder.
        "lanes = (span + 32) // 32 * 32",
        f"reach = {m} * (seg + 1)",
        f"tiles_h = (out_h + {m - 1}) // {m}",
        f"tiles_w = (out_w + {m - 1}) // {m}",
        "segs = (tiles_w + seg - 1) // seg",
        "units = x.shape[0] * tiles_h * segs",
        "blocks = (units + rows - 1) // rows",
    ]
    return "\n".join([head[0], *(f"    {line}" for line in head[1:] + body)]) + "\n"


# The guard's scan, in two phases split among workers. Phase 0: per (sample, group),
# the sum over the group's channels of the largest |x| in each 2x2 block of the input
# (blocks aligned to the input, not the padding), and a count of the finite elements
# seen. Phase 1: for every tile, the ratio of the largest to the smallest non-zero
# block sum among the blocks its input region touches, and the largest. Every 3x3
# window holds a whole block (whose part inside the input lies in the window), so the
# smallest block sum of a tile bounds its outputs' magnitudes from below and the
# largest its rounding error from above.
SCAN_SOURCE = """\
def scan(x, groups, lo_h, lo_w, m, tiles_w, limit, sums, counts, ratios, peaks, phase, worker,
         workers):
    per_group = x.shape[1] // groups
    height = x.shape[2]
    width = x.shape[3]
    blocks_h = sums.shape[1]
    blocks_w = sums.shape[2]
    if phase == 0:
        top = np.zeros(2 * blocks_w, x.dtype)
        for task in range(worker, sums.shape[0] * blocks_h, workers):
            br = task % blocks_h
            ng = task // blocks_h
            n = ng // groups
            g = ng % groups
            line = sums[ng, br]
            finite = 0
            for c in range(g * per_group, (g + 1) * per_group):
                for j in range(top.shape[0]):
                    top[j] = 0
                for i in range(2 * br, min(2 * br + 2, height)):
                    row = x[n, c, i]
                    for j in range(width):
                        a = abs(row[j])
                        finite += a <= limit
                        top[j] = max(top[j], a)
                for bc in range(blocks_w):
                    line[bc] += max(top[2 * bc], top[2 * bc + 1])
            counts[task] = finite
        return
    for task in range(worker, sums.shape[0] * ratios.shape[1], workers):
        ti = task % ratios.shape[1]
        ng = task // ratios.shape[1]
        rows = sums[ng, max((m * ti - lo_h) // 2, 0):(m * ti - lo_h + m + 1) // 2 + 1]
        worst = 1.0
        peak = 0.0
        for tj in range(tiles_w):
            first = max((m * tj - lo_w) // 2, 0)
            last = min((m * tj - lo_w + m + 1) // 2 + 1, blocks_w)
            high = 0.0
            low = np.inf
            for i in range(rows.shape[0]):
                for j in range(first, last):
                    value = rows[i, j]
                    high = max(high, value)
                    if value > 0:
                        low = min(low, value)
            if high > 0:
                worst = max(worst, high / low)
                peak = max(peak, high)
        ratios[ng, ti] = worst
        peaks[ng, ti] = peak
"""


def tile_ratio(x: np.ndarray, spec: ConvSpec) -> tuple[float, float, bool]:
    """``(ratio, peak, finite)`` of the batched input ``x`` in the compute dtype.

    ``ratio`` is the largest, over tiles, of the largest over the smallest
    non-zero block magnitude it reads (see ``SCAN_SOURCE``); ``peak`` the
    largest block magnitude (a bound on ``max |x|``); ``finite`` whether every
    element is finite.

    >>> from ndconv._shapes import conv_spec
    >>> spec = conv_spec((1, 1, 8, 8), (1, 1, 3, 3), dtype=np.dtype(np.float32))
    >>> x = np.ones((1, 1, 8, 8), np.float32)
    >>> tile_ratio(x, spec)
    (1.0, 1.0, True)
    >>> x[0, 0, 3, 3] = 100.0
    >>> tile_ratio(x, spec)[0]
    100.0
    """
    if spec.padding_mode != "zeros":
        x, lo_h, lo_w = pad(x, spec.padding, spec.padding_mode), 0, 0
    else:
        lo_h, lo_w = (lo for lo, _ in spec.padding)
    x = np.ascontiguousarray(x)
    m = tile_outputs(spec)
    tiles_h, tiles_w = _tiles(spec, m)
    planes = spec.batch * spec.groups
    sums = np.zeros((planes, -(-x.shape[2] // 2), -(-x.shape[3] // 2)))
    counts = np.zeros(planes * sums.shape[1], np.int64)
    ratios = np.ones((planes, tiles_h))
    peaks = np.zeros((planes, tiles_h))
    kernel = _kernel(SCAN_SOURCE, "scan")
    limit = x.dtype.type(np.finfo(x.dtype).max)
    workers = max(1, min(kernel_threads(), x.size // _SCAN_ELEMENTS_PER_WORKER))
    for phase in (0, 1):  # the second phase reads every block sum of the first
        run_workers(lambda i, phase=phase: kernel(x.view(), spec.groups, lo_h, lo_w, m, tiles_w,
                                                  limit, sums, counts, ratios, peaks, phase, i,
                                                  workers), workers)
    return float(ratios.max()), float(peaks.max()), int(counts.sum()) == x.size


#: Elements from which the guard's scan is shared among threads.
_SCAN_ELEMENTS_PER_WORKER = 1 << 16


def dynamic_range_limit(m: int, dtype: np.dtype) -> float:
    """Largest :func:`tile_ratio` the guard accepts for F(m x m, 3x3) in ``dtype``.

    The componentwise error grows about as ``ERROR_PER_RATIO[m] * u * ratio``
    (``u`` the unit roundoff); the limit keeps it within ``ERROR_BOUND``.

    >>> round(dynamic_range_limit(4, np.dtype(np.float32)), 1)
    9.6
    """
    unit = float(np.finfo(dtype).eps) / 2
    return ERROR_BOUND[dtype.itemsize] / (ERROR_PER_RATIO[m] * unit)


def _growth(m: int) -> float:
    """Bound on |transformed result| / (|x| |w|) per input channel: the norms of the transforms."""
    at, g, bt = transforms(m)
    return float(np.abs(bt).sum(1).max() * np.abs(g).sum(1).max() * np.abs(at).sum(1).max()) ** 2


def winograd_guard(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> str | None:
    """Why ``auto`` must not compute this convolution by Winograd, or None when it may.

    Refused: integers (the direct sums are exact), non-finite values (a NaN
    or Inf would spread over its whole tile), magnitudes near the dtype's
    largest (the transforms would overflow), and tiles whose magnitudes vary
    more than :func:`dynamic_range_limit` (the small values' outputs would
    lose their accuracy).

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> spec = conv_spec((1, 8, 16, 16), (8, 8, 3, 3), dtype=np.dtype(np.float32))
    >>> x, w = np.ones((1, 8, 16, 16), np.float32), np.ones((8, 8, 3, 3), np.float32)
    >>> winograd_guard(x, w, spec) is None
    True
    >>> x[0, 0, 5, 5] = np.nan
    >>> winograd_guard(x, w, spec)
    'non-finite values: Winograd would spread them over whole tiles'
    """
    if x.dtype.kind in "biu" or w.dtype.kind in "biu":
        return "integer inputs: direct sums of integers are exact, Winograd's are not"
    if not np.isfinite(w).all():
        return "non-finite weights: Winograd would spread them over whole tiles"
    batched = np.asarray(x if spec.batched else x[np.newaxis], dtype=spec.dtype)
    ratio, peak, finite = tile_ratio(batched, spec)
    if not finite:
        return "non-finite values: Winograd would spread them over whole tiles"
    m = tile_outputs(spec)
    largest = float(np.abs(w).max(initial=0.0)) * peak * _growth(m)
    if largest * (spec.in_channels // spec.groups) >= float(np.finfo(spec.dtype).max):
        return f"values near the largest {spec.dtype}: Winograd's transforms would overflow"
    limit = dynamic_range_limit(m, spec.dtype)
    if ratio > limit:
        return (f"input magnitudes within a tile vary more than {limit:.3g}x: Winograd would "
                "lose the small ones' accuracy")
    return None


# Compiled kernels by source; the (tile size, dtype) pairs that have run.
_COMPILED: dict[str, Callable[..., None]] = {}
_READY: set[tuple[int, np.dtype]] = set()
_COMPILE_LOCK = threading.Lock()
#: Largest product (rows x columns x inner size) OpenBLAS computes on the calling
#: thread (interface/gemm.c: 65536 * GEMM_MULTITHREAD_THRESHOLD, 4 by default): its
#: own threads would compete with the workers.
SINGLE_THREAD_GEMM = 1 << 18
#: Tiles per block, when the workspace allows: enough columns for efficient products,
#: few enough that a worker's transformed tiles stay in its cache.
BLOCK_TILES = 64


def _kernel(source: str, function: str) -> Callable[..., None]:
    with _COMPILE_LOCK:
        if source not in _COMPILED:
            # Serial kernels that release the GIL; run_workers runs them side by side.
            _COMPILED[source] = compile_source(source, parallel=False, function=function)
        return _COMPILED[source]


def winograd_setup(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """One-time cost before the kernel for ``spec`` can run: compile or cache load."""
    m = tile_outputs(spec)
    if (m, spec.dtype) in _READY:
        return 0.0
    if is_cached(kernel_source(m), parallel=False):
        return machine.cached_load_seconds
    return machine.compile_seconds


def _tiles(spec: ConvSpec, m: int) -> tuple[int, int]:
    return -(-spec.out_spatial[0] // m), -(-spec.out_spatial[1] // m)


@functools.lru_cache(maxsize=1024)
def blocking(spec: ConvSpec, threads: int) -> tuple[int, int, int, int]:
    """``(seg, rows, kb, workers)`` of :func:`kernel_source` for ``threads`` threads.

    Tiles per segment, segments per block, weight rows per matrix product, and
    how many workers. A block holds about :data:`BLOCK_TILES` tiles, fewer
    where the workspace limit (each worker holds a block's transformed inputs
    and products beside the transformed weights) or OpenBLAS's single-thread
    size needs it.

    >>> from ndconv._shapes import conv_spec
    >>> blocking(conv_spec((16, 64, 56, 56), (64, 64, 3, 3), padding=1), 2)
    (14, 4, 64, 2)
    """
    m = tile_outputs(spec)
    # (At least 1: the planner also estimates specs that have no work.)
    per_in = max(1, spec.in_channels // spec.groups)
    per_out = max(1, spec.out_channels // spec.groups)
    tiles_h, tiles_w = (max(1, t) for t in _tiles(spec, m))
    fixed, per_slot = _workspace_terms(spec, m, threads)
    room = (get_workspace_limit() - fixed) // per_slot
    # Fewer tiles for many channels: the products stay single-threaded with at least
    # 16 weight rows each.
    limit = max(2, min(BLOCK_TILES, room, SINGLE_THREAD_GEMM // (16 * per_in)))
    # Segments of seg tiles and a phantom slot each, as even as the tile rows allow.
    segments = -(-tiles_w // (limit - 1))
    seg = -(-tiles_w // segments)
    rows = max(1, limit // (seg + 1))
    kb = max(1, min(per_out, SINGLE_THREAD_GEMM // (per_in * rows * (seg + 1))))
    blocks = -(-spec.batch * tiles_h * segments // rows)
    return seg, rows, kb, max(1, min(threads, blocks))


def _transformed_weights(w: np.ndarray, spec: ConvSpec, m: int, dtype: np.dtype) -> np.ndarray:
    """``G w G^T`` in float64, rounded once: ``(n * n, groups, C_out / groups, C_in / groups)``.

    Entry ``(i, j)`` is ``sum_ab G[i, a] G[j, b] w[a, b]``: a matrix product
    of the Kronecker product ``G (x) G`` with the flattened kernels, taken
    :data:`WEIGHT_CHUNK` kernels at a time (bounded temporaries, one BLAS thread).
    """
    n = m + 2
    kernels = w.reshape(-1, 9)
    u = np.empty((n * n, kernels.shape[0]), dtype)
    for start in range(0, kernels.shape[0], WEIGHT_CHUNK):
        part = kernels[start:start + WEIGHT_CHUNK].astype(np.float64)
        u[:, start:start + WEIGHT_CHUNK] = _kron(m) @ part.T
    per_out = spec.out_channels // spec.groups
    return u.reshape(n * n, spec.groups, per_out, w.shape[1])


#: Kernels transformed per matrix product: small enough (36 x 9 x 512) that OpenBLAS
#: computes it on the calling thread; waking its threads would leave them spinning
#: beside the workers for a while.
WEIGHT_CHUNK = 512


@functools.lru_cache(maxsize=2)
def _kron(m: int) -> np.ndarray:
    _, g, _ = transforms(m)
    return np.kron(g, g)


def _layout(spec: ConvSpec) -> tuple[int, int, int, int, int]:
    """``(m, seg, rows, kb, workers)`` for ``spec`` with the current thread setting."""
    m = tile_outputs(spec)
    seg, rows, kb, workers = blocking(spec, kernel_threads())
    return m, seg, rows, kb, workers


def _slots(spec: ConvSpec, m: int, seg: int, rows: int) -> int:
    """Tile slots computed, phantoms and the last block's empty segments included."""
    tiles_h, tiles_w = _tiles(spec, m)
    units = spec.batch * tiles_h * -(-tiles_w // seg)
    return -(-units // rows) * rows * (seg + 1)


def _workspace_terms(spec: ConvSpec, m: int, workers: int) -> tuple[int, int]:
    """Workspace bytes as ``fixed + per_slot * span`` for blocks of ``span`` tile slots.

    Fixed: the transformed weights and their float64 temporaries, a padded copy
    for modes other than zeros, and per worker a little beyond its buffers;
    per slot: each worker's transformed inputs and products, and its scratch.
    """
    n, itemsize = m + 2, spec.dtype.itemsize
    kernels = spec.out_channels * (spec.in_channels // spec.groups)
    weights = n * n * kernels * itemsize + min(kernels, WEIGHT_CHUNK) * (n * n + 9) * 8
    channels = spec.in_channels + spec.out_channels
    scratch = 4 * n * m + 2 * m * m  # the kernel's lines, phases, and partial sums per slot
    per_slot = workers * (n * n * channels + scratch) * itemsize
    # Each buffer row's 32 extra slots and alignment; the scratch's extra 33 slots.
    slack = workers * ((2 * n * n * 32 + 33 * scratch) * itemsize + 2 * n * n * 128)
    return weights + copied_padding_bytes(spec) + slack, per_slot


def winograd_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output, at most the workspace limit when the weights fit.

    The transformed weights (and their float64 temporaries), each worker's
    block of transformed inputs and products, and a padded copy for modes
    other than zeros.
    """
    m, seg, rows, _, workers = _layout(spec)
    fixed, per_slot = _workspace_terms(spec, m, workers)
    return fixed + per_slot * rows * (seg + 1)


def winograd_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Transforms of every tile slot and the products by BLAS, shared among the workers.

    Products with few weight rows or input channels per group (the thinner of
    ``kb`` and ``C_in / groups``) run below BLAS's full speed.
    """
    m, seg, rows, kb, workers = _layout(spec)
    n = m + 2
    slots = _slots(spec, m, seg, rows)
    per_in = spec.in_channels // spec.groups
    scale = spec.dtype.itemsize / 4
    thinnest = max(1, min(kb, per_in))
    efficiency = min(1.0, thinnest / machine.winograd_full_speed_size) ** 0.6
    products = n * n * spec.out_channels * per_in * slots * machine.winograd_seconds_per_mac
    terms = n * n * n * slots  # transformed values times the terms summed into each
    transforms_ = terms * (spec.in_channels * machine.winograd_seconds_per_input_term
                           + spec.out_channels * machine.winograd_seconds_per_output_term)
    return (
        (products / efficiency + transforms_) * scale / workers
        + spec.out_channels * per_in * machine.winograd_seconds_per_weight
        + copied_padding_bytes(spec) * machine.copy_seconds_per_byte
        + machine.winograd_seconds_per_call
    )


def _thread_buffer(points: int, size: int, dtype: np.dtype) -> np.ndarray:
    """``(points, >= size + 32)``, whose rows lie an odd number of 64-byte lines apart.

    A transform touches every point of a tile at once; rows a multiple of 4 KiB
    (or of 512 bytes...) apart would all compete for a few sets of the L1 cache.
    """
    lines = -(-(size + 32) * dtype.itemsize // 64)
    return np.zeros((points, (lines | 1) * 64 // dtype.itemsize), dtype)


def correlate_winograd(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under 3x3 ``w`` by Winograd's minimal filtering.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`,
    for the specs :func:`supports_winograd` accepts. Workers take blocks of
    tiles through the compiled kernel (see :func:`kernel_source`).

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(25.0).reshape(1, 1, 5, 5)
    >>> kernel = np.ones((1, 1, 3, 3))
    >>> np.round(correlate_winograd(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0], 9)
    array([[ 54.,  63.,  72.],
           [ 99., 108., 117.],
           [144., 153., 162.]])
    """
    dtype = np.result_type(x, w)
    m = tile_outputs(spec)
    n = m + 2
    if out is None:
        out = np.empty((spec.batch, spec.out_channels, *spec.out_spatial), dtype=dtype)
    if spec.padding_mode == "zeros":
        source, (lo_h, lo_w) = np.ascontiguousarray(x), (lo for lo, _ in spec.padding)
    else:
        source, lo_h, lo_w = np.ascontiguousarray(pad(x, spec.padding, spec.padding_mode)), 0, 0
    _, seg, rows, kb, workers = _layout(spec)
    span = (seg + 1) * rows
    u = _transformed_weights(w, spec, m, dtype)
    at, _, bt = (a.astype(dtype) for a in transforms(m))
    kernel = _kernel(kernel_source(m), "winograd")

    def work(i: int) -> None:
        # Each worker gets its own array objects: numba counts references to the
        # arrays it slices, and workers sharing one counter would stall each other.
        kernel(source.view(), u.view(), out.view(), lo_h, lo_w, seg, rows, kb, at.view(),
               bt.view(), _thread_buffer(n * n, spec.in_channels * span, dtype),
               _thread_buffer(n * n, spec.out_channels * span, dtype), i, workers)

    run_workers(work, workers)
    _READY.add((m, dtype))
    return out
