"""Padding of the spatial axes in PyTorch's four modes, and its adjoint.

Spatial axes are the trailing ``len(pads)`` axes. PyTorch's names map to
``numpy.pad`` modes as: zeros -> constant, reflect -> reflect (edge not
repeated), replicate -> edge, circular -> wrap. The non-zero modes are
gathers from the input, so their adjoint scatters the gradient back onto the
element each padded value was copied from.

>>> pad(np.array([1.0, 2.0, 3.0]), ((2, 1),), "reflect")
array([3., 2., 1., 2., 3., 2.])
>>> pad_adjoint(np.ones(6), ((2, 1),), "reflect", (3,))
array([1., 3., 2.])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _source_indices(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Index of the input element each position of the padded axis copies."""
    return np.pad(np.arange(size), (lo, hi), mode=_NUMPY_MODES[mode])  # type: ignore[call-overload]


def pad(x: np.ndarray, pads: Sequence[tuple[int, int]], mode: str) -> np.ndarray:
    """Return ``x`` padded on its trailing axes; ``x`` itself is returned if no padding."""
    if not any(lo or hi for lo, hi in pads):
        return x
    lead = x.ndim - len(pads)
    if mode == "zeros":
        shape = x.shape[:lead] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[lead:], pads))
        out = np.zeros(shape, dtype=x.dtype)
        inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[lead:], pads))
        out[(..., *inner)] = x
        return out
    for axis, (lo, hi) in enumerate(pads, start=lead):
        if lo or hi:
            x = np.take(x, _source_indices(x.shape[axis], lo, hi, mode), axis=axis)
    return x


def pad_adjoint(
    g: np.ndarray, pads: Sequence[tuple[int, int]], mode: str, sizes: Sequence[int]
) -> np.ndarray:
    """Adjoint of :func:`pad`: map a gradient on the padded array to the input's shape."""
    lead = g.ndim - len(pads)
    if mode == "zeros":
        inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(sizes, pads))
        return np.ascontiguousarray(g[(..., *inner)])
    for axis, ((lo, hi), size) in enumerate(zip(pads, sizes), start=lead):
        if lo or hi:
            front = np.moveaxis(g, axis, 0)
            folded = np.zeros((size, *front.shape[1:]), dtype=g.dtype)
            np.add.at(folded, _source_indices(size, lo, hi, mode), front)
            g = np.moveaxis(folded, 0, axis)
    return g


def dilate(x: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Insert ``factor - 1`` zeros between neighbours along each trailing axis.

    >>> dilate(np.array([1, 2, 3]), (2,))
    array([1, 0, 2, 0, 3])
    """
    if all(f == 1 for f in factors):
        return x
    lead = x.ndim - len(factors)
    sizes = tuple((n - 1) * f + 1 for n, f in zip(x.shape[lead:], factors))
    out = np.zeros(x.shape[:lead] + sizes, dtype=x.dtype)
    out[(..., *(slice(None, None, f) for f in factors))] = x
    return out
