"""Gradients of a convolution, each computed as another forward convolution.

Write the forward pass of one group, per spatial dim, as::

    y[n, o, p] = sum_{c, t} w[o, c, t] * xpad[n, c, p*s + t*d]

Input gradient: fix a padded position ``q = p*s + t*d``. Its gradient sums
``w[o, c, t] * dy[n, o, p]`` over the taps ``t`` that reach it. Spreading
``dy`` onto a grid with ``s - 1`` zeros between neighbours (stride becomes
dilation of the input) and padding ``d*(k-1)`` in front turns that sum into a
stride-1 correlation with dilation ``d`` and the kernel flipped in space, with
input and output channels swapped within each group. This is also exactly
``conv_transpose``. The padding mode's own adjoint then folds the gradient of
the padded input back onto the input.

Weight gradient: the same sum read with ``w`` as the unknown is a
correlation of ``xpad`` with ``dy`` as the kernel, in which the batch axis is
contracted (it plays the channel), the input channels play the batch, and
stride and dilation swap roles.
"""

from __future__ import annotations

import numpy as np

from ._padding import dilate, pad, pad_adjoint
from ._shapes import ConvSpec
from .planner import execute


def _used(spec: ConvSpec) -> tuple[int, ...]:
    """Padded input elements up to the end of the last window, per spatial dim."""
    return tuple(
        (n - 1) * s + e for n, s, e in zip(spec.out_spatial, spec.stride, spec.effective_kernel)
    )


def _kept(spec: ConvSpec) -> tuple[int, ...] | None:
    """Input elements some window reaches, per dim, when the padding is zeros (else None).

    The weight gradient's derived correlation then reads zero padding as zeros
    itself instead of a padded copy of the input.
    """
    used = _used(spec)
    keep = tuple(min(n, u - lo) for n, u, (lo, _) in zip(spec.in_spatial, used, spec.padding))
    return keep if spec.padding_mode == "zeros" and min(keep) > 0 else None


def input_gradient_spec(spec: ConvSpec) -> ConvSpec:
    """The forward convolution :func:`input_gradient` runs for ``spec``.

    Zero padding's own gradient is discarded, so where the derived correlation
    can start at the first input element (padded less in front) it computes
    the input's positions only; otherwise the padded input's, folded back by
    the padding mode's adjoint.

    >>> from ndconv._shapes import conv_spec
    >>> derived = input_gradient_spec(conv_spec((2, 3, 8, 8), (4, 3, 3, 3), stride=2))
    >>> derived.in_channels, derived.out_channels, derived.in_spatial, derived.out_spatial
    (4, 3, (5, 5), (8, 8))
    >>> input_gradient_spec(conv_spec((2, 3, 8, 8), (4, 3, 3, 3), padding=1)).padding
    ((1, 1), (1, 1))
    """
    spread = tuple((n - 1) * s + 1 for n, s in zip(spec.out_spatial, spec.stride))
    front = tuple(d * (k - 1) for d, k in zip(spec.dilation, spec.kernel))
    lows = tuple(lo for lo, _ in spec.padding)
    crop = spec.padding_mode == "zeros" and all(
        f >= lo and n + lo >= m for f, lo, n, m in zip(front, lows, spec.in_spatial, spread)
    )
    start, length = (lows, spec.in_spatial) if crop else ((0,) * spec.ndim, spec.padded_spatial)
    return ConvSpec(
        batch=spec.batch,
        in_channels=spec.out_channels,
        out_channels=spec.in_channels,
        groups=spec.groups,
        in_spatial=spread,
        kernel=spec.kernel,
        stride=(1,) * spec.ndim,
        dilation=spec.dilation,
        padding=tuple((f - s, size + s - n) for f, s, size, n in zip(front, start, length, spread)),
        padding_mode="zeros",
        dtype=spec.dtype,
        out_spatial=length,
    )


