"""The public functions: validate the arguments, plan, run.

Every function checks all its arguments into one :class:`~ndconv._shapes.ConvSpec`
before doing any work, converts the arrays to the compute dtype (see
:mod:`ndconv._dtypes`), lets the planner run a forward convolution, and casts
the result to the result dtype. Inputs are never modified.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._adjoint import input_gradient, weight_gradient
from ._dtypes import as_array, is_dask_array, resolve_dtypes
from ._limits import check_result_fits
from ._shapes import (
    CORRELATE_MODES,
    ConvSpec,
    check_choice,
    conv_spec,
    correlate_padding,
    memoized_spec,
    transpose_spec,
)
from .planner import check_algorithm, choose_algorithm, run_algorithm

IntOrTuple: TypeAlias = "int | Sequence[int]"
Padding: TypeAlias = "int | str | Sequence[int] | Sequence[tuple[int, int]]"
PaddingMode: TypeAlias = Literal["zeros", "reflect", "replicate", "circular"]
Mode: TypeAlias = Literal["valid", "same", "full"]


def _lazily(name: str, out: object, *args: object, **kwargs: object) -> object:
    """``ndconv.dask.<name>``: the lazy, chunked form of an entry point, for dask inputs."""
    if out is not None:
        raise TypeError(
            "out= cannot be used with dask arrays, whose results are lazy; write the result "
            "with dask.array.store (or ndconv.dask.filter_file for image files)"
        )
    from . import dask

    return getattr(dask, name)(*args, **kwargs)


def _optional_array(value: object, name: str) -> np.ndarray | None:
    return None if value is None else as_array(value, name)


def _batched(a: np.ndarray, spec: ConvSpec, dtype: np.dtype) -> np.ndarray:
    """``a`` in the compute dtype with a batch axis (a view or a new array, never ``a`` mutated)."""
    a = a.astype(dtype, copy=False)
    return a if spec.batched else a[np.newaxis]


def _check_out(
    out: object, shape: tuple[int, ...], dtype: np.dtype, inputs: dict[str, np.ndarray | None],
    name: str = "out",
) -> np.ndarray | None:
    """Check a caller's output array before any work: type, shape, dtype, writable, no alias.

    Without one, check that a new result of ``shape`` fits in memory instead.
    """
    if out is None:
        check_result_fits(shape, dtype)
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or None; got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (the result's); got {name}.shape="
                         f"{out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} (the result's for these inputs); got "
                         f"{name}.dtype={out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writable array")
    for input_name, array in inputs.items():
        if array is not None and np.may_share_memory(out, array):
            raise ValueError(f"{name} must not share memory with {input_name}; the inputs are "
                             f"read while the result is written")
    return out


def _target(out: np.ndarray | None, spec: ConvSpec, compute: np.dtype) -> np.ndarray | None:
    """``out`` as the batched array an algorithm can write into directly, if it can."""
    if out is None or out.dtype != compute or not out.flags.c_contiguous:
        return None
    return out if spec.batched else out[np.newaxis]


def _finish(
    y: np.ndarray, bias: np.ndarray | None, spec: ConvSpec, dtype: np.dtype,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Add the bias per channel, drop the batch axis if the caller had none, cast into ``out``.

    ``y`` is the algorithm's result: a new array, or ``out`` itself when the
    algorithm wrote there, so adding the bias in place is safe.
    """
    if bias is not None:
        y += bias.astype(y.dtype, copy=False).reshape(-1, *(1,) * (y.ndim - 2))
    return _deliver(y if spec.batched else y[0], dtype, out)


def _deliver(y: np.ndarray, dtype: np.dtype, out: np.ndarray | None) -> np.ndarray:
    """``y`` cast to ``dtype``, copied into ``out`` unless the algorithm wrote it there."""
    if out is None:
        return y.astype(dtype, copy=False)
    if not np.may_share_memory(y, out):
        np.copyto(out, y, casting="same_kind")
    return out


