"""Chunked execution on Dask arrays: the convolutions of :mod:`ndconv.api`, lazily.

Every function here takes the arguments of its namesake in :mod:`ndconv.api`,
validates them through the same :func:`~ndconv._shapes.conv_spec` before any
graph is built, and returns lazy ``dask.array.Array`` results whose numbers
equal the NumPy ones for any chunking.

How a chunked convolution is laid out, per spatial axis (input size ``n``,
padding ``(lo, hi)``, stride ``s``, effective kernel ``e = d * (k - 1) + 1``):

1. The input is padded once, globally, in the padding mode (``da.pad``), so
   chunks never need to know where the array ends.
2. Output ``o`` reads padded input ``[o*s, o*s + e)``. Output chunk ``k``
   covers outputs ``[a_k, a_{k+1})``, where ``a_k`` is the first window
   starting (before padding) inside the input's chunk ``k``: with stride 1
   the output has the input's chunks. The chunk reads padded input
   ``[a_k*s, a_{k+1}*s + halo)`` with ``halo = max(e - s, 0)``.
3. The padded input is cut at ``a_k*s + lo`` (the input's own boundaries
   when they are multiples of the stride, so no data moves) and every block
   borrows ``lo`` elements from the block before and ``halo - lo`` from the
   one after (``da.overlap.overlap`` with an asymmetric depth; ``lo`` capped
   at ``halo``). A valid, unpadded convolution of each block then gives
   exactly its output chunk, computed by :func:`ndconv.conv` with the
   algorithm the planner picks for that block's shape.
4. Chunks too small to lend a halo (fewer than ``ceil(halo / s)`` outputs)
   are merged with their neighbours, with a warning.

Batch chunks are kept; the channel axis is one chunk, since every output
channel sums over all input channels of its group.

Gradients reuse the same blocks. ``dw`` sums the weight gradients of the
blocks (a tree reduction); ``dx`` is computed per padded-input block from the
``dy`` chunk plus the ``ceil(halo / s)`` outputs before it (whose windows
reach into the block), then the padding's adjoint folds the padded border
back onto the input.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from . import api
from ._adjoint import input_gradient, weight_gradient
from ._dtypes import as_array, is_dask_array, resolve_dtypes
from ._files import save_atomically
from ._padding import _source_indices
from ._shapes import CORRELATE_MODES, ConvSpec, check_choice, conv_spec
from .planner import check_algorithm

if TYPE_CHECKING:
    import dask.array as da

__all__ = ["conv", "conv_grad", "convolve", "correlate", "filter_file", "is_dask_array"]

# PyTorch's padding-mode names as dask.array.pad (= numpy.pad) modes.
_DASK_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                   "circular": "wrap"}
_FILE_SUFFIXES = (".npy", ".tif", ".tiff")
# Default input chunk of filter_file. Each chunk in flight is copied a few
# times (padding, halo, output, workspace); at 2 MiB a two-thread run of a 3x3
# filter peaks near 150 MiB including Python (tests/test_dask_memory.py), and
# the per-task overhead is still small next to the work.
_FILE_CHUNK_BYTES = 2 * 2**20


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def _operand(value: object, name: str) -> Any:
    """A dask array as given (its shape must be known), anything else as an ndarray."""
    if not is_dask_array(value):
        return as_array(value, name)
    if any(math.isnan(size) for size in value.shape):  # type: ignore[attr-defined]
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {value.shape}); call "  # type: ignore[attr-defined]
            f"{name}.compute_chunk_sizes() first"
        )
    return value


def _dtypes(operands: dict[str, Any], allow_complex: bool = True) -> tuple[np.dtype, np.dtype]:
    """The dtype rule of ndconv, read from the dtypes alone (nothing is computed)."""
    probes = {name: None if a is None else np.empty(0, a.dtype) for name, a in operands.items()}
    return resolve_dtypes(probes, allow_complex=allow_complex)


def _lazy(a: Any) -> da.Array:
    import dask.array as da

    return a if is_dask_array(a) else da.asarray(a)


def _batched(a: Any, spec: ConvSpec) -> da.Array:
    a = _lazy(a)
    return a if spec.batched else a[np.newaxis]


def _delayed(a: Any) -> Any:
    """One graph key for a small operand (weights, bias), shipped once to every task."""
    import dask

    return None if a is None else dask.delayed(a)


def _meta(ndim: int, dtype: np.dtype) -> np.ndarray:
    return np.empty((0,) * ndim, dtype=dtype)


# ---------------------------------------------------------------------------
# Chunk layout
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _AxisChunks:
    """How one spatial axis is split; see the module docstring.

    Output chunk ``k`` covers outputs ``[a_k, a_{k+1})`` and reads padded input
    ``[a_k*s, a_{k+1}*s + halo)``. :meth:`blocks` cuts the padded axis at
    ``a_k*s + shift``; a halo of ``(shift, halo - shift)`` then gives each
    block its region. The input gradient of a block needs the ``lead``
    outputs before its chunk.
    """

    out_chunks: tuple[int, ...]
    stride: int
    padded: int
    halo: int
    lead: int
    shift: int
    merged: bool

    def blocks(self, shift: int) -> tuple[int, ...]:
        """Padded-axis chunk sizes, cut at ``a_k*s + shift`` for every output chunk k > 0."""
        cuts = [start * self.stride + shift for start in accumulate(self.out_chunks[:-1])]
        return tuple(np.diff([0, *cuts, self.padded]).tolist())


def _axis_chunks(chunks: Sequence[int], spec: ConvSpec, axis: int) -> _AxisChunks:
    lo, stride = spec.padding[axis][0], spec.stride[axis]
    out_size = spec.out_spatial[axis]
    halo = max(spec.effective_kernel[axis] - stride, 0)
    lead = -(-halo // stride)
    # Output chunk k starts with the first window starting (in the caller's
    # coordinates, before padding) inside input chunk k: with stride 1 the
    # output keeps the input's chunks.
    boundaries = accumulate(chunks[:-1])
    starts = sorted(t for t in {0, *(-(-b // stride) for b in boundaries)} if t < out_size)
    natural = [stop - start for start, stop in zip(starts, [*starts[1:], out_size])]
    # Every chunk must lend its neighbour a halo: merge chunks too small for it
    # into the next one. The last chunk lends nothing, but dask's overlap
    # checks all chunks, so a short tail joins the chunk before it (silently:
    # the caller's chunks were fine, the padding shifted the boundaries).
    sizes: list[int] = []
    for size in natural:
        if sizes and sizes[-1] < lead:
            sizes[-1] += size
        else:
            sizes.append(size)
    merged = len(sizes) < len(natural)
    if len(sizes) > 1 and sizes[-1] < lead:
        tail = sizes.pop()
        sizes[-1] += tail
    # Cutting the padded input at a_k*s + lo is cutting the caller's input at
    # its own boundaries (for stride 1, or chunks that are multiples of the
    # stride): no data moves between chunks. The shift is capped by the halo,
    # as the left depth of the overlap cannot exceed it.
    return _AxisChunks(tuple(sizes), stride, spec.padded_spatial[axis], halo, lead,
                       min(lo, halo), merged)


def _layout(
    spatial_chunks: Sequence[Sequence[int]], spec: ConvSpec, name: str
) -> list[_AxisChunks]:
    axes = [_axis_chunks(c, spec, i) for i, c in enumerate(spatial_chunks)]
    merged = [
        f"spatial dim {i} (smallest chunk {min(chunks)}, halo {axis.halo}: now "
        f"{len(axis.out_chunks)} output chunks)"
        for i, (chunks, axis) in enumerate(zip(spatial_chunks, axes)) if axis.merged
    ]
    if merged:
        warnings.warn(
            f"the chunks of {name} are too small to lend the halo a window reaches past its "
            f"chunk (kernel {spec.kernel}, dilation {spec.dilation}, stride {spec.stride}); "
            f"merged neighbouring chunks along {', '.join(merged)}",
            UserWarning,
            stacklevel=4,
        )
    return axes


def _overlap(a: da.Array, depths: Sequence[tuple[int, int]], chunks: Sequence[tuple[int, ...]]
             ) -> da.Array:
    """``a`` with its spatial chunks set to ``chunks``, then ``(before, after)`` halos added."""
    import dask.array as da

    a = a.rechunk((a.chunks[0], (a.shape[1],), *chunks))
    depth = {
        2 + i: depth if len(c) > 1 and any(depth) else 0
        for i, (depth, c) in enumerate(zip(depths, chunks))
    }
    return da.overlap.overlap(a, depth=depth, boundary="none", allow_rechunk=False)


def _input_blocks(x: da.Array, spec: ConvSpec, axes: Sequence[_AxisChunks]) -> da.Array:
    """The padded input as overlapping blocks, block k holding what output chunk k reads."""
    import dask.array as da

    if any(lo or hi for lo, hi in spec.padding):
        x = da.pad(x, ((0, 0), (0, 0), *spec.padding), mode=_DASK_PAD_MODES[spec.padding_mode])
    return _overlap(x, [(a.shift, a.halo - a.shift) for a in axes],
                    [a.blocks(a.shift) for a in axes])


# ---------------------------------------------------------------------------
# Tasks (module-level functions, so worker processes can import them)
# ---------------------------------------------------------------------------


def _conv_block(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, *, stride: tuple[int, ...],
    dilation: tuple[int, ...], groups: int, algorithm: str,
) -> np.ndarray:
    return api.conv(x, w, bias, stride=stride, dilation=dilation, groups=groups,
                    algorithm=algorithm)


def _input_gradient_block(
    dy: np.ndarray, w: np.ndarray, *, stride: tuple[int, ...], dilation: tuple[int, ...],
    groups: int, leads: tuple[int, ...], shifts: tuple[int, ...], compute: np.dtype,
    algorithm: str, block_info: dict,
) -> np.ndarray:
    """Gradient on one padded-input block ``[A, B)`` per axis.

    ``dy`` holds every output whose window touches the block: its chunk, up
    to ``lead`` outputs before it and up to ``ceil(shift / s)`` after it.
    Their input gradient covers ``[first*s, first*s + R)`` of the padded
    input (``R = (outputs - 1)*s + e``) and is cut, or zero-extended where no
    window reaches, to ``[A, B)``.
    """
    location = block_info[None]["array-location"][2:]
    region, window = [], []
    for i, ((begin, end), s, d, k, lead, shift) in enumerate(
        zip(location, stride, dilation, w.shape[2:], leads, shifts)
    ):
        first = max((begin - shift) // s - lead, 0)  # blocks start at a_k*s + shift
        region.append((dy.shape[2 + i] - 1) * s + d * (k - 1) + 1)
        window.append((begin - first * s, end - begin))
    spec = conv_spec((dy.shape[0], w.shape[1] * groups, *region), w.shape, stride=stride,
                     dilation=dilation, groups=groups, dtype=compute)
    grad = input_gradient(dy.astype(compute, copy=False), w.astype(compute, copy=False), spec,
                          algorithm)
    out = np.zeros((*grad.shape[:2], *(size for _, size in window)), dtype=compute)
    kept = tuple(min(size, r - offset) for (offset, size), r in zip(window, region))
    out[(..., *(slice(k) for k in kept))] = grad[
        (..., *(slice(offset, offset + k) for (offset, _), k in zip(window, kept)))
    ]
    return out


def _weight_gradient_block(
    x: np.ndarray, dy: np.ndarray, *, kernel: tuple[int, ...], stride: tuple[int, ...],
    dilation: tuple[int, ...], groups: int, compute: np.dtype, algorithm: str,
) -> np.ndarray:
    w_shape = (dy.shape[1], x.shape[1] // groups, *kernel)
    spec = conv_spec(x.shape, w_shape, stride=stride, dilation=dilation, groups=groups,
                     dtype=compute)
    dw = weight_gradient(dy.astype(compute, copy=False), x.astype(compute, copy=False), spec,
                         algorithm)
    return dw[(np.newaxis,) * (dy.ndim - 1)]


def _scatter_add(block: np.ndarray, targets: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Sum the slices of ``block`` along ``axis`` into ``width`` slots at ``targets``."""
    out = np.zeros((*block.shape[:axis], width, *block.shape[axis + 1 :]), dtype=block.dtype)
    np.add.at(np.moveaxis(out, axis, 0), targets, np.moveaxis(block, axis, 0))
    return out


