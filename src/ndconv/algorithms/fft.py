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
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from .._padding import dilate, pad
from .._shapes import ConvSpec, spatial_volume
from .._threads import get_num_threads
from .costs import DEFAULT_MACHINE, MachineModel, padded_bytes


def transform_shape(spec: ConvSpec, real: bool) -> tuple[int, ...]:
    """FFT lengths: the padded input's size, rounded up to a fast length.

    >>> from ndconv._shapes import conv_spec
    >>> transform_shape(conv_spec((1, 1, 1000), (1, 1, 63)), real=True)
    (1000,)
    >>> transform_shape(conv_spec((1, 1, 1021, 97), (1, 1, 3, 3), padding=1), real=True)
    (1024, 100)
    """
    return tuple(scipy.fft.next_fast_len(n, real=real) for n in spec.padded_spatial)


def correlate_fft(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` through products of spectra.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`.

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
    ndim, groups = spec.ndim, spec.groups
    per_in, per_out = spec.in_channels // groups, spec.out_channels // groups
    lengths = transform_shape(spec, real)
    forward, inverse = (scipy.fft.rfftn, scipy.fft.irfftn) if real else (
        scipy.fft.fftn, scipy.fft.ifftn)
    workers = get_num_threads()
    spatial = tuple(range(ndim))
    # Spatial axes first, so the spectra come out as (*F, G, N, Cin_g) and (*F, G, Cin_g,
    # Cout_g): the channel sum is then a product of contiguous matrices per frequency.
    padded = pad(x, spec.padding, spec.padding_mode).reshape(
        spec.batch, groups, per_in, *spec.padded_spatial)
    x_first = np.moveaxis(padded, (0, 1, 2), (ndim + 1, ndim, ndim + 2))
    flipped = dilate(w, spec.dilation)[(..., *(slice(None, None, -1),) * ndim)]
    w_grouped = flipped.reshape(groups, per_out, per_in, *flipped.shape[2:])
    w_first = np.moveaxis(w_grouped, (0, 1, 2), (ndim, ndim + 2, ndim + 1))
    x_spectra = forward(x_first, s=lengths, axes=spatial, workers=workers)
    w_spectra = forward(w_first, s=lengths, axes=spatial, workers=workers)
    # With one input channel per group the product needs no matrices: broadcast it.
    y_spectra = x_spectra * w_spectra if per_in == 1 else np.matmul(x_spectra, w_spectra)
    full = inverse(y_spectra, s=lengths, axes=spatial, workers=workers)  # (*L, G, N, Cout_g)
    valid = tuple(
        slice(e - 1, e - 1 + (n - 1) * s + 1, s)
        for e, n, s in zip(spec.effective_kernel, spec.out_spatial, spec.stride)
    )
    result = np.moveaxis(full[valid], (ndim, ndim + 1, ndim + 2), (1, 0, 2)).reshape(
        spec.batch, spec.out_channels, *spec.out_spatial)
    if out is None:
        return np.ascontiguousarray(result, dtype=dtype)
    out[...] = result
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


def fft_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Transforms of every input and output channel plus the spectral channel sum."""
    size = spatial_volume(transform_shape(spec, real=True))
    # A real transform does about half the 5 N log2 N flops of a complex one.
    per_transform = 2.5 * size * max(math.log2(size), 1)
    transforms = spec.batch * (spec.in_channels + spec.out_channels) + spec.out_channels * (
        spec.in_channels // spec.groups
    )
    spectral_macs = spec.batch * spec.out_channels * (spec.in_channels // spec.groups) * size
    scale = spec.dtype.itemsize / 4
    return (
        transforms * per_transform * machine.fft_seconds_per_flop * scale
        + spectral_macs * 4 * machine.gemm_seconds_per_mac * scale
        + padded_bytes(spec) * machine.copy_seconds_per_byte
        + machine.fft_seconds_per_call
    )


def fft_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output: padded input, all spectra and the full inverse."""
    size = spatial_volume(transform_shape(spec, real=True))
    complex_bytes = 2 * max(spec.dtype.itemsize, 4)
    spectra = (spec.batch * (spec.in_channels + spec.out_channels)
               + spec.out_channels * (spec.in_channels // spec.groups)) * size * complex_bytes
    return padded_bytes(spec) + spectra + spec.batch * spec.out_channels * size * 8
