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


def input_gradient_spec(spec: ConvSpec) -> ConvSpec:
    """The forward convolution :func:`input_gradient` runs for ``spec``.

    >>> from ndconv._shapes import conv_spec
    >>> derived = input_gradient_spec(conv_spec((2, 3, 8, 8), (4, 3, 3, 3), stride=2))
    >>> derived.in_channels, derived.out_channels, derived.in_spatial, derived.out_spatial
    (4, 3, (5, 5), (8, 8))
    """
    spread = tuple((n - 1) * s + 1 for n, s in zip(spec.out_spatial, spec.stride))
    return ConvSpec(
        batch=spec.batch,
        in_channels=spec.out_channels,
        out_channels=spec.in_channels,
        groups=spec.groups,
        in_spatial=spread,
        kernel=spec.kernel,
        stride=(1,) * spec.ndim,
        dilation=spec.dilation,
        padding=tuple(
            (d * (k - 1), size - n)
            for d, k, size, n in zip(spec.dilation, spec.kernel, spec.padded_spatial, spread)
        ),
        padding_mode="zeros",
        dtype=spec.dtype,
        out_spatial=spec.padded_spatial,
    )


def weight_gradient_spec(spec: ConvSpec) -> ConvSpec:
    """The forward convolution :func:`weight_gradient` runs for ``spec``.

    >>> from ndconv._shapes import conv_spec
    >>> derived = weight_gradient_spec(conv_spec((2, 3, 8, 8), (4, 3, 3, 3)))
    >>> derived.batch, derived.in_channels, derived.kernel, derived.out_spatial
    (3, 2, (6, 6), (3, 3))
    """
    return ConvSpec(
        batch=spec.in_channels // spec.groups,
        in_channels=spec.groups * spec.batch,
        out_channels=spec.out_channels,
        groups=spec.groups,
        in_spatial=_used(spec),
        kernel=spec.out_spatial,
        stride=spec.dilation,
        dilation=spec.stride,
        padding=((0, 0),) * spec.ndim,
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
    dx_padded = execute(spread, np.ascontiguousarray(swapped), input_gradient_spec(spec),
                        algorithm)
    return pad_adjoint(dx_padded, spec.padding, spec.padding_mode, spec.in_spatial)


def weight_gradient(dy: np.ndarray, x: np.ndarray, spec: ConvSpec, algorithm: str) -> np.ndarray:
    """Gradient of ``<conv(x, w), dy>`` with respect to ``w``; shape ``spec.weight_shape``.

    ``dy`` and ``x`` are batched.
    """
    groups, batch = spec.groups, spec.batch
    in_per_group = spec.in_channels // groups
    # Padded input elements past the last window never meet dy: crop them so
    # the derived output has exactly the kernel's size.
    used = _used(spec)
    padded = pad(x, spec.padding, spec.padding_mode)[(..., *(slice(u) for u in used))]
    # Input (Cin_g, G*N, *used): input channels as batch, (group, sample) as channels.
    inputs = np.moveaxis(
        padded.reshape(batch, groups, in_per_group, *used), (0, 1, 2), (2, 1, 0)
    ).reshape(in_per_group, groups * batch, *used)
    # Kernel (G*Cout_g, N, *out): dy of each output channel, samples as channels.
    kernels = np.moveaxis(dy, 0, 1).reshape(spec.out_channels, batch, *spec.out_spatial)
    result = execute(
        np.ascontiguousarray(inputs), np.ascontiguousarray(kernels), weight_gradient_spec(spec),
        algorithm,
    )
    return np.ascontiguousarray(np.moveaxis(result, 0, 1))  # (C_out, Cin_g, *kernel)