# ---------------------------------------------------------------------------
# Graphs
# ---------------------------------------------------------------------------


def _trivial(shape: tuple[int, ...], bias: Any, dtype: np.dtype) -> da.Array:
    """The result when nothing is summed: zeros, plus the bias per channel."""
    import dask.array as da

    out = da.zeros(shape, dtype=dtype)
    if bias is None or out.size == 0:
        return out
    return (out + _lazy(bias).reshape(-1, *(1,) * (len(shape) - 2))).astype(dtype)


def _forward(x: Any, w: Any, bias: Any, spec: ConvSpec, result: np.dtype, algorithm: str
             ) -> da.Array:
    """The lazy ``conv`` of a checked spec, batched: ``(N, C_out, *out_spatial)``."""
    x_b = _batched(x, spec)
    out_shape = (spec.batch, spec.out_channels, *spec.out_spatial)
    if x_b.size == 0 or 0 in out_shape:
        return _trivial(out_shape, bias, result)
    axes = _layout(x_b.chunks[2:], spec, "x")
    blocks = _input_blocks(x_b, spec, axes)
    return blocks.map_blocks(
        _conv_block, _delayed(w), _delayed(bias),
        stride=spec.stride, dilation=spec.dilation, groups=spec.groups, algorithm=algorithm,
        chunks=(blocks.chunks[0], (spec.out_channels,), *(a.out_chunks for a in axes)),
        dtype=result, meta=_meta(len(out_shape), result), token="ndconv-conv",
    )