def conv(
    x: ArrayLike,
    w: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    algorithm: str = "auto",
    out: NDArray | None = None,
) -> NDArray:
    """N-dimensional convolution as deep learning defines it (cross-correlation).

    Each output element is the dot product of the kernel with the patch of
    the (padded) input under it; the kernel is not flipped. The numbers are
    those of ``torch.nn.functional.conv1d/2d/3d`` (with ``F.pad`` for the
    non-zero padding modes) wherever PyTorch accepts the arguments, and the
    same definition carries to any number of spatial dimensions.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *spatial) or (C_in, *spatial)
        Input; an unbatched input gives an unbatched result. A
        ``dask.array.Array`` here (or as ``w``, ``bias``) gives a lazy dask
        result computed chunk by chunk (:func:`ndconv.dask.conv`); ``out``
        must then be None.
    w : array_like, shape (C_out, C_in // groups, *kernel)
        Weights; ``w.ndim - 2`` is the number of spatial dimensions (1 or more).
    bias : array_like, shape (C_out,), optional
        Added to every position of each output channel.
    stride : int or sequence of int, default 1
        Step between windows, one per spatial dim or one for all.
    padding : int, str or sequence, default 0
        An int for every side; one int per spatial dim; one ``(lo, hi)`` pair
        per spatial dim; or a string: ``"valid"`` (no padding), ``"full"``
        (``dilation * (k - 1)`` on both sides) or ``"same"``. ``"same"`` is
        TensorFlow/JAX "SAME" for any stride: the output has
        ``ceil(size / stride)`` elements and the total padding
        ``max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)`` is split
        with the odd element at the end (as PyTorch does for stride 1).
    dilation : int or sequence of int, default 1
        Spacing between kernel taps.
    groups : int, default 1
        Split channels into ``groups`` independent convolutions;
        ``groups == C_in`` is a depthwise convolution.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}, default "zeros"
        How padded values are made (PyTorch's names). "reflect" does not
        repeat the edge and needs padding smaller than the input; "circular"
        needs padding no larger than the input.
    algorithm : str, default "auto"
        ``"auto"`` or a name in :data:`ndconv.algorithms.ALGORITHMS`.
    out : ndarray, optional
        Where to write the result: exactly the result's shape and dtype,
        writable, sharing no memory with the inputs. Repeated calls with the
        same ``out`` allocate no new output; a C-contiguous ``out`` in the
        compute dtype is written by the algorithm directly.

    Returns
    -------
    ndarray, shape (N, C_out, *out_spatial) or (C_out, *out_spatial)
        ``out = floor((size + lo + hi - dilation * (k - 1) - 1) / stride) + 1``
        per spatial dim. float32/float64/complex keep their dtype, float16 is
        computed in float32 and returned as float16, bool and integer inputs
        give float64; mixed dtypes follow ``numpy.result_type``.

    Raises
    ------
    TypeError
        Non-numeric dtypes, non-integer stride/padding/dilation/groups.
    ValueError
        Mismatched ranks or channels, ``groups`` not dividing the channels,
        stride or dilation below 1, negative padding, a kernel larger than the
        padded input, unknown padding strings, modes or algorithms.
    MemoryError
        Before any work, when the result would not fit in physical memory, or
        when the requested algorithm (under ``"auto"``: every algorithm) needs
        more scratch memory than :func:`ndconv.get_workspace_limit`; the
        message names the bytes and how to raise the limit.

    See Also
    --------
    conv_transpose, conv_grad, correlate, output_shape

    Notes
    -----
    NaN and Inf stay local. A non-finite value in ``x`` makes non-finite
    exactly the outputs one of whose kernel taps lands on it (or on a copy of
    it made by the padding mode), whatever the weight there: ``inf * 0`` is
    NaN. A non-finite value in ``w`` makes its whole output channel
    non-finite, since its tap meets every window, zero padding included.
    Every other output is what finite data would give. This holds for every
    algorithm: those that would spread a NaN further (FFT) are never given
    non-finite data, even when requested by name; the call runs the best
    algorithm that keeps them local instead (see :attr:`ndconv.Plan.fallback`).
    Finding out costs one ``isfinite`` pass over floating inputs, and only
    when such an algorithm was chosen. The error bounds of each algorithm are
    in ``docs/reliability.md``.

    Examples
    --------
    The dot product of a 2x2 kernel with each 2x2 patch of a 4x4 image:

    >>> import numpy as np
    >>> import ndconv
    >>> image = np.arange(16.0).reshape(1, 4, 4)         # (C_in, H, W)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # (C_out, C_in, kH, kW)
    >>> ndconv.conv(image, kernel)
    array([[[-5., -5., -5.],
            [-5., -5., -5.],
            [-5., -5., -5.]]])
    >>> ndconv.conv(np.ones((2, 3, 10, 10, 10)), np.ones((4, 3, 3, 3, 3)), stride=2).shape
    (2, 4, 4, 4, 4)
    """
    if is_dask_array(x) or is_dask_array(w) or is_dask_array(bias):
        return _lazily("conv", out, x, w, bias, stride=stride, padding=padding,  # type: ignore[return-value]
                       dilation=dilation, groups=groups, padding_mode=padding_mode,
                       algorithm=algorithm)
    x_, w_ = as_array(x, "x"), as_array(w, "w")
    b_ = _optional_array(bias, "bias")
    compute, result = resolve_dtypes({"x": x_, "w": w_, "bias": b_})
    spec = memoized_spec(
        conv_spec, x_.shape, w_.shape, stride=stride, padding=padding, dilation=dilation,
        groups=groups, padding_mode=padding_mode, bias_shape=None if b_ is None else b_.shape,
        dtype=compute,
    )
    out_ = _check_out(out, spec.output_shape, result, {"x": x_, "w": w_, "bias": b_})
    chosen = choose_algorithm(spec, algorithm, (x_, w_))
    x_b, w_c = _batched(x_, spec, compute), w_.astype(compute, copy=False)
    y = run_algorithm(chosen, x_b, w_c, spec, _target(out_, spec, compute))
    return _finish(y, b_, spec, result, out_)


