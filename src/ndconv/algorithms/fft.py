"""Convolution by FFT: products of spectra instead of sums of products.

A correlation is a convolution with the kernel flipped, and a convolution is a
product in the frequency domain. With the padded input of size ``P`` and the
dilated, flipped kernel of extent ``E``, a circular convolution of any length
``L >= P`` agrees with the linear one at the indices ``E - 1 ... P - 1``,
which are exactly the "valid" correlation outputs; the stride then keeps every
``s``-th of them. Spectra are taken once per input channel and once per
kernel, and the channel sum is done on the spectra, so each output channel
costs one inverse transform.

Transform lengths come from ``scipy.fft.next_fast_len``; real inputs use real
transforms. The rounding error is normwise (relative to the largest values),
not per element like the direct sum, so small outputs next to large ones lose
accuracy, and one NaN or Inf spreads to every output. ``"auto"`` therefore
runs :func:`fft_guard` on the caller's arrays first and computes directly
when the data are integers, not finite, or span a wide range of magnitudes.
Requested by name, FFT still never sees NaN or Inf: its registry entry sets
``spreads_nonfinite``, and the planner sends such data to an algorithm that
keeps them local.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft

from .._limits import get_workspace_limit
from .._padding import dilate, pad
from .._shapes import ConvSpec, spatial_volume
from .._threads import get_num_threads
from .costs import DEFAULT_MACHINE, MachineModel, padded_bytes


def transform_shape(spec: ConvSpec, real: bool) -> tuple[int, ...]:
    """FFT lengths: each tile's input extent, rounded up to a fast length.

    Without tiling a tile is the whole padded input.

    >>> from ndconv._shapes import conv_spec
    >>> transform_shape(conv_spec((1, 1, 1000), (1, 1, 63)), real=True)
    (1000,)
    >>> transform_shape(conv_spec((1, 1, 1021, 97), (1, 1, 3, 3), padding=1), real=True)
    (1024, 100)
    >>> transform_shape(conv_spec((1, 1, 1_000_000), (1, 1, 127)), real=True)
    (2430,)
    """
    tile = tile_outputs(spec)
    return tuple(
        scipy.fft.next_fast_len(_tile_extent(t, s, e), real=real)
        for t, s, e in zip(tile, spec.stride, spec.effective_kernel)
    )


def _tile_extent(outputs: int, stride: int, extent: int) -> int:
    """Input elements that ``outputs`` consecutive outputs read."""
    return (outputs - 1) * stride + extent


@functools.lru_cache(maxsize=1024)
def tile_outputs(spec: ConvSpec) -> tuple[int, ...]:
    """Outputs per tile along each axis (overlap-save); the whole axis when tiling does not pay.

    A transform of length ``L`` gives ``(L - E) // s + 1`` outputs of a kernel
    of extent ``E``, so long axes are cut into tiles whose length minimises
    transform work per output, ``L log L / outputs``: about 8 to 16 kernel
    extents. Tiles also keep the spectra in cache and the workspace small.

    >>> from ndconv._shapes import conv_spec
    >>> tile_outputs(conv_spec((1, 1, 1_000_000), (1, 1, 127)))
    (2304,)
    >>> tile_outputs(conv_spec((1, 1, 300, 300), (1, 1, 31, 31)))
    (270, 270)
    """
    tiles = []
    for n, s, e in zip(spec.out_spatial, spec.stride, spec.effective_kernel):
        whole = _tile_extent(n, s, e)
        best, best_cost = n, _transform_work(whole)
        length = scipy.fft.next_fast_len(4 * e, real=True)
        while length < whole:
            outputs = (length - e) // s + 1
            cost = -(-n // outputs) * (_transform_work(length) + _TILE_OVERHEAD)
            if cost < best_cost:
                best, best_cost = outputs, cost
            length = scipy.fft.next_fast_len(length + 1, real=True)
        tiles.append(best)
    return tuple(tiles)


# Transform work a tile costs beyond its arithmetic (bookkeeping, cache misses), in
# the units of _transform_work: makes many tiny tiles lose to fewer larger ones.
_TILE_OVERHEAD = 2000


def _transform_work(length: int) -> float:
    return length * max(math.log2(length), 1.0)


def _weight_spectra(w: np.ndarray, spec: ConvSpec, lengths: tuple[int, ...], real: bool
                    ) -> np.ndarray:
    """Spectra of the dilated, flipped kernels, laid out ``(*F, G, Cin_g, Cout_g)``."""
    ndim, groups = spec.ndim, spec.groups
    per_in, per_out = spec.in_channels // groups, spec.out_channels // groups
    flipped = dilate(w, spec.dilation)[(..., *(slice(None, None, -1),) * ndim)]
    w_grouped = flipped.reshape(groups, per_out, per_in, *flipped.shape[2:])
    w_first = np.moveaxis(w_grouped, (0, 1, 2), (ndim, ndim + 2, ndim + 1))
    return _padded_forward(w_first, lengths, real)


def _padded_forward(a: np.ndarray, lengths: tuple[int, ...], real: bool) -> np.ndarray:
    """``rfftn``/``fftn`` of ``a`` zero-padded to ``lengths`` on its leading axes, pruned.

    One axis at a time, last first: each 1-D transform only runs over the
    extent of the other axes that is not yet padding. For a kernel much
    smaller than the transform this skips most of the work of a plain ``rfftn``
    (which transforms every padded row), with the same result.
    """
    workers = get_num_threads()
    last = len(lengths) - 1
    spectrum = (scipy.fft.rfft if real else scipy.fft.fft)(
        a, n=lengths[last], axis=last, workers=workers)
    for axis in range(last - 1, -1, -1):
        spectrum = scipy.fft.fft(spectrum, n=lengths[axis], axis=axis, workers=workers)
    return spectrum


def _valid_correlation(padded: np.ndarray, w_spectra: np.ndarray, spec: ConvSpec,
                       lengths: tuple[int, ...], outputs: tuple[int, ...], real: bool
                       ) -> np.ndarray:
    """The first ``outputs`` strided outputs of the valid correlation of ``padded``.

    ``padded`` is ``(B, C_in, *extent)``, already padded; the result is
    ``(B, C_out, *outputs)``.
    """
    ndim, groups = spec.ndim, spec.groups
    per_in = spec.in_channels // groups
    batch = padded.shape[0]
    inverse = scipy.fft.irfftn if real else scipy.fft.ifftn
    # Spatial axes first, so the spectra come out as (*F, G, B, Cin_g): the channel sum
    # is then a product of contiguous matrices per frequency.
    grouped = padded.reshape(batch, groups, per_in, *padded.shape[2:])
    x_first = np.moveaxis(grouped, (0, 1, 2), (ndim + 1, ndim, ndim + 2))
    x_spectra = _padded_forward(x_first, lengths, real)
    # With one input channel per group the product needs no matrices: broadcast it.
    y_spectra = x_spectra * w_spectra if per_in == 1 else np.matmul(x_spectra, w_spectra)
    full = inverse(y_spectra, s=lengths, axes=tuple(range(ndim)),
                   workers=get_num_threads())  # (*L, G, B, Cout_g)
    valid = tuple(
        slice(e - 1, e - 1 + (n - 1) * s + 1, s)
        for e, n, s in zip(spec.effective_kernel, outputs, spec.stride)
    )
    return np.moveaxis(full[valid], (ndim, ndim + 1, ndim + 2), (1, 0, 2)).reshape(
        batch, spec.out_channels, *outputs)


def correlate_fft(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` through products of spectra.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`.
    Long axes are cut into overlapping tiles (overlap-save, see
    :func:`tile_outputs`), transformed together as a batch, a slice of tiles
    at a time so the spectra stay under the workspace limit.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> np.round(correlate_fft(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0, 0], 9)
    array([-5., -5., -5.])
    """
    dtype = np.result_type(x, w)
    real = dtype.kind != "c"
    ndim = spec.ndim
    lengths = transform_shape(spec, real)
    tile = tile_outputs(spec)
    w_spectra = _weight_spectra(w, spec, lengths, real)
    padded = pad(x, spec.padding, spec.padding_mode)
    if out is None:
        out = np.empty((spec.batch, spec.out_channels, *spec.out_spatial), dtype=dtype)
    if tile == spec.out_spatial:
        out[...] = _valid_correlation(padded, w_spectra, spec, lengths, tile, real)
        return out
    counts = tuple(-(-n // t) for n, t in zip(spec.out_spatial, tile))
    # Zeros past the end, so the last tiles are whole (their extra outputs are dropped).
    needed = [_tile_extent(c * t, s, e)
              for c, t, s, e in zip(counts, tile, spec.stride, spec.effective_kernel)]
    tails = [(0, max(n - p, 0)) for n, p in zip(needed, padded.shape[2:])]
    padded = np.pad(padded[(..., *(slice(n) for n in needed))], [(0, 0), (0, 0), *tails])
    extents = [_tile_extent(t, s, e) for t, s, e in zip(tile, spec.stride, spec.effective_kernel)]
    tiles = np.lib.stride_tricks.as_strided(
        padded,
        (*padded.shape[:2], *counts, *extents),
        (*padded.strides[:2], *(st * t * s for st, t, s in zip(padded.strides[2:], tile,
                                                                spec.stride)),
         *padded.strides[2:]),
        writeable=False,
    )
    # A slice of the first tile axis at a time, as many as fit the workspace limit.
    per_tile = spec.batch * (spec.in_channels + spec.out_channels) * math.prod(lengths) * 16
    step = max(1, min(counts[0], get_workspace_limit() // max(3 * per_tile * math.prod(counts[1:]),
                                                              1)))
    for start in range(0, counts[0], step):
        part = tiles[:, :, start : start + step]
        taken = part.shape[2]
        # (N, C, *counts, *extent) -> (N * tiles, C, *extent): tiles become the batch.
        batch = np.moveaxis(part, 1, 1 + ndim).reshape(-1, spec.in_channels, *extents)
        y = _valid_correlation(batch, w_spectra, spec, lengths, tile, real)
        # (N, *counts, C_out, *tile) -> (N, C_out, count_0, tile_0, count_1, tile_1, ...)
        y = y.reshape(spec.batch, taken, *counts[1:], spec.out_channels, *tile)
        order = [0, 1 + ndim, *(v for i in range(ndim) for v in (1 + i, 2 + ndim + i))]
        y = y.transpose(order).reshape(
            spec.batch, spec.out_channels, taken * tile[0],
            *(c * t for c, t in zip(counts[1:], tile[1:])))
        first = start * tile[0]
        rows = min(taken * tile[0], spec.out_spatial[0] - first)
        out[:, :, first : first + rows] = y[(..., slice(rows),
                                             *(slice(n) for n in spec.out_spatial[1:]))]
    return out


#: Largest ratio between the biggest and the smallest non-zero local magnitude of the
#: input that ``auto`` sends through FFT. The error is about eps * (largest magnitude),
#: so outputs in the quietest region keep a relative accuracy of about eps * ratio:
#: 6e-5 in float32, 1e-8 in float64 (componentwise, against |x| * |w|).
DYNAMIC_RANGE_LIMIT = {4: 1e3, 8: 1e8}


def local_dynamic_range(x: np.ndarray, tile: tuple[int, ...]) -> float:
    """Largest over smallest non-zero tile maximum of ``|x|`` on its trailing axes.

    Tiles have the kernel's extent, so each output window sees about one tile;
    all-zero tiles are left out (their outputs are zero up to the global
    rounding error).

    >>> x = np.ones((1, 1, 8, 8)); x[..., 4:, :] = 1e-6
    >>> float(local_dynamic_range(x, (2, 2)))
    1000000.0
    >>> float(local_dynamic_range(np.zeros((1, 1, 4)), (2,)))
    1.0
    """
    magnitude = np.abs(x)
    lead = x.ndim - len(tile)
    pads = [(0, 0)] * lead + [(0, -n % t) for n, t in zip(x.shape[lead:], tile)]
    magnitude = np.pad(magnitude, pads)
    split = magnitude.reshape(
        *x.shape[:lead], *(v for n, t in zip(magnitude.shape[lead:], tile) for v in (n // t, t))
    )
    maxima = split.max(axis=tuple(range(lead + 1, split.ndim, 2)))
    nonzero = maxima[maxima > 0]
    return float(nonzero.max() / nonzero.min()) if nonzero.size else 1.0


def fft_guard(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> str | None:
    """Why ``auto`` must not compute this convolution by FFT, or None when it may.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> spec = conv_spec((1, 1, 64), (1, 1, 31))
    >>> fft_guard(np.ones((1, 1, 64)), np.ones((1, 1, 31)), spec) is None
    True
    >>> fft_guard(np.full((1, 1, 64), np.nan), np.ones((1, 1, 31)), spec)
    'non-finite values: FFT would spread them to every output'
    """
    if x.dtype.kind in "biu" or w.dtype.kind in "biu":
        return "integer inputs: direct sums of integers are exact, FFT products are not"
    if not (np.isfinite(x).all() and np.isfinite(w).all()):
        return "non-finite values: FFT would spread them to every output"
    limit = DYNAMIC_RANGE_LIMIT.get(spec.dtype.itemsize, DYNAMIC_RANGE_LIMIT[8])
    if local_dynamic_range(x, spec.effective_kernel) > limit:
        return f"input magnitudes span more than {limit:g}x: FFT would lose the small ones"
    return None


def _tile_count(spec: ConvSpec) -> int:
    return math.prod(-(-n // t) for n, t in zip(spec.out_spatial, tile_outputs(spec)))


def fft_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Transforms of every tile of every input and output channel, plus the channel sum."""
    size = spatial_volume(transform_shape(spec, real=True))
    tiles = _tile_count(spec)
    # A real transform does about half the 5 N log2 N flops of a complex one.
    per_transform = 2.5 * size * max(math.log2(size), 1)
    per_in = spec.in_channels // spec.groups
    transforms = tiles * spec.batch * (spec.in_channels + spec.out_channels) + (
        spec.out_channels * per_in)
    spectral_macs = tiles * spec.batch * spec.out_channels * per_in * size
    scale = spec.dtype.itemsize / 4
    return (
        transforms * per_transform * machine.fft_seconds_per_flop * scale
        + spectral_macs * 4 * machine.gemm_seconds_per_mac * scale
        + padded_bytes(spec) * machine.copy_seconds_per_byte
        + machine.fft_seconds_per_call
    )


def fft_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output: padded input, kernel spectra, a slice of tiles' spectra.

    Tiled runs hold as many tiles as fit the workspace limit (at least one
    slice), so this is at most about the limit plus the padded input.
    """
    size = spatial_volume(transform_shape(spec, real=True))
    complex_bytes = 2 * max(spec.dtype.itemsize, 4)
    kernels = spec.out_channels * (spec.in_channels // spec.groups) * size * complex_bytes
    # Input and output spectra plus the inverse transform, per tile.
    per_tile = spec.batch * (spec.in_channels + 2 * spec.out_channels) * size * complex_bytes
    tiles = _tile_count(spec)
    if tiles > 1:
        counts = [-(-n // t) for n, t in zip(spec.out_spatial, tile_outputs(spec))]
        slice_tiles = tiles // counts[0]
        fitting = max(1, get_workspace_limit() // max(3 * per_tile * slice_tiles, 1))
        tiles = min(counts[0], fitting) * slice_tiles * 2  # the tiles' copy and spectra
    return padded_bytes(spec) + kernels + per_tile * tiles