def weight_gradient_spec(spec: ConvSpec) -> ConvSpec:
    """The forward convolution :func:`weight_gradient` runs for ``spec``.

    >>> from ndconv._shapes import conv_spec
    >>> derived = weight_gradient_spec(conv_spec((2, 3, 8, 8), (4, 3, 3, 3)))
    >>> derived.batch, derived.in_channels, derived.kernel, derived.out_spatial
    (3, 2, (6, 6), (3, 3))
    """
    keep = _kept(spec)
    if keep is None:  # a padded copy, cropped
        sizes, pads = _used(spec), ((0, 0),) * spec.ndim
    else:
        sizes = keep
        pads = tuple((lo, u - lo - k) for (lo, _), u, k in zip(spec.padding, _used(spec), keep))
    return ConvSpec(
        batch=spec.in_channels // spec.groups,
        in_channels=spec.groups * spec.batch,
        out_channels=spec.out_channels,
        groups=spec.groups,
        in_spatial=sizes,
        kernel=spec.out_spatial,
        stride=spec.dilation,
        dilation=spec.stride,
        padding=pads,
        padding_mode="zeros",
        dtype=spec.dtype,
        out_spatial=spec.kernel,
    )


def input_gradient(dy: np.ndarray, w: np.ndarray, spec: ConvSpec, algorithm: str) -> np.ndarray:
    """Gradient of ``<conv(x, w), dy>`` with respect to ``x``; shape ``spec.input_shape``.

    ``dy`` is batched, ``(N, C_out, *spec.out_spatial)``. For a spec from
    ``transpose_spec`` this is the transposed convolution of ``dy``.
    """
    groups = spec.groups
    in_per_group = spec.in_channels // groups
    out_per_group = spec.out_channels // groups
    spread = dilate(dy, spec.stride)
    flip = (slice(None), slice(None), *(slice(None, None, -1),) * spec.ndim)
    swapped = (
        w.reshape(groups, out_per_group, in_per_group, *spec.kernel)
        .swapaxes(1, 2)
        .reshape(spec.in_channels, out_per_group, *spec.kernel)[flip]
    )
    derived = input_gradient_spec(spec)
    dx = execute(spread, np.ascontiguousarray(swapped), derived, algorithm)
    if derived.out_spatial == spec.padded_spatial:
        return pad_adjoint(dx, spec.padding, spec.padding_mode, spec.in_spatial)
    return dx  # computed on the input's positions only


def weight_gradient(dy: np.ndarray, x: np.ndarray, spec: ConvSpec, algorithm: str) -> np.ndarray:
    """Gradient of ``<conv(x, w), dy>`` with respect to ``w``; shape ``spec.weight_shape``.

    ``dy`` and ``x`` are batched.
    """
    groups, batch = spec.groups, spec.batch
    in_per_group = spec.in_channels // groups
    # Padded input elements past the last window never meet dy: crop them so
    # the derived output has exactly the kernel's size.
    derived = weight_gradient_spec(spec)
    sizes = derived.in_spatial
    if _kept(spec) is None:
        source = pad(x, spec.padding, spec.padding_mode)[(..., *(slice(u) for u in sizes))]
    else:  # zero padding: the derived correlation reads it
        source = x[(..., *(slice(k) for k in sizes))]
    # Input (Cin_g, G*N, *sizes): input channels as batch, (group, sample) as channels.
    inputs = np.moveaxis(
        source.reshape(batch, groups, in_per_group, *sizes), (0, 1, 2), (2, 1, 0)
    ).reshape(in_per_group, groups * batch, *sizes)
    # Kernel (G*Cout_g, N, *out): dy of each output channel, samples as channels.
    kernels = np.moveaxis(dy, 0, 1).reshape(spec.out_channels, batch, *spec.out_spatial)
    result = execute(np.ascontiguousarray(inputs), np.ascontiguousarray(kernels), derived,
                     algorithm)
    return np.ascontiguousarray(np.moveaxis(result, 0, 1))  # (C_out, Cin_g, *kernel)