def conv_transpose(
    x: ArrayLike,
    w: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: IntOrTuple = 1,
    padding: int | Sequence[int] | Sequence[tuple[int, int]] = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    algorithm: str = "auto",
    out: NDArray | None = None,
) -> NDArray:
    """Transposed convolution: the adjoint of :func:`conv`, PyTorch's ``conv_transpose*d``.

    Each input element scatters a copy of the kernel, scaled by its value,
    onto the output at stride ``stride``; overlapping copies add up. This is
    the gradient of ``conv`` with respect to its input, so
    ``<conv(y, w), x> == <y, conv_transpose(x, w)>``.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *spatial) or (C_in, *spatial)
    w : array_like, shape (C_in, C_out // groups, *kernel)
        Note the order: the same array a ``conv`` from C_out to C_in
        channels would use.
    bias : array_like, shape (C_out,), optional
    stride, dilation, groups
        As for :func:`conv`.
    padding : int or sequence, default 0
        Removes ``padding`` elements from each side of the full output, as in
        PyTorch; an int, one per dim or one ``(lo, hi)`` pair per dim.
    output_padding : int or sequence of int, default 0
        Extra elements at the end of each spatial dim, to pick one of the
        input sizes a strided ``conv`` maps to the same output size; must be
        smaller than stride or dilation.
    algorithm : str, default "auto"
    out : ndarray, optional
        Where to write the result, as for :func:`conv`.

    Returns
    -------
    ndarray, shape (N, C_out, *out_spatial) or (C_out, *out_spatial)
        ``out = (size - 1) * stride - lo - hi + dilation * (k - 1) + output_padding + 1``.

    Raises
    ------
    TypeError, ValueError
        As for :func:`conv`, and for ``output_padding`` too large or padding
        that leaves no output.

    Examples
    --------
    >>> import numpy as np
    >>> import ndconv
    >>> ndconv.conv_transpose(np.array([[1.0, 2.0]]), np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    array([[  1.,  10., 102.,  20., 200.]])
    """
    if is_dask_array(x) or is_dask_array(w) or is_dask_array(bias):
        raise TypeError(
            "conv_transpose does not take dask arrays; compute them first (x.compute()), "
            "or chunk the forward convolution instead (ndconv.conv and ndconv.conv_grad do)"
        )
    x_, w_ = as_array(x, "x"), as_array(w, "w")
    b_ = _optional_array(bias, "bias")
    compute, result = resolve_dtypes({"x": x_, "w": w_, "bias": b_})
    spec = memoized_spec(
        transpose_spec, x_.shape, w_.shape, stride=stride, padding=padding,
        output_padding=output_padding, dilation=dilation, groups=groups,
        bias_shape=None if b_ is None else b_.shape, dtype=compute,
    )
    out_ = _check_out(out, spec.input_shape, result, {"x": x_, "w": w_, "bias": b_})
    check_algorithm(spec, algorithm)
    y = input_gradient(
        _batched(x_, spec, compute), w_.astype(compute, copy=False), spec, algorithm
    )
    return _finish(y, b_, spec, result, out_)


