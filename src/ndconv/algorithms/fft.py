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
accuracy: the planner does not pick this algorithm by itself.
"""

from __future__ import annotations

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
    axes = tuple(range(2, 2 + spec.ndim))
    lengths = transform_shape(spec, real)
    forward, inverse = (scipy.fft.rfftn, scipy.fft.irfftn) if real else (
        scipy.fft.fftn, scipy.fft.ifftn)
    workers = get_num_threads()
    padded = pad(x, spec.padding, spec.padding_mode)
    flipped = dilate(w, spec.dilation)[(..., *(slice(None, None, -1),) * spec.ndim)]
    x_spectra = forward(padded, s=lengths, axes=axes, workers=workers)
    w_spectra = forward(flipped, s=lengths, axes=axes, workers=workers)
    groups = spec.groups
    per_in, per_out = spec.in_channels // groups, spec.out_channels // groups
    frequencies = x_spectra.shape[2:]
    # Sum over input channels on the spectra: (N, G, Cin_g, F) x (G, Cout_g, Cin_g, F).
    y_spectra = np.einsum(
        "ngcf,gocf->ngof",
        x_spectra.reshape(spec.batch, groups, per_in, -1),
        w_spectra.reshape(groups, per_out, per_in, -1),
    ).reshape(spec.batch, spec.out_channels, *frequencies)
    full = inverse(y_spectra, s=lengths, axes=axes, workers=workers)
    valid = tuple(
        slice(e - 1, e - 1 + (n - 1) * s + 1, s)
        for e, n, s in zip(spec.effective_kernel, spec.out_spatial, spec.stride)
    )
    if out is None:
        return np.ascontiguousarray(full[(..., *valid)], dtype=dtype)
    out[...] = full[(..., *valid)]
    return out


def fft_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Transforms of every input and output channel plus the spectral channel sum."""
    size = spatial_volume(transform_shape(spec, real=True))
    per_transform = 5 * size * max(np.log2(size), 1)
    transforms = spec.batch * (spec.in_channels + spec.out_channels) + spec.out_channels * (
        spec.in_channels // spec.groups
    )
    spectral_macs = spec.batch * spec.out_channels * (spec.in_channels // spec.groups) * size
    scale = spec.dtype.itemsize / 4
    return (
        transforms * per_transform * machine.fft_seconds_per_flop * scale
        + spectral_macs * 4 * machine.gemm_seconds_per_mac * scale
        + padded_bytes(spec) * machine.copy_seconds_per_byte
    )


def fft_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output: padded input, all spectra and the full inverse."""
    size = spatial_volume(transform_shape(spec, real=True))
    complex_bytes = 2 * max(spec.dtype.itemsize, 4)
    spectra = (spec.batch * (spec.in_channels + spec.out_channels)
               + spec.out_channels * (spec.in_channels // spec.groups)) * size * complex_bytes
    return padded_bytes(spec) + spectra + spec.batch * spec.out_channels * size * 8
