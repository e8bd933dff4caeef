"""Convolution as matrix multiplication: im2col into a bounded buffer, then BLAS.

For one group, the forward sum ``y[n, o, p] = sum_{c, t} w[o, c, t] * xpad[n, c, p*s + t*d]``
is a matrix product once the input elements are gathered into a matrix with
one row per reduction index ``(c, t)`` (input channel, kernel tap) and one
column per output position ``p`` (im2col)::

    y[n] (Cout_g x P) = W (Cout_g x Cin_g*T) @ cols[n] (Cin_g*T x P)

BLAS then does the arithmetic near the machine's peak. The gather is a
compiled loop (numba, through :mod:`._jit`; one per spatial rank) that reads
zero padding as zeros instead of copying a padded input. It fills one tile of
the matrix at a time (a range of samples and output positions, and of the
reduction where a single position is too large) into a buffer reused for
every tile. With several threads, each gathers and multiplies its own tiles,
with BLAS held to one thread: a parallel gather followed by a parallel BLAS
call measured 3-5x slower on two cores, each pool's idle threads spinning
while the other works. The buffers of all threads together never hold more
than ``ndconv.get_workspace_limit()`` bytes.

The gathered matrix has two layouts, chosen so the gather copies long runs:

- reduction along columns (the forward pass: few taps, many positions): each
  ``(c, t)`` row copies runs of output rows, and the product of each sample
  writes straight into ``out`` when it has enough positions;
- reduction along rows (the weight gradient's derived convolution, whose
  kernel is the output gradient: many taps, few positions): each
  ``(sample, position)`` row copies runs along the kernel's last axis, and
  ``rows @ W.T`` lands in a small buffer that is transposed into ``out``.

A 1x1 kernel with stride 1 and no padding needs no gather: it is a matrix
product over the channel axis of ``x`` itself.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._limits import get_workspace_limit
from .._padding import pad
from .._shapes import ConvSpec, spatial_volume
from .._threads import kernel_threads, run_workers
from ._jit import compile_source, is_cached
from .costs import DEFAULT_MACHINE, MachineModel, copied_padding_bytes, multiply_adds
from .direct import SUPPORTED_DTYPES

#: Bytes of one thread's tile of the gathered matrix, when the workspace limit allows:
#: small enough to stay in the last-level cache from the gather to the product.
TILE_BYTES = 4 << 20
#: Output positions per sample from which each sample's product is written straight
#: into ``out``; with fewer, the samples of a tile share one wider product.
DIRECT_WIDTH = 256
#: The narrowest products worth making: columns (output positions) per tile, or rows
#: when the reduction runs along rows, below which the reduction is split instead.
#: Rows ask for more: their split parts only add up a small result, and wide
#: products spare BLAS repacking the long weight operand for every few rows.
MIN_COLUMNS = 64
MIN_ROWS = 512
#: Work from which tiles are shared among threads (handing them out costs ~0.1 ms).
PARALLEL_MULTIPLY_ADDS = 10_000_000

# (spatial rank, reduction along rows) -> gather dispatcher; and the (rank, layout,
# dtype) combinations that have run, so are compiled.
_COMPILED: dict[tuple[int, bool], Callable[..., None]] = {}
_READY: set[tuple[int, bool, np.dtype]] = set()
_COMPILE_LOCK = threading.Lock()


def _split(flat: str, names: list[str], sizes: list[str], indent: str) -> list[str]:
    """Lines setting ``names`` to the C-order multi-index of ``flat`` over ``sizes``."""
    if len(names) <= 1:
        return [f"{indent}{name} = {flat}" for name in names]
    lines = [f"{indent}rest = {flat}"]
    for name, size in zip(names[:0:-1], sizes[:0:-1]):
        lines += [f"{indent}{name} = rest % {size}", f"{indent}rest //= {size}"]
    return [*lines, f"{indent}{names[0]} = rest"]


def _advance(names: list[str], sizes: list[str], indent: str) -> list[str]:
    """Lines stepping the multi-index ``names`` (last fastest) to the next element."""
    lines = []
    for depth, name in enumerate(reversed(names)):
        lines.append(f"{indent}{name} += 1")
        if depth == len(names) - 1:
            break  # the outermost index is never wrapped
        size = sizes[len(names) - 1 - depth]
        lines += [f"{indent}if {name} == {size}:", f"{indent}    {name} = 0"]
        indent += "    "
    return lines


def _copy_run(ndim: int, step: str, indent: str) -> list[str]:
    """Lines writing one run ``j0 <= j < j1`` of the last axis to ``row[base + j]``.

    The run reads input row ``x[n, c, i0, i1, ...]`` at ``first + j * step``.
    A run whose leading indices fall in the zero padding is zeros; so is the
    part of the others outside ``valid_lo <= j < valid_hi``. Indices into the
    flattened input are cast to unsigned, so numba checks no wraparound and
    the copy vectorises.
    """
    last = ndim - 1
    at = "n * channels + c"
    for a in range(last):
        at = f"({at}) * m{a} + i{a}"
    copy = "row[np.uint64(base + j)] = flat[np.uint64(at + j{})]"
    zeros = [f"{indent}for j in range(base + j0, base + j1):",
             f"{indent}    row[np.uint64(j)] = 0"]
    inside = " and ".join(f"i{a} >= 0 and i{a} < m{a}" for a in range(last))
    head = []
    if inside:
        head = [f"{indent}if not ({inside}):", *("    " + line for line in zeros),
                f"{indent}else:"]
        indent += "    "
    return [
        *head,
        f"{indent}start = min(max(j0, valid_lo), j1)",
        f"{indent}stop = max(min(j1, valid_hi), start)",
        f"{indent}for j in range(base + j0, base + start):",
        f"{indent}    row[np.uint64(j)] = 0",
        f"{indent}at = ({at}) * m{last} + first",
        f"{indent}if {step} == 1:",
        f"{indent}    for j in range(start, stop):",
        f"{indent}        {copy.format('')}",
        f"{indent}else:",
        f"{indent}    for j in range(start, stop):",
        f"{indent}        {copy.format(f' * {step}')}",
        f"{indent}for j in range(base + stop, base + j1):",
        f"{indent}    row[np.uint64(j)] = 0",
    ]


def _valid_range(length: str, step: str, size: str, indent: str) -> list[str]:
    """Lines setting ``[valid_lo, valid_hi)``, the ``j < length`` reading inside ``[0, size)``."""
    return [
        f"{indent}valid_lo = min(max(0, -(first // {step})), {length})",
        f"{indent}valid_hi = max(min({length}, ({size} - 1 - first) // {step} + 1), valid_lo)",
    ]


@functools.lru_cache(maxsize=64)
def gather_source(ndim: int, by_rows: bool) -> str:
    """Python source of the im2col gather for ``ndim`` spatial dims, in one layout.

    The generated ``gather(x, cols, n0, q0, width, r0, stride, dilation, lo,
    kernel, outs)`` fills ``cols`` with the elements of ``x`` (zero-padded by
    ``lo`` in front of each spatial axis, implicitly behind) for the samples
    from ``n0`` (as many as ``cols`` holds), the ``width`` output positions from
    flat position ``q0``, and the flat reduction indices ``(channel, tap)`` from
    ``r0``. Reduction along columns: ``cols[r, b * width + q]``; along rows:
    ``cols[b * width + q, r]``. Either way it copies runs along the last axis
    (of the output, or of the kernel), stepping the leading indices from run to
    run instead of dividing a flat index for each.
    """
    last = ndim - 1
    lead = list(range(last))
    lines = [
        "def gather(x, cols, n0, q0, width, r0, stride, dilation, lo, kernel, outs):",
        *(f"    k{a} = kernel[{a}]" for a in range(ndim)),
        *(f"    o{a} = outs[{a}]" for a in range(ndim)),
        *(f"    m{a} = x.shape[{a + 2}]" for a in range(ndim)),
        *(f"    s{a} = stride[{a}]" for a in range(ndim)),
        *(f"    d{a} = dilation[{a}]" for a in range(ndim)),
        *(f"    l{a} = lo[{a}]" for a in range(ndim)),
        "    taps = " + " * ".join(f"k{a}" for a in range(ndim)),
        "    channels = x.shape[1]",
        "    flat = x.reshape(-1)",
    ]
    leading = [f"{'':16}i{a} = p{a} * s{a} + t{a} * d{a} - l{a}" for a in lead]
    if not by_rows:
        # Row (c, t): per sample, runs along output rows, the leading output indices stepped.
        lines += [
            "    samples = cols.shape[1] // width",
            "    for r in range(cols.shape[0]):",
            "        c = (r0 + r) // taps",
            *_split("r0 + r - c * taps", [f"t{a}" for a in range(ndim)],
                    [f"k{a}" for a in range(ndim)], " " * 8),
            f"        first = t{last} * d{last} - l{last}",
            *_valid_range(f"o{last}", f"s{last}", f"m{last}", " " * 8),
            "        row = cols[r]",
            "        for b in range(samples):",
            "            n = n0 + b",
            f"            line = q0 // o{last}",
            f"            j0 = q0 - line * o{last}",
            *_split("line", [f"p{a}" for a in lead], [f"o{a}" for a in lead], " " * 12),
            "            base = b * width - j0",
            "            left = width",
            "            while left > 0:",
            f"                j1 = min(o{last}, j0 + left)",
            *leading,
            *_copy_run(ndim, f"s{last}", " " * 16),
            "                left -= j1 - j0",
            f"                base += o{last}",
            "                j0 = 0",
            *_advance([f"p{a}" for a in lead], [f"o{a}" for a in lead], " " * 16),
        ]
        return "\n".join(lines) + "\n"
    # Row (sample, position): runs along the kernel's last axis, (c, leading taps) stepped.
    lines += [
        "    count = cols.shape[1]",
        "    for r in range(cols.shape[0]):",
        "        b = r // width",
        "        n = n0 + b",
        *_split("q0 + r - b * width", [f"p{a}" for a in range(ndim)],
                [f"o{a}" for a in range(ndim)], " " * 8),
        f"        first = p{last} * s{last} - l{last}",
        *_valid_range(f"k{last}", f"d{last}", f"m{last}", " " * 8),
        "        row = cols[r]",
        "        c = r0 // taps",
        f"        line = (r0 - c * taps) // k{last}",
        f"        j0 = r0 - c * taps - line * k{last}",
        *_split("line", [f"t{a}" for a in lead], [f"k{a}" for a in lead], " " * 8),
        "        base = -j0",
        "        left = count",
        "        while left > 0:",
        f"            j1 = min(k{last}, j0 + left)",
        *(line[4:] for line in leading),
        *_copy_run(ndim, f"d{last}", " " * 12),
        "            left -= j1 - j0",
        f"            base += k{last}",
        "            j0 = 0",
        *_advance(["c", *(f"t{a}" for a in lead)], ["", *(f"k{a}" for a in lead)], " " * 12),
    ]
    return "\n".join(lines) + "\n"


def _gather(ndim: int, by_rows: bool) -> Callable[..., None]:
    """The compiled gather for a rank and layout, compiling it on first use."""
    key = (ndim, by_rows)
    with _COMPILE_LOCK:
        if key not in _COMPILED:
            _COMPILED[key] = compile_source(gather_source(ndim, by_rows), False, "gather")
        return _COMPILED[key]


@dataclass(frozen=True)
class Tiling:
    """How :func:`correlate_gemm` cuts a convolution into products that fit the workspace.

    Attributes
    ----------
    by_rows : bool
        The gathered matrix holds the reduction along its rows (few positions).
    workers : int
        Threads working on tiles side by side, each with its own buffers.
    groups : int
        Groups per tile.
    reduction : int
        Reduction indices ``(channel, tap)`` per group per tile; fewer than the
        group's ``Cin_g * taps`` only when one position alone would not fit.
    samples, width : int
        Samples per tile, and output positions per sample (all of them when
        ``samples > 1``).
    direct : bool
        Each sample's product is written straight into ``out``.
    result : int
        Elements of each worker's buffer for products that are not direct.
    """

    by_rows: bool
    workers: int
    groups: int
    reduction: int
    samples: int
    width: int
    direct: bool
    result: int

    @property
    def columns(self) -> int:
        """Elements of each worker's gathered-matrix buffer."""
        return self.groups * self.reduction * self.samples * self.width

    def tiles(self, spec: ConvSpec) -> list[tuple[int, int, int]]:
        """The ``(first group, first sample, first position)`` of every tile."""
        positions = spatial_volume(spec.out_spatial)
        return list(itertools.product(range(0, spec.groups, self.groups),
                                      range(0, spec.batch, self.samples),
                                      range(0, positions, self.width)))