def conv_grad(
    dy: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    *,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    algorithm: str = "auto",
    out: tuple[NDArray | None, NDArray | None, NDArray | None] | None = None,
) -> tuple[NDArray, NDArray, NDArray]:
    """Gradients of :func:`conv` with respect to its input, weights and bias.

    For a loss ``L`` with ``dy = dL/d conv(x, w, b, ...)``, returns
    ``(dL/dx, dL/dw, dL/db)``. Each is computed by a convolution: ``dx`` is
    the transposed convolution of ``dy`` (folded back through the padding
    mode), ``dw`` correlates the padded input with ``dy``, ``db`` sums ``dy``.

    Parameters
    ----------
    dy : array_like
        Gradient of the loss with respect to the output; the shape ``conv``
        returns for these arguments.
    x, w
        The forward pass's input and weights. Any of ``dy``, ``x``, ``w`` as
        a ``dask.array.Array`` gives three lazy dask results
        (:func:`ndconv.dask.conv_grad`).
    stride, padding, dilation, groups, padding_mode, algorithm
        The forward pass's arguments, as for :func:`conv`.
    out : tuple of three ndarrays or None, optional
        Where to write ``(dx, dw, dbias)``; each entry is checked as for
        :func:`conv`'s ``out``, and ``None`` entries get new arrays.

    Returns
    -------
    dx : ndarray, the shape of ``x``
    dw : ndarray, the shape of ``w``
    dbias : ndarray, shape (C_out,)

    Raises
    ------
    TypeError
        Complex or non-numeric dtypes.
    ValueError
        As for :func:`conv`, and when ``dy`` does not have the output's shape.

    Examples
    --------
    >>> import numpy as np
    >>> import ndconv
    >>> x = np.arange(5.0).reshape(1, 5)
    >>> w = np.array([[[1.0, -1.0]]])
    >>> dx, dw, db = ndconv.conv_grad(np.ones((1, 4)), x, w)
    >>> dx, dw, db
    (array([[ 1.,  0.,  0.,  0., -1.]]), array([[[ 6., 10.]]]), array([4.]))
    """
    if is_dask_array(dy) or is_dask_array(x) or is_dask_array(w):
        return _lazily("conv_grad", out, dy, x, w, stride=stride,  # type: ignore[return-value]
                       padding=padding, dilation=dilation, groups=groups,
                       padding_mode=padding_mode, algorithm=algorithm)
    dy_, x_, w_ = as_array(dy, "dy"), as_array(x, "x"), as_array(w, "w")
    compute, result = resolve_dtypes({"dy": dy_, "x": x_, "w": w_}, allow_complex=False)
    spec = memoized_spec(
        conv_spec, x_.shape, w_.shape, stride=stride, padding=padding, dilation=dilation,
        groups=groups, padding_mode=padding_mode, dtype=compute,
    )
    if dy_.shape != spec.output_shape:
        raise ValueError(
            f"dy must have the shape conv(x, w) returns for these arguments, "
            f"{spec.output_shape}; got dy.shape={dy_.shape}"
        )
    if out is None:
        out = (None, None, None)
    if not isinstance(out, tuple) or len(out) != 3:
        raise TypeError(f"out must be a tuple (dx, dw, dbias) of arrays or None; got {out!r}")
    inputs = {"dy": dy_, "x": x_, "w": w_}
    dx_out, dw_out, db_out = (
        _check_out(array, shape, result, inputs, name)
        for array, shape, name in zip(
            out, (x_.shape, w_.shape, (spec.out_channels,)), ("out[0]", "out[1]", "out[2]")
        )
    )
    check_algorithm(spec, algorithm)
    dy_b, x_b = _batched(dy_, spec, compute), _batched(x_, spec, compute)
    w_c = w_.astype(compute, copy=False)
    dx = input_gradient(dy_b, w_c, spec, algorithm)
    dw = weight_gradient(dy_b, x_b, spec, algorithm)
    dbias = dy_b.sum(axis=(0, *range(2, dy_b.ndim)))
    return (
        _finish(dx, None, spec, result, dx_out),
        _deliver(dw, result, dw_out),
        _deliver(dbias, result, db_out),
    )


