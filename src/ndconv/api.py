"""The public functions: validate the arguments, plan, run.

Every function checks all its arguments into one :class:`~ndconv._shapes.ConvSpec`
before doing any work, converts the arrays to the compute dtype (see
:mod:`ndconv._dtypes`), lets the planner run a forward convolution, and casts
the result to the result dtype. Inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._adjoint import input_gradient, weight_gradient
from ._dtypes import as_array, resolve_dtypes
from ._shapes import (
    CORRELATE_MODES,
    ConvSpec,
    check_choice,
    conv_spec,
    correlate_padding,
    transpose_spec,
)
from .planner import check_algorithm, choose_algorithm, run_algorithm

IntOrTuple: TypeAlias = "int | Sequence[int]"
Padding: TypeAlias = "int | str | Sequence[int] | Sequence[tuple[int, int]]"
PaddingMode: TypeAlias = Literal["zeros", "reflect", "replicate", "circular"]
Mode: TypeAlias = Literal["valid", "same", "full"]


def _optional_array(value: object, name: str) -> np.ndarray | None:
    return None if value is None else as_array(value, name)


def _batched(a: np.ndarray, spec: ConvSpec, dtype: np.dtype) -> np.ndarray:
    """``a`` in the compute dtype with a batch axis (a view or a new array, never ``a`` mutated)."""
    a = a.astype(dtype, copy=False)
    return a if spec.batched else a[np.newaxis]


def _finish(
    out: np.ndarray, bias: np.ndarray | None, spec: ConvSpec, dtype: np.dtype
) -> np.ndarray:
    """Add the bias per channel, drop the batch axis if the caller had none, cast."""
    if bias is not None:
        out = out + bias.astype(out.dtype, copy=False).reshape(-1, *(1,) * (out.ndim - 2))
    if not spec.batched:
        out = out[0]
    return out.astype(dtype, copy=False)


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
        Input; an unbatched input gives an unbatched result.
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

    See Also
    --------
    conv_transpose, conv_grad, correlate, output_shape

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
    x_, w_ = as_array(x, "x"), as_array(w, "w")
    b_ = _optional_array(bias, "bias")
    compute, result = resolve_dtypes({"x": x_, "w": w_, "bias": b_})
    spec = conv_spec(
        x_.shape, w_.shape, stride=stride, padding=padding, dilation=dilation, groups=groups,
        padding_mode=padding_mode, bias_shape=None if b_ is None else b_.shape, dtype=compute,
    )
    chosen = choose_algorithm(spec, algorithm)
    x_b, w_c = _batched(x_, spec, compute), w_.astype(compute, copy=False)
    out = run_algorithm(chosen, x_b, w_c, spec)
    return _finish(out, b_, spec, result)


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
    x_, w_ = as_array(x, "x"), as_array(w, "w")
    b_ = _optional_array(bias, "bias")
    compute, result = resolve_dtypes({"x": x_, "w": w_, "bias": b_})
    spec = transpose_spec(
        x_.shape, w_.shape, stride=stride, padding=padding, output_padding=output_padding,
        dilation=dilation, groups=groups, bias_shape=None if b_ is None else b_.shape,
        dtype=compute,
    )
    check_algorithm(spec, algorithm)
    out = input_gradient(
        _batched(x_, spec, compute), w_.astype(compute, copy=False), spec, algorithm
    )
    return _finish(out, b_, spec, result)


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
        The forward pass's input and weights.
    stride, padding, dilation, groups, padding_mode, algorithm
        The forward pass's arguments, as for :func:`conv`.

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
    dy_, x_, w_ = as_array(dy, "dy"), as_array(x, "x"), as_array(w, "w")
    compute, result = resolve_dtypes({"dy": dy_, "x": x_, "w": w_}, allow_complex=False)
    spec = conv_spec(
        x_.shape, w_.shape, stride=stride, padding=padding, dilation=dilation, groups=groups,
        padding_mode=padding_mode, dtype=compute,
    )
    if dy_.shape != spec.output_shape:
        raise ValueError(
            f"dy must have the shape conv(x, w) returns for these arguments, "
            f"{spec.output_shape}; got dy.shape={dy_.shape}"
        )
    check_algorithm(spec, algorithm)
    dy_b, x_b = _batched(dy_, spec, compute), _batched(x_, spec, compute)
    w_c = w_.astype(compute, copy=False)
    dx = input_gradient(dy_b, w_c, spec, algorithm)
    dw = weight_gradient(dy_b, x_b, spec, algorithm)
    dbias = dy_b.sum(axis=(0, *range(2, dy_b.ndim)))
    return _finish(dx, None, spec, result), dw.astype(result), dbias.astype(result)


def _plain_correlation(a: object, k: object, mode: str, algorithm: str, flip: bool) -> NDArray:
    a_, k_ = as_array(a, "a"), as_array(k, "k")
    compute, result = resolve_dtypes({"a": a_, "k": k_})
    if a_.ndim != k_.ndim:
        raise ValueError(
            f"a and k must have the same number of dims; got a.ndim={a_.ndim} "
            f"(shape {a_.shape}) and k.ndim={k_.ndim} (shape {k_.shape})"
        )
    mode = check_choice(mode, CORRELATE_MODES, "mode")
    if a_.ndim == 0:
        return np.asarray(a_.astype(compute) * k_.astype(compute)).astype(result)
    for name, array in (("a", a_), ("k", k_)):
        if array.size == 0:
            raise ValueError(f"{name} must not be empty; got {name}.shape={array.shape}")
    if mode == "valid" and any(m < n for m, n in zip(a_.shape, k_.shape)):
        raise ValueError(
            f"mode='valid' needs k no larger than a along every axis; got a.shape={a_.shape} "
            f"and k.shape={k_.shape} (use mode='same' or 'full')"
        )
    pads = correlate_padding(mode, k_.shape)
    spec = conv_spec((1, 1, *a_.shape), (1, 1, *k_.shape), padding=pads, dtype=compute)
    chosen = choose_algorithm(spec, algorithm)
    kernel = k_[(slice(None, None, -1),) * k_.ndim] if flip else k_
    out = run_algorithm(
        chosen,
        a_.astype(compute, copy=False).reshape(1, 1, *a_.shape),
        kernel.astype(compute).reshape(1, 1, *k_.shape),
        spec,
    )
    return out[0, 0].astype(result, copy=False)


def correlate(
    a: ArrayLike, k: ArrayLike, mode: Mode = "valid", *, algorithm: str = "auto"
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

    Returns
    -------
    ndarray
        dtype by the rule of :func:`conv`; complex stays complex.

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
    return _plain_correlation(a, k, mode, algorithm, flip=False)


def convolve(
    a: ArrayLike, k: ArrayLike, mode: Mode = "valid", *, algorithm: str = "auto"
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

    Returns
    -------
    ndarray

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
    return _plain_correlation(a, k, mode, algorithm, flip=True)