def is_pointwise(spec: ConvSpec) -> bool:
    """A 1x1 kernel, stride 1, no padding: a matrix product over channels, nothing gathered."""
    return (
        all(k == 1 for k in spec.kernel)
        and all(s == 1 for s in spec.stride)
        and not any(lo or hi for lo, hi in spec.padding)
    )


@functools.lru_cache(maxsize=1024)
def _tiling(spec: ConvSpec, limit: int, threads: int) -> Tiling:
    # Sizes of at least one, so specs with no work (which never run) still get a tiling.
    out_per_group = max(1, spec.out_channels // spec.groups)
    positions, taps = max(1, spatial_volume(spec.out_spatial)), spatial_volume(spec.kernel)
    reduction = max(1, spec.in_channels // spec.groups * taps)
    batch = max(1, spec.batch)
    by_rows = taps > positions
    direct = not by_rows and positions >= DIRECT_WIDTH
    workers = threads if multiply_adds(spec) >= PARALLEL_MULTIPLY_ADDS else 1
    budget = max(1, min(limit // workers, TILE_BYTES) // spec.dtype.itemsize)

    def per_column(groups: int, reduction: int, direct: bool) -> int:
        # Buffer elements per column (output position of one sample): gathered + result.
        return groups * (reduction + (0 if direct else out_per_group))

    # Products at least this wide (or each worker's share, if less), splitting the
    # reduction into summed parts if the whole one does not fit so many columns.
    narrowest = min(-(-batch * positions // workers), MIN_ROWS if by_rows else MIN_COLUMNS)
    if per_column(spec.groups, reduction, direct) * narrowest <= budget:
        groups = spec.groups
    elif per_column(1, reduction, direct) * narrowest <= budget:
        groups = budget // (per_column(1, reduction, direct) * narrowest)
    else:
        groups, direct = 1, False
        narrowest = max(1, min(narrowest, budget // (2 * out_per_group)))
        reduction = max(1, budget // narrowest - out_per_group)
    columns = max(1, budget // per_column(groups, reduction, direct))
    if columns >= positions:
        samples, width = min(batch, columns // positions), positions
        # Round the tiles up to a multiple of the workers, so none waits at the end.
        count = -(-batch // samples) * -(-spec.groups // groups)
        count = -(-count // workers) * workers
        samples = -(-batch // max(1, count // -(-spec.groups // groups)))
    else:
        samples, width = 1, columns
    tiles = -(-spec.groups // groups) * -(-batch // samples) * -(-positions // width)
    workers = min(workers, tiles)
    result = 0 if direct else groups * out_per_group * samples * width
    return Tiling(by_rows, workers, groups, reduction, samples, width, direct, result)


def tiling(spec: ConvSpec) -> Tiling:
    """The tiles :func:`correlate_gemm` works in under the current workspace limit.

    >>> from ndconv._shapes import conv_spec
    >>> spec = conv_spec((16, 64, 56, 56), (64, 64, 3, 3), padding=1, dtype=np.dtype("float32"))
    >>> t = tiling(spec)
    >>> t.by_rows, t.direct, t.samples, t.columns * 4 <= TILE_BYTES
    (False, True, 1, True)
    """
    return _tiling(spec, get_workspace_limit(), kernel_threads())


def supports_gemm(spec: ConvSpec) -> bool:
    """Whether the gather compiles for ``spec``'s dtype (floats and complex; BLAS does the rest)."""
    return spec.dtype in SUPPORTED_DTYPES


def gemm_workspace(spec: ConvSpec) -> int:
    """Bytes allocated beyond the output: every worker's buffers and the padded copy, if any."""
    if is_pointwise(spec):
        return 0
    t = tiling(spec)
    return t.workers * (t.columns + t.result) * spec.dtype.itemsize + copied_padding_bytes(spec)


def gemm_setup(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """One-time cost before the gather for ``spec`` can run: compile or cache load."""
    if is_pointwise(spec):
        return 0.0
    by_rows = tiling(spec).by_rows
    if (spec.ndim, by_rows, spec.dtype) in _READY:
        return 0.0
    if is_cached(gather_source(spec.ndim, by_rows), parallel=False):
        return machine.cached_load_seconds
    return machine.compile_seconds


def gemm_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Estimated seconds: BLAS arithmetic and the gather, shared by the workers, plus overheads.

    The arithmetic runs at one BLAS thread's rate, slowed when the products
    are thin (a dimension below ``gemm_full_speed_size``); the gather costs
    per byte written and per run of the last axis copied.
    """
    out_per_group = spec.out_channels // spec.groups
    itemsize = spec.dtype.itemsize
    scale = itemsize / 4 * (2 if spec.dtype.kind == "c" else 1)
    positions, taps = spatial_volume(spec.out_spatial), spatial_volume(spec.kernel)
    macs = multiply_adds(spec)
    if is_pointwise(spec):  # one product per sample and group, on BLAS's own threads
        workers = kernel_threads()
        thinnest = min(out_per_group, spec.in_channels // spec.groups, positions)
        products, gather, moved = spec.batch * spec.groups, 0.0, 0
    else:
        t = tiling(spec)
        workers = t.workers
        full = spec.in_channels // spec.groups * taps
        parts = -(-full // t.reduction)  # reduction split into parts whose products are summed
        columns = t.width if t.direct else t.samples * t.width
        thinnest = min(out_per_group, t.reduction, columns)
        products = len(t.tiles(spec)) * parts * (t.samples if t.direct else 1)
        gathered = spec.batch * positions * spec.in_channels * taps
        run = spec.kernel[-1] if t.by_rows else spec.out_spatial[-1]
        gather = (gathered * itemsize * machine.gather_seconds_per_byte
                  + gathered // run * machine.gather_seconds_per_run)
        moved = 0 if t.direct else parts * spec.batch * spec.out_channels * positions * itemsize
    efficiency = min(1.0, max(thinnest, 1) / machine.gemm_full_speed_size) ** 0.8
    return (
        (macs * machine.gemm_seconds_per_mac * scale / efficiency + gather
         + moved * machine.copy_seconds_per_byte
         + products * machine.gemm_seconds_per_product) / workers
        + copied_padding_bytes(spec) * machine.copy_seconds_per_byte
        + workers * machine.gemm_seconds_per_worker
    )


# BLAS held to one thread while any call's workers run: (calls inside, the limiter
# that restores the caller's setting when the last one leaves). Counted, so that
# overlapping calls from several threads restore the setting from before the first.
_SERIAL: list[Any] = [0, None]
_SERIAL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _blas_libraries() -> Any:
    """The loaded BLAS libraries, as threadpoolctl sees them (finding them costs ~0.1 ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def _serial_blas() -> Iterator[None]:
    """BLAS on one thread in this block, while several workers run their own products.

    The setting is process-wide (BLAS has no other), so other threads' NumPy
    products run on one thread meanwhile too.
    """
    with _SERIAL_LOCK:
        if _SERIAL[0] == 0:
            _SERIAL[1] = _blas_libraries().limit(limits=1, user_api="blas")
        _SERIAL[0] += 1
    try:
        yield
    finally:
        with _SERIAL_LOCK:
            _SERIAL[0] -= 1
            if _SERIAL[0] == 0:
                _SERIAL[1].restore_original_limits()


def _run_tiles(
    tiles: Iterator[tuple[int, int, int]],
    source: np.ndarray,
    weights: np.ndarray,
    out4: np.ndarray,
    spec: ConvSpec,
    t: Tiling,
    params: list[np.ndarray],
) -> None:
    """One worker: take tiles until none are left; gather each, multiply into ``out4``."""
    groups, batch = spec.groups, spec.batch
    out_per_group, reduction = weights.shape[1], weights.shape[2]
    positions = out4.shape[3]
    columns = np.empty(t.columns, dtype=out4.dtype)
    result = np.empty(t.result, dtype=out4.dtype)
    gather = _gather(spec.ndim, t.by_rows)
    for g0, n0, q0 in tiles:
        gs, ns = min(t.groups, groups - g0), min(t.samples, batch - n0)
        width = min(t.width, positions - q0)
        m = ns * width
        # (ns, gs, Cout_g, width): where this tile's products belong.
        target = out4[n0:n0 + ns, g0:g0 + gs, :, q0:q0 + width]
        for r0 in range(0, reduction, t.reduction):
            rs = min(t.reduction, reduction - r0)
            w_tile = weights[g0:g0 + gs, :, r0:r0 + rs]  # (gs, Cout_g, rs)
            cols = columns[:m * gs * rs].reshape((m, gs * rs) if t.by_rows else (gs * rs, m))
            gather(source, cols, n0, q0, width, g0 * reduction + r0, *params)
            if t.by_rows:
                # (gs, m, rs) @ (gs, rs, Cout_g) -> (gs, m, Cout_g)
                product = np.matmul(
                    cols.reshape(m, gs, rs).transpose(1, 0, 2), w_tile.transpose(0, 2, 1),
                    out=result[:gs * m * out_per_group].reshape(gs, m, out_per_group),
                )
                values = product.reshape(gs, ns, width, out_per_group).transpose(1, 0, 3, 2)
            elif t.direct:
                # (gs, 1, Cout_g, rs) @ (gs, ns, rs, width) -> (gs, ns, Cout_g, width)
                np.matmul(w_tile[:, None], cols.reshape(gs, rs, ns, width).transpose(0, 2, 1, 3),
                          out=target.transpose(1, 0, 2, 3))
                continue
            else:
                product = np.matmul(
                    w_tile, cols.reshape(gs, rs, m),
                    out=result[:gs * out_per_group * m].reshape(gs, out_per_group, m),
                )
                values = product.reshape(gs, out_per_group, ns, width).transpose(2, 0, 1, 3)
            if r0 == 0:
                target[...] = values
            else:
                target += values


def correlate_gemm(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` by gathered tiles and BLAS matrix products.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`.
    Zero padding is read inside the gather; the other padding modes are copied
    first. With several threads (``ndconv.set_num_threads``), each thread
    gathers and multiplies its own tiles with BLAS on one thread: one pool of
    busy threads, where a parallel gather followed by a parallel BLAS would
    leave each pool's idle threads spinning against the other's.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> correlate_gemm(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0, 0]
    array([-5., -5., -5.])
    """
    dtype = np.result_type(x, w)
    batch, groups = spec.batch, spec.groups
    out_per_group = spec.out_channels // groups
    positions = spatial_volume(spec.out_spatial)
    if out is None:
        out = np.empty((batch, spec.out_channels, *spec.out_spatial), dtype=dtype)
    weights = np.ascontiguousarray(w).reshape(groups, out_per_group, -1)  # (G, Cout_g, R)
    out4 = out.reshape(batch, groups, out_per_group, positions)
    if is_pointwise(spec):
        np.matmul(weights, x.reshape(batch, groups, -1, positions), out=out4)
        return out
    if spec.padding_mode == "zeros":
        source, lo = np.ascontiguousarray(x), [lo for lo, _ in spec.padding]
    else:
        source, lo = np.ascontiguousarray(pad(x, spec.padding, spec.padding_mode)), [0] * spec.ndim
    t = tiling(spec)
    params = [np.array(v, dtype=np.int64)
              for v in (spec.stride, spec.dilation, lo, spec.kernel, spec.out_spatial)]
    args = (source, weights, out4, spec, t, params)
    if t.workers == 1:
        _run_tiles(iter(t.tiles(spec)), *args)
    else:
        shared, lock = iter(t.tiles(spec)), threading.Lock()

        def claim() -> Iterator[tuple[int, int, int]]:
            # Tiles are handed out one at a time, so a worker slowed down takes fewer.
            while True:
                with lock:
                    tile = next(shared, None)
                if tile is None:
                    return
                yield tile

        with _serial_blas():
            # The caller works too: if the helpers are busy with another call's
            # tiles, it takes all of its own, and theirs find none left.
            run_workers(lambda _: _run_tiles(claim(), *args), t.workers)
    _READY.add((spec.ndim, t.by_rows, dtype))
    return out
