"""The reference algorithm: the definition of convolution, written as a loop.

Slide the kernel over the padded input; at every output position take the
patch under the kernel, multiply it element-wise with the kernel and sum the
products. That dot product is one value of the feature map. Nothing is
vectorised, so every line can be read as the definition; it is the oracle the
other algorithms are tested against.
"""

from __future__ import annotations

import numpy as np

from .._padding import pad
from .._shapes import ConvSpec


def window(position: tuple[int, ...], spec: ConvSpec) -> tuple[slice, ...]:
    """Slices of the padded input under the kernel for one output position.

    >>> from ndconv._shapes import conv_spec
    >>> window((1, 2), conv_spec((1, 1, 9, 9), (1, 1, 3, 3), stride=2, dilation=(1, 2)))
    (slice(2, 5, 1), slice(4, 9, 2))
    """
    return tuple(
        slice(p * s, p * s + d * (k - 1) + 1, d)
        for p, s, d, k in zip(position, spec.stride, spec.dilation, spec.kernel)
    )


def correlate_reference(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` by one dot product per output element.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial)
        Unpadded input in the compute dtype.
    w : ndarray, shape (C_out, C_in // groups, *kernel)
    spec : ConvSpec
    out : ndarray, shape (N, C_out, *out_spatial), optional
        Where to write the result (C-contiguous, the compute dtype); a new
        array if omitted.

    Returns
    -------
    ndarray, shape (N, C_out, *out_spatial)
        ``out``, or a new array; no bias added.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> correlate_reference(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0]
    array([[-5., -5., -5.],
           [-5., -5., -5.],
           [-5., -5., -5.]])
    """
    padded = pad(x, spec.padding, spec.padding_mode)
    if out is None:
        out = np.empty((spec.batch, spec.out_channels, *spec.out_spatial), dtype=x.dtype)
    in_per_group = spec.in_channels // spec.groups
    out_per_group = spec.out_channels // spec.groups
    for n in range(spec.batch):
        for o in range(spec.out_channels):
            group = o // out_per_group
            channels = slice(group * in_per_group, (group + 1) * in_per_group)
            for position in np.ndindex(*spec.out_spatial):
                patch = padded[(n, channels, *window(position, spec))]
                out[(n, o, *position)] = np.sum(patch * w[o])
    return out