@functools.lru_cache(maxsize=4096)
def _correlation_call(
    a_shape: tuple[int, ...], k_shape: tuple[int, ...], a_dtype: np.dtype, k_dtype: np.dtype,
    mode: str,
) -> tuple[ConvSpec | None, np.dtype, np.dtype]:
    """The checked spec (None for 0-d) and (compute, result) dtypes of a correlate call.

    Memoised: small correlations spend most of their time here otherwise. Every
    key is hashable and compares exactly (``mode`` is checked to be a str
    first), and a call that raises is not cached.
    """
    compute, result = resolve_dtypes({"a": np.empty(0, a_dtype), "k": np.empty(0, k_dtype)})
    if len(a_shape) != len(k_shape):
        raise ValueError(
            f"a and k must have the same number of dims; got a.ndim={len(a_shape)} "
            f"(shape {a_shape}) and k.ndim={len(k_shape)} (shape {k_shape})"
        )
    mode = check_choice(mode, CORRELATE_MODES, "mode")
    if not a_shape:
        return None, compute, result
    for name, shape in (("a", a_shape), ("k", k_shape)):
        if 0 in shape:
            raise ValueError(f"{name} must not be empty; got {name}.shape={shape}")
    if mode == "valid" and any(m < n for m, n in zip(a_shape, k_shape)):
        raise ValueError(
            f"mode='valid' needs k no larger than a along every axis; got a.shape={a_shape} "
            f"and k.shape={k_shape} (use mode='same' or 'full')"
        )
    padding = correlate_padding(mode, k_shape)
    spec = conv_spec((1, 1, *a_shape), (1, 1, *k_shape), padding=padding, dtype=compute)
    check_result_fits(spec.out_spatial, result)
    return spec, compute, result


def _plain_correlation(
    a: object, k: object, mode: str, algorithm: str, flip: bool, out: object
) -> NDArray:
    if is_dask_array(a) or is_dask_array(k):
        return _lazily("convolve" if flip else "correlate", out, a, k, mode,  # type: ignore[return-value]
                       algorithm=algorithm)
    a_, k_ = as_array(a, "a"), as_array(k, "k")
    if not isinstance(mode, str):
        check_choice(mode, CORRELATE_MODES, "mode")
    spec, compute, result = _correlation_call(a_.shape, k_.shape, a_.dtype, k_.dtype, mode)
    if spec is None:
        out_ = _check_out(out, (), result, {"a": a_, "k": k_})
        return _deliver(np.asarray(a_.astype(compute) * k_.astype(compute)), result, out_)
    out_ = None if out is None else _check_out(out, spec.out_spatial, result, {"a": a_, "k": k_})
    # As a one-sample, one-channel conv ([None, None] is the cheapest view to make).
    a4 = a_[None, None]
    chosen = choose_algorithm(spec, algorithm, (a4, k_))
    kernel = k_[(slice(None, None, -1),) * k_.ndim] if flip else k_
    target = None if out_ is None else _target(out_, spec, compute)
    y = run_algorithm(
        chosen,
        a4.astype(compute, copy=False),
        kernel.astype(compute, copy=False)[None, None],
        spec,
        None if target is None else target.reshape(1, 1, *spec.out_spatial),
    )
    return _deliver(y[0, 0], result, out_)