def _take(a: da.Array, axis: int, start: int, stop: int) -> da.Array:
    return a[(slice(None),) * axis + (slice(start, stop),)]


def _fold_padding(g: da.Array, spec: ConvSpec) -> da.Array:
    """Adjoint of the global padding: the gradient on the padded input -> on the input."""
    import dask.array as da

    for i, ((lo, hi), n) in enumerate(zip(spec.padding, spec.in_spatial)):
        axis = 2 + i
        inner = _take(g, axis, lo, lo + n)
        if spec.padding_mode != "zeros" and (lo or hi):
            sources = _source_indices(n, lo, hi, spec.padding_mode)
            # Each border folds onto a contiguous run [r0, r1) of the input.
            for start, stop in ((0, lo), (lo + n, lo + n + hi)):
                targets = sources[start:stop]
                if targets.size == 0:
                    continue
                r0, r1 = int(targets.min()), int(targets.max()) + 1
                border = _take(g, axis, start, stop).rechunk({axis: -1})
                folded = border.map_blocks(
                    _scatter_add, targets - r0, r1 - r0, axis,
                    chunks=(*border.chunks[:axis], (r1 - r0,), *border.chunks[axis + 1 :]),
                    dtype=g.dtype, meta=_meta(g.ndim, g.dtype),
                )
                pieces = [_take(inner, axis, 0, r0), _take(inner, axis, r0, r1) + folded,
                          _take(inner, axis, r1, n)]
                chunks = inner.chunks
                # Splicing cut the edge chunks; join them again.
                inner = da.concatenate([p for p in pieces if p.shape[axis]], axis=axis
                                       ).rechunk(chunks)
        g = inner
    return g


