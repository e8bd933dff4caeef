"""The vectorised NumPy algorithm: one batched matrix product per loop step.

The sum over kernel taps and the sum over output positions can be taken in
either order. When the kernel has fewer taps than the output has positions
(the usual forward pass), loop over taps: each tap is a strided view of the
padded input, and the channel contraction of all positions at once is one
matmul per group. When the kernel is larger (the weight gradient, whose
"kernel" is the output gradient), loop over output positions instead, each
a matmul of the patch against every kernel. Either way the Python loop runs
over the smaller of the two, and BLAS does the rest.
"""

from __future__ import annotations

import numpy as np

from .._padding import pad
from .._shapes import ConvSpec, spatial_volume
from .reference import window


def _tap_view(padded: np.ndarray, tap: tuple[int, ...], spec: ConvSpec) -> np.ndarray:
    """The input elements multiplied by kernel tap ``tap`` at every output position."""
    return padded[
        (
            ...,
            *(
                slice(t * d, t * d + (n - 1) * s + 1, s)
                for t, d, s, n in zip(tap, spec.dilation, spec.stride, spec.out_spatial)
            ),
        )
    ]


def _loop_over_taps(xg: np.ndarray, wg: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """(G, Cout_g, N * positions) accumulated one kernel tap at a time."""
    groups, out_per_group, in_per_group = wg.shape[:3]
    columns = spec.batch * spatial_volume(spec.out_spatial)
    acc = np.zeros((groups, out_per_group, columns), dtype=np.result_type(xg, wg))
    for tap in np.ndindex(*spec.kernel):
        # (N, G, Cin_g, *out) -> (G, Cin_g, N * positions): one copy of the view.
        view = _tap_view(xg, tap, spec)
        cols = np.moveaxis(view, 0, 2).reshape(groups, in_per_group, columns)
        acc += wg[(..., *tap)] @ cols
    return acc.reshape(groups, out_per_group, spec.batch, *spec.out_spatial)


def _loop_over_positions(xg: np.ndarray, wg: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """(G, Cout_g, N, *out) computed one output position at a time."""
    groups, out_per_group = wg.shape[:2]
    # (G, Cin_g * taps, Cout_g): every kernel of a group as columns of one matrix.
    kernels = wg.reshape(groups, out_per_group, -1).transpose(0, 2, 1)
    out = np.empty(
        (*spec.out_spatial, groups, spec.batch, out_per_group), dtype=np.result_type(xg, wg)
    )
    for position in np.ndindex(*spec.out_spatial):
        patch = xg[(..., *window(position, spec))]  # (N, G, Cin_g, *kernel)
        rows = patch.reshape(spec.batch, groups, -1).transpose(1, 0, 2)
        out[position] = rows @ kernels
    # (*out, G, N, Cout_g) -> (G, Cout_g, N, *out)
    flat = out.reshape(-1, groups, spec.batch, out_per_group).transpose(1, 3, 2, 0)
    return flat.reshape(groups, out_per_group, spec.batch, *spec.out_spatial)


def correlate_vectorized(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` with the loop over the shorter axis.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> correlate_vectorized(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0, 0]
    array([-5., -5., -5.])
    """
    shape = (spec.batch, spec.out_channels, *spec.out_spatial)
    padded = pad(x, spec.padding, spec.padding_mode)
    groups = spec.groups
    xg = padded.reshape(spec.batch, groups, spec.in_channels // groups, *padded.shape[2:])
    wg = w.reshape(groups, spec.out_channels // groups, *w.shape[1:])
    if spatial_volume(spec.kernel) <= spatial_volume(spec.out_spatial):
        result = _loop_over_taps(xg, wg, spec)
    else:
        result = _loop_over_positions(xg, wg, spec)
    # (G, Cout_g, N, *out) -> (N, G * Cout_g, *out)
    result = np.moveaxis(result, 2, 0).reshape(shape)
    if out is None:
        return result
    out[...] = result
    return out