def correlate(
    a: ArrayLike,
    k: ArrayLike,
    mode: Mode = "valid",
    *,
    algorithm: str = "auto",
    out: NDArray | None = None,
) -> NDArray:
    """Cross-correlate two N-D arrays without batch or channel axes.

    ``out[i] = sum_j a[i + j] * k[j]`` over the kernel's indices ``j``: the
    kernel slides over ``a`` unflipped, as in a CNN. Complex kernels are not
    conjugated (deep-learning semantics); ``scipy.signal.correlate``
    conjugates ``k``, so ``correlate(a, k) == scipy.signal.correlate(a, k.conj())``.

    Parameters
    ----------
    a : array_like
        The input, any number of dims.
    k : array_like
        The kernel, with as many dims as ``a``.
    mode : {"valid", "same", "full"}, default "valid"
        "valid": only positions where ``k`` fits inside ``a`` (``k`` must not be
        larger than ``a``; SciPy would swap them). "full": every overlap.
        "same": the size of ``a``, centred on "full" as SciPy does (for an even
        kernel the extra padding element goes at the start).
    algorithm : str, default "auto"
    out : ndarray, optional
        Where to write the result, as for :func:`conv`.

    Returns
    -------
    ndarray
        dtype by the rule of :func:`conv`; complex stays complex. A lazy
        ``dask.array.Array`` when ``a`` or ``k`` is one (:mod:`ndconv.dask`).

    Raises
    ------
    TypeError, ValueError
        Non-numeric dtypes, rank mismatch, empty kernel, unknown mode, or a
        kernel larger than ``a`` in "valid" mode.

    See Also
    --------
    convolve, conv

    Examples
    --------
    >>> import numpy as np
    >>> import ndconv
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> ndconv.correlate(image, np.array([[1.0, 0.0], [0.0, -1.0]]))
    array([[-5., -5., -5.],
           [-5., -5., -5.],
           [-5., -5., -5.]])
    >>> ndconv.correlate([1, 2, 3], [0, 1], mode="full")
    array([1., 2., 3., 0.])
    """
    return _plain_correlation(a, k, mode, algorithm, flip=False, out=out)


def convolve(
    a: ArrayLike,
    k: ArrayLike,
    mode: Mode = "valid",
    *,
    algorithm: str = "auto",
    out: NDArray | None = None,
) -> NDArray:
    """Convolve two N-D arrays as mathematics does: the kernel is flipped.

    ``convolve(a, k) == correlate(a, k[::-1, ::-1, ...])``, the numbers of
    ``scipy.signal.convolve`` (complex included) with the modes of
    :func:`correlate`.

    Parameters
    ----------
    a, k : array_like
        Same number of dims.
    mode : {"valid", "same", "full"}, default "valid"
    algorithm : str, default "auto"
    out : ndarray, optional
        Where to write the result, as for :func:`conv`.

    Returns
    -------
    ndarray
        Lazy (``dask.array.Array``) for dask inputs, as for :func:`correlate`.

    Raises
    ------
    TypeError, ValueError
        As for :func:`correlate`.

    Examples
    --------
    >>> import ndconv
    >>> ndconv.convolve([1, 2, 3], [0, 1], mode="full")
    array([0., 1., 2., 3.])
    """
    return _plain_correlation(a, k, mode, algorithm, flip=True, out=out)