def _gradients(dy: Any, x: Any, w: Any, spec: ConvSpec, compute: np.dtype, algorithm: str
               ) -> tuple[da.Array, da.Array, da.Array]:
    """Batched ``(dx, dw, dbias)`` in the compute dtype."""
    import dask.array as da

    dy_b, x_b = _batched(dy, spec), _batched(x, spec)
    dbias = dy_b.astype(compute).sum(axis=(0, *range(2, dy_b.ndim)))
    if x_b.size == 0 or dy_b.size == 0:
        return (da.zeros(x_b.shape, dtype=compute), da.zeros(spec.weight_shape, dtype=compute),
                dbias)
    axes = _layout(x_b.chunks[2:], spec, "x")
    dy_r = dy_b.rechunk((x_b.chunks[0], (spec.out_channels,), *(a.out_chunks for a in axes)))
    nd = spec.ndim

    # dx: per padded-input block (the forward's blocks, so dx gets the chunks of x),
    # from the dy chunk and the outputs on either side whose windows reach into it.
    dy_around = _overlap(dy_r, [(a.lead, -(-a.shift // a.stride)) for a in axes],
                         [a.out_chunks for a in axes])
    dx_padded = dy_around.map_blocks(
        _input_gradient_block, _delayed(w),
        stride=spec.stride, dilation=spec.dilation, groups=spec.groups,
        leads=tuple(a.lead for a in axes), shifts=tuple(a.shift for a in axes),
        compute=compute, algorithm=algorithm,
        chunks=(dy_r.chunks[0], (spec.in_channels,), *(a.blocks(a.shift) for a in axes)),
        meta=_meta(nd + 2, compute), token="ndconv-conv-grad-input",
    )
    dx = _fold_padding(dx_padded, spec)

    # dw: one weight gradient per (batch chunk, spatial block), summed.
    spatial = tuple(f"s{i}" for i in range(nd))
    taps = tuple(f"k{i}" for i in range(nd))
    parts = da.blockwise(
        _weight_gradient_block, ("n", *spatial, "wo", "wi", *taps),
        _input_blocks(x_b, spec, axes), ("n", "c", *spatial),
        dy_r, ("n", "o", *spatial),
        new_axes=dict(zip(("wo", "wi", *taps), spec.weight_shape)),
        adjust_chunks=dict.fromkeys(("n", *spatial), lambda _: 1),
        align_arrays=False, concatenate=True, meta=_meta(2 * nd + 3, compute),
        kernel=spec.kernel, stride=spec.stride, dilation=spec.dilation, groups=spec.groups,
        compute=compute, algorithm=algorithm,
    )
    dw = parts.sum(axis=tuple(range(nd + 1)))
    return dx, dw, dbias


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def conv(
    x: Any,
    w: Any,
    bias: Any = None,
    *,
    stride: api.IntOrTuple = 1,
    padding: api.Padding = 0,
    dilation: api.IntOrTuple = 1,
    groups: int = 1,
    padding_mode: api.PaddingMode = "zeros",
    algorithm: str = "auto",
) -> da.Array:
    """:func:`ndconv.conv` on Dask arrays: a lazy result, computed chunk by chunk.

    The arguments and numbers are those of :func:`ndconv.conv`. Each output
    chunk is computed from the padded input region its windows read (its
    input chunk plus the halo they reach into, taken from the neighbours), by
    ``ndconv.conv`` with the algorithm the planner picks for that region's
    shape. Batch chunks are kept, the channel axis becomes one chunk, and
    spatial chunks follow the input's (the same chunks for stride 1).

    Parameters
    ----------
    x : dask.array.Array or array_like, shape (N, C_in, *spatial) or (C_in, *spatial)
        Input; a NumPy array is wrapped with dask's automatic chunks.
    w : dask.array.Array or array_like, shape (C_out, C_in // groups, *kernel)
        Weights, read whole by every chunk (keep them small).
    bias : dask.array.Array or array_like, shape (C_out,), optional
    stride, padding, dilation, groups, padding_mode, algorithm
        As for :func:`ndconv.conv`, every padding form and mode included.

    Returns
    -------
    dask.array.Array
        Lazy, with the shape and dtype :func:`ndconv.conv` returns; nothing is
        computed until ``.compute()`` (or ``store``, ``persist``).

    Raises
    ------
    TypeError, ValueError
        As for :func:`ndconv.conv`, before any graph is built; ``ValueError``
        also for dask arrays of unknown shape.

    Warns
    -----
    UserWarning
        When spatial chunks are smaller than the halo a window needs; they
        are merged with their neighbours.

    See Also
    --------
    ndconv.conv, conv_grad, correlate

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import ndconv.dask
    >>> x = da.ones((1, 1, 8, 8), chunks=(1, 1, 4, 4))
    >>> y = ndconv.dask.conv(x, np.ones((1, 1, 3, 3)), padding=1)
    >>> y.chunks
    ((1,), (1,), (4, 4), (4, 4))
    >>> y.compute()[0, 0, :2]
    array([[4., 6., 6., 6., 6., 6., 6., 4.],
           [6., 9., 9., 9., 9., 9., 9., 6.]])
    """
    x_, w_ = _operand(x, "x"), _operand(w, "w")
    b_ = None if bias is None else _operand(bias, "bias")
    compute, result = _dtypes({"x": x_, "w": w_, "bias": b_})
    spec = conv_spec(
        x_.shape, w_.shape, stride=stride, padding=padding, dilation=dilation, groups=groups,
        padding_mode=padding_mode, bias_shape=None if b_ is None else b_.shape, dtype=compute,
    )
    check_algorithm(spec, algorithm)
    out = _forward(x_, w_, b_, spec, result, algorithm)
    return out if spec.batched else out[0]


def conv_grad(
    dy: Any,
    x: Any,
    w: Any,
    *,
    stride: api.IntOrTuple = 1,
    padding: api.Padding = 0,
    dilation: api.IntOrTuple = 1,
    groups: int = 1,
    padding_mode: api.PaddingMode = "zeros",
    algorithm: str = "auto",
) -> tuple[da.Array, da.Array, da.Array]:
    """:func:`ndconv.conv_grad` on Dask arrays: lazy ``(dx, dw, dbias)``.

    ``dx`` is chunked like ``x`` (exactly so for stride 1 and padding no
    wider than the kernel's reach, else with boundaries moved by less than a
    stride or the padding); ``dw`` and ``dbias`` are sums over every batch
    chunk and spatial block, reduced as a tree.

    Parameters
    ----------
    dy : dask.array.Array or array_like
        Gradient with respect to the output, the shape ``conv`` returns;
        rechunked to match the output chunks of ``x``.
    x, w
        The forward pass's input and weights, dask or NumPy.
    stride, padding, dilation, groups, padding_mode, algorithm
        As for :func:`ndconv.conv`.

    Returns
    -------
    dx, dw, dbias : dask.array.Array
        Lazy, with the shapes and dtype of :func:`ndconv.conv_grad`.

    Raises
    ------
    TypeError, ValueError
        As for :func:`ndconv.conv_grad`, before any graph is built.

    Warns
    -----
    UserWarning
        When spatial chunks of ``x`` are smaller than the halo.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import ndconv.dask
    >>> x = da.arange(5.0, chunks=2).reshape(1, 5)
    >>> dx, dw, db = ndconv.dask.conv_grad(np.ones((1, 4)), x, np.array([[[1.0, -1.0]]]))
    >>> dx.compute(), dw.compute(), db.compute()
    (array([[ 1.,  0.,  0.,  0., -1.]]), array([[[ 6., 10.]]]), array([4.]))
    """
    dy_, x_, w_ = _operand(dy, "dy"), _operand(x, "x"), _operand(w, "w")
    compute, result = _dtypes({"dy": dy_, "x": x_, "w": w_}, allow_complex=False)
    spec = conv_spec(
        x_.shape, w_.shape, stride=stride, padding=padding, dilation=dilation, groups=groups,
        padding_mode=padding_mode, dtype=compute,
    )
    if tuple(dy_.shape) != spec.output_shape:
        raise ValueError(
            f"dy must have the shape conv(x, w) returns for these arguments, "
            f"{spec.output_shape}; got dy.shape={tuple(dy_.shape)}"
        )
    check_algorithm(spec, algorithm)
    dx, dw, dbias = _gradients(dy_, x_, w_, spec, compute, algorithm)
    if not spec.batched:
        dx = dx[0]
    return dx.astype(result), dw.astype(result), dbias.astype(result)


def _plain(a: Any, k: Any, mode: str, algorithm: str, flip: bool) -> da.Array:
    """``correlate``/``convolve`` of plain N-D arrays, checked as ndconv.api checks them."""
    a_, k_ = _operand(a, "a"), _operand(k, "k")
    if not isinstance(mode, str):
        check_choice(mode, CORRELATE_MODES, "mode")
    # The same checks, spec and dtypes as the NumPy path, from its memoised helper.
    spec, compute, result = api._correlation_call(
        tuple(a_.shape), tuple(k_.shape), a_.dtype, k_.dtype, mode)
    if spec is None:  # 0-d
        return (_lazy(a_).astype(compute) * _lazy(k_).astype(compute)).astype(result)
    check_algorithm(spec, algorithm)
    kernel = k_[(slice(None, None, -1),) * k_.ndim] if flip else k_
    out = _forward(_lazy(a_)[np.newaxis, np.newaxis], kernel[np.newaxis, np.newaxis], None, spec,
                   result, algorithm)
    return out[0, 0]


def correlate(
    a: Any, k: Any, mode: api.Mode = "valid", *, algorithm: str = "auto"
) -> da.Array:
    """:func:`ndconv.correlate` of a Dask array: lazy, chunk by chunk.

    ``out[i] = sum_j a[i + j] * k[j]`` without conjugation, with the modes of
    ``scipy.signal.correlate`` ("same" centres on "full"; the extra element
    of an even kernel's padding goes at the start).

    Parameters
    ----------
    a : dask.array.Array or array_like
        The input, any number of dims, chunked any way.
    k : dask.array.Array or array_like
        The kernel, as many dims as ``a``; read whole by every chunk.
    mode : {"valid", "same", "full"}, default "valid"
    algorithm : str, default "auto"

    Returns
    -------
    dask.array.Array
        Lazy; shape and dtype of :func:`ndconv.correlate`.

    Raises
    ------
    TypeError, ValueError
        As for :func:`ndconv.correlate`, before any graph is built.

    Warns
    -----
    UserWarning
        When chunks of ``a`` are smaller than the kernel's reach.

    Examples
    --------
    >>> import dask.array as da
    >>> import ndconv.dask
    >>> a = da.arange(10.0, chunks=4)
    >>> ndconv.dask.correlate(a, [1.0, 0.0, -1.0], mode="same").compute()
    array([-1., -2., -2., -2., -2., -2., -2., -2., -2.,  8.])
    """
    return _plain(a, k, mode, algorithm, flip=False)


def convolve(
    a: Any, k: Any, mode: api.Mode = "valid", *, algorithm: str = "auto"
) -> da.Array:
    """:func:`ndconv.convolve` of a Dask array: the kernel flipped, as in mathematics.

    ``convolve(a, k) == correlate(a, k[::-1, ::-1, ...])``, the numbers of
    ``scipy.signal.convolve``.

    Parameters
    ----------
    a, k : dask.array.Array or array_like
        Same number of dims.
    mode : {"valid", "same", "full"}, default "valid"
    algorithm : str, default "auto"

    Returns
    -------
    dask.array.Array

    Raises
    ------
    TypeError, ValueError
        As for :func:`ndconv.convolve`.

    Examples
    --------
    >>> import dask.array as da
    >>> import ndconv.dask
    >>> ndconv.dask.convolve(da.from_array([1.0, 2.0, 3.0], chunks=2), [0.0, 1.0], mode="full"
    ...                      ).compute()
    array([0., 1., 2., 3.])
    """
    return _plain(a, k, mode, algorithm, flip=True)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _RawArray:
    """An uncompressed array at ``offset`` in a file, read and written one region at a time.

    Regions move with plain reads and writes, one per contiguous run of the
    file, rather than through a memory map: every page a map touches counts
    toward the process's resident memory, and the kernel maps tens of kB
    around each touched row, so mapping a tall chunk costs many times its
    size. The object is only a path and a layout, so it pickles to worker
    processes.
    """

    path: str
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype
    order: Literal["C", "F"] = "C"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _runs(self, key: tuple[slice, ...]) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
        """The region's shape in file order, and the file offset and buffer start of each run."""
        bounds = [item.indices(size)[:2] for item, size in zip(key, self.shape)]
        shape = list(self.shape)
        if self.order == "F":
            bounds, shape = bounds[::-1], shape[::-1]
        region = tuple(stop - start for start, stop in bounds)
        strides = [self.dtype.itemsize * math.prod(shape[i + 1 :]) for i in range(len(shape))]
        # Trailing axes the region covers whole extend one contiguous run.
        split = len(shape) - 1
        while split > 0 and bounds[split] == (0, shape[split]):
            split -= 1
        run = self.dtype.itemsize * math.prod(region[split:])
        base = self.offset + sum(start * stride for (start, _), stride in zip(bounds, strides))
        runs = [
            (base + sum(i * stride for i, stride in zip(index, strides)), n * run)
            for n, index in enumerate(np.ndindex(*region[:split]))
        ]
        return region, runs

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        region, runs = self._runs(key)
        out = np.empty(region, dtype=self.dtype)
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        size = len(buffer) // max(len(runs), 1)
        with open(self.path, "rb", buffering=0) as stream:
            for position, start in runs:
                stream.seek(position)
                if stream.readinto(buffer[start : start + size]) != size:
                    raise OSError(f"{self.path!r} is shorter than its header says")
        return out if self.order == "C" else out.T

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray) -> None:
        _, runs = self._runs(key)
        data = np.asarray(value, dtype=self.dtype)
        data = np.ascontiguousarray(data if self.order == "C" else data.T)
        buffer = memoryview(data.reshape(-1).view(np.uint8))
        size = len(buffer) // max(len(runs), 1)
        with open(self.path, "rb+", buffering=0) as stream:
            for position, start in runs:
                stream.seek(position)
                written = start
                while written < start + size:
                    written += stream.write(buffer[written : start + size])

    def __dask_tokenize__(self) -> tuple[object, ...]:
        stat = os.stat(self.path)
        return (self.path, stat.st_mtime_ns, stat.st_size, self.offset, self.shape,
                str(self.dtype), self.order)


def _suffix(path: Path, name: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in _FILE_SUFFIXES:
        raise ValueError(
            f"{name}={str(path)!r} has an unsupported extension; expected one of "
            f"{', '.join(_FILE_SUFFIXES)}"
        )
    return suffix


def _open_raw(path: Path) -> _RawArray:
    """The layout of an .npy or uncompressed TIFF file, without reading its data."""
    if _suffix(path, "src") == ".npy":
        mapped = np.load(path, mmap_mode="r")
        try:
            order = "F" if mapped.flags.f_contiguous and not mapped.flags.c_contiguous else "C"
            return _RawArray(str(path), mapped.offset, mapped.shape, mapped.dtype, order)
        finally:
            del mapped
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        if series.dataoffset is None:
            raise ValueError(
                f"src={str(path)!r} is a compressed or non-contiguous TIFF, which cannot be "
                f"read chunk by chunk; rewrite it uncompressed "
                f"(tifffile.imwrite(path, data, compression=None)) or save it as .npy"
            )
        dtype = np.dtype(tif.byteorder + series.dtype.char)
        return _RawArray(str(path), series.dataoffset, tuple(series.shape), dtype)


def _create_raw(
    path: Path, suffix: str, shape: tuple[int, ...], dtype: np.dtype, colour: bool
) -> _RawArray:
    """Write the header of an empty .npy or TIFF file of this shape; return its layout.

    ``colour``: the last axis holds channels (RGB for a TIFF with 3 or 4).
    """
    if suffix == ".npy":
        mapped = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    else:
        import tifffile

        rgb = colour and len(shape) == 3 and shape[-1] in (3, 4)
        mapped = tifffile.memmap(path, shape=shape, dtype=dtype,
                                 photometric="rgb" if rgb else "minisblack")
    try:
        return _RawArray(str(path), mapped.offset, shape, dtype)
    finally:
        del mapped


def _file_chunks(
    chunks: object, raw: _RawArray, kernel: tuple[int, ...]
) -> tuple[tuple[int, ...], ...]:
    """Input chunks for a file: per-axis sizes, or bands along the first axis.

    Bands (whole trailing axes) have a halo along one axis only, so the
    scheduler can stream them, keeping a few bands per thread in memory; tiles
    would need their neighbours in every direction, a whole row of tiles at
    a time. A band is at least the kernel's height and under 2 MiB when one
    slab allows, else dask's automatic chunks under that limit.
    """
    import dask.array as da

    if chunks is None:
        slab = raw.dtype.itemsize * math.prod(raw.shape[1:])
        if slab <= _FILE_CHUNK_BYTES:
            band = max(_FILE_CHUNK_BYTES // max(slab, 1), kernel[0])
            return da.core.normalize_chunks((band, *raw.shape[1:]), raw.shape)
        return da.core.normalize_chunks("auto", raw.shape, dtype=raw.dtype,
                                        limit=_FILE_CHUNK_BYTES)
    sizes = tuple(chunks) if isinstance(chunks, Sequence) else (chunks,) * raw.ndim
    if len(sizes) != raw.ndim or not all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 1 for c in sizes
    ):
        raise ValueError(
            f"chunks must be None, a positive int or {raw.ndim} positive ints (one per axis "
            f"of the image); got chunks={chunks!r}"
        )
    return da.core.normalize_chunks(tuple(int(c) for c in sizes), raw.shape)


def filter_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    kernel: ArrayLike,
    *,
    stride: api.IntOrTuple = 1,
    padding: api.Padding = 0,
    dilation: api.IntOrTuple = 1,
    padding_mode: api.PaddingMode = "zeros",
    dtype: np.dtype | str | None = None,
    absolute: bool = False,
    chunks: int | Sequence[int] | None = None,
    algorithm: str = "auto",
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Filter an image file with ``kernel`` chunk by chunk, for images larger than memory.

    The file-to-file form of :func:`ndconv.images.filter_image` (the
    ``ndconv apply --chunks`` command): the input is read one chunk (plus
    halo) at a time and each output chunk is written to its place in the
    destination as soon as it is computed, so memory holds a few chunks per
    thread, never the image. The destination is filled as a temporary file
    beside it and renamed into place at the end: it is either the old file or
    the complete new one, never a part.

    Parameters
    ----------
    src : path
        An ``.npy`` file or an uncompressed ``.tif``/``.tiff`` (the layouts that
        can be read region by region).
    dst : path
        ``.npy``, ``.tif`` or ``.tiff``.
    kernel : array_like
        As many dims as the image, which are all spatial; or one fewer, and
        the image's last axis holds channels (colour), each filtered alone.
        Correlated without flipping, as by :func:`ndconv.conv`.
    stride, padding, dilation, padding_mode
        As for :func:`ndconv.conv`.
    dtype : dtype, optional
        The stored dtype, float32 or float64; by default ndconv's result
        dtype (float64 for integer images).
    absolute : bool, default False
        Store absolute values (edge strength of either sign).
    chunks : int or sequence of int, optional
        Input chunk size, one for every axis or one per axis. By default bands
        of whole rows (slabs along the first axis) of about 2 MiB, which
        stream with the least memory; memory grows with chunk size times the
        number of dask threads.
    algorithm : str, default "auto"
        As for :func:`ndconv.conv`; "auto" plans per chunk.
    progress : bool, default True
        Show dask's progress bar on stderr (local schedulers; with a
        ``dask.distributed`` client use its dashboard).
    force : bool, default False
        Replace ``dst`` if it exists.

    Returns
    -------
    pathlib.Path
        ``dst``.

    Raises
    ------
    FileNotFoundError
        ``src`` does not exist.
    FileExistsError
        ``dst`` exists and ``force`` is false.
    TypeError, ValueError
        Unsupported extensions or dtype, a compressed TIFF, ``dst`` the same
        file as ``src``, bad ``chunks``, or arguments :func:`ndconv.conv`
        rejects; all before anything is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> import ndconv.dask
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(folder / "image.npy", np.arange(36.0).reshape(6, 6))
    >>> ndconv.dask.filter_file(folder / "image.npy", folder / "sum.npy", np.ones((3, 3)),
    ...                         padding="same", chunks=3, progress=False).name
    'sum.npy'
    >>> np.load(folder / "sum.npy")[1:3, 1:3]
    array([[ 63.,  72.],
           [117., 126.]])
    """
    import dask.array as da
    from dask.diagnostics import ProgressBar

    source, target = Path(src), Path(dst)
    suffix = _suffix(target, "dst")
    _suffix(source, "src")
    if not source.is_file():
        raise FileNotFoundError(f"src={str(source)!r} does not exist or is not a file")
    if target.exists() and source.samefile(target):
        raise ValueError(f"dst={str(target)!r} is the same file as src; choose another path")
    if target.exists() and not force:
        raise FileExistsError(f"dst={str(target)!r} exists; pass force=True to replace it")
    raw = _open_raw(source)
    weights = as_array(kernel, "kernel")
    if weights.ndim not in (raw.ndim, raw.ndim - 1) or weights.ndim == 0:
        raise ValueError(
            f"kernel must have as many dims as the image, or one fewer for channels-last "
            f"colour, and at least 1; got kernel.shape={weights.shape} for an image of shape "
            f"{raw.shape} in {str(source)!r}"
        )
    channels_last = weights.ndim == raw.ndim - 1
    image = da.from_array(
        raw, chunks=_file_chunks(chunks, raw, weights.shape), lock=False, asarray=False,
        fancy=False, meta=_meta(raw.ndim, raw.dtype), name=f"ndconv-read-{da.core.tokenize(raw)}",
    )
    # Channels become the batch axis: one single-channel convolution per channel.
    x = da.moveaxis(image, -1, 0)[:, np.newaxis] if channels_last else image[np.newaxis, np.newaxis]
    result = conv(x, weights[np.newaxis, np.newaxis], stride=stride, padding=padding,
                  dilation=dilation, padding_mode=padding_mode, algorithm=algorithm)[:, 0]
    result = da.moveaxis(result, 0, -1) if channels_last else result[0]
    if dtype is not None:
        stored = np.dtype(dtype)
        if stored not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64 (feature maps are stored raw); "
                             f"got dtype={dtype!r}")
        result = result.astype(stored)
    if absolute:
        result = abs(result)

    def write(stream: IO[bytes]) -> None:
        written = _create_raw(Path(stream.name), suffix, result.shape, result.dtype,
                              colour=channels_last)
        with ProgressBar(out=sys.stderr) if progress else contextlib.nullcontext():
            da.store(result, written, lock=False)

    return save_atomically(target, write, force=force)
