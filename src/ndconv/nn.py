"""Layers with explicit forward and backward passes, a loss and two optimisers.

There is no autograd engine: every layer is a small object whose
``forward(x)`` computes its output and keeps what the gradient needs, and
whose ``backward(dy)`` takes the gradient of the loss with respect to that
output, overwrites the arrays in ``layer.grads`` with the gradients of its
parameters and returns the gradient with respect to ``x``. Parameters and
gradients are plain NumPy arrays in two dicts with the same keys,
``layer.params`` and ``layer.grads``; optimisers update the parameter arrays in
place. The convolutions are :func:`ndconv.conv`, :func:`ndconv.conv_grad` and
:func:`ndconv.conv_transpose`; layers take batches shaped ``(N, C, *spatial)``
with any number of spatial dims.

Weights start from He (Kaiming) normal initialisation, ``N(0, 2 / fan_in)``,
biases from zero; parameters are float32 unless ``dtype`` says otherwise.

>>> import numpy as np
>>> from ndconv import nn
>>> rng = np.random.default_rng(0)
>>> model = nn.Sequential(
...     nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool(2),
...     nn.Flatten(), nn.Linear(4 * 4 * 4, 3, rng=rng),
... )
>>> images, labels = rng.random((5, 1, 8, 8), dtype=np.float32), np.array([0, 1, 2, 0, 1])
>>> optimiser = nn.Adam(model, lr=1e-2)
>>> loss, dlogits = nn.softmax_cross_entropy(model.forward(images), labels)
>>> dx = model.backward(dlogits)
>>> optimiser.step()
>>> later, _ = nn.softmax_cross_entropy(model.forward(images), labels)
>>> bool(later < loss)
True
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar, TypeAlias

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._files import save_atomically
from ._shapes import PADDING_MODES, check_choice, check_int, output_shape, per_dim
from .algorithms import ALGORITHMS
from .api import conv, conv_grad, conv_transpose

__all__ = [
    "SGD",
    "Adam",
    "AvgPool",
    "Conv",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Flatten",
    "Layer",
    "Linear",
    "MaxPool",
    "ReLU",
    "Sequential",
    "load",
    "save",
    "softmax_cross_entropy",
]

# Layer geometry is checked at construction by asking ndconv for the output shape of an
# input this large along every spatial dim: any sensible kernel and padding fit it, so only
# the arguments themselves can fail. What depends on the real input size (a kernel larger
# than it, reflect padding as wide as it) is checked by ndconv.conv at forward time.
_PROBE_SIZE = 1 << 20


def _length(value: object) -> int | None:
    """The length of a per-dimension sequence, or None for a scalar."""
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes)):
        return len(value)
    return None


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    resolved = np.dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(f"dtype must be a floating dtype such as float32; got dtype={resolved}")
    return resolved


def _he_normal(
    shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype: np.dtype
) -> NDArray:
    # Drawn in float64 then cast, so a float32 and a float64 layer with the same seed
    # hold the same weights up to rounding.
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


def _kernel_size(kernel_size: object, spatial_dims: int | None, layer: str) -> tuple[int, ...]:
    if spatial_dims is not None:
        return per_dim(kernel_size, spatial_dims, "kernel_size", minimum=1)
    rank = _length(kernel_size)
    if rank is None or rank == 0:
        raise TypeError(
            f"{layer} takes kernel_size as one int per spatial dim, e.g. (3, 3), which sets "
            f"the number of spatial dims; got kernel_size={kernel_size!r} "
            f"(use {layer}1d, {layer}2d or {layer}3d for a single int)"
        )
    return per_dim(kernel_size, rank, "kernel_size", minimum=1)


def _check_channels(in_channels: object, out_channels: object, groups: object) -> None:
    channels = {
        "in_channels": check_int(in_channels, "in_channels", minimum=1),
        "out_channels": check_int(out_channels, "out_channels", minimum=1),
    }
    groups = check_int(groups, "groups", minimum=1)
    for name, count in channels.items():
        if count % groups:
            raise ValueError(f"groups={groups} must divide {name}={count}")


def _batched_input(x: ArrayLike, weight: NDArray, layer: str) -> NDArray:
    x = np.asarray(x)
    if x.ndim != weight.ndim:
        raise ValueError(
            f"{layer} takes a batch shaped (N, C, *spatial) with {weight.ndim - 2} spatial "
            f"dim{'s' * (weight.ndim > 3)}; got x.shape={x.shape}"
        )
    return x


class Layer:
    """A differentiable function of its input and its parameters.

    Subclasses implement ``forward`` and ``backward``. ``forward(x)`` keeps
    what the gradient needs (a reference to ``x`` or a mask), so ``backward``
    refers to the most recent ``forward``.

    Attributes
    ----------
    params : dict of str to ndarray
        The trainable arrays; optimisers update them in place.
    grads : dict of str to ndarray
        One array per entry of ``params``, same shape and dtype, overwritten
        in place by ``backward`` with the gradient of the loss.

    Examples
    --------
    A layer without parameters:

    >>> import numpy as np
    >>> from ndconv import nn
    >>> class Square(nn.Layer):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x * x
    ...     def backward(self, dy):
    ...         return 2 * self.x * dy
    >>> square = Square()
    >>> square(np.array([1.0, 3.0])), square.backward(np.ones(2))
    (array([1., 9.]), array([2., 6.]))
    """

    def __init__(self) -> None:
        self.params: dict[str, NDArray] = {}
        self.grads: dict[str, NDArray] = {}
        self._saved: object = None

    def __call__(self, x: ArrayLike) -> NDArray:
        """Same as :meth:`forward`."""
        return self.forward(x)

    def forward(self, x: ArrayLike) -> NDArray:
        """The layer's output for ``x``; keeps what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dy: ArrayLike) -> NDArray:
        """Given dL/d(output), fill ``grads`` and return dL/dx for the last ``forward``."""
        raise NotImplementedError

    def _add_param(self, name: str, value: NDArray) -> None:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def _add_weight_and_bias(
        self,
        weight_shape: tuple[int, ...],
        bias_size: int,
        *,
        bias: bool,
        dtype: DTypeLike,
        rng: np.random.Generator | int | None,
    ) -> None:
        """He-normal ``"weight"`` and zero ``"bias"`` (if ``bias``).

        Every weight here is laid out ``(first, *fan_in_axes)``, so ``fan_in`` is the
        product of all axes but the first, as PyTorch computes it.
        """
        dtype = _float_dtype(dtype)
        fan_in = math.prod(weight_shape[1:])
        self._add_param("weight", _he_normal(weight_shape, fan_in, np.random.default_rng(rng),
                                             dtype))
        if bias:
            self._add_param("bias", np.zeros(bias_size, dtype))

    def _recall(self) -> object:
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._saved

    def _set_grad(self, name: str, value: NDArray) -> None:
        np.copyto(self.grads[name], value, casting="same_kind")


class Conv(Layer):
    """Convolution layer with any number of spatial dims: ``ndconv.conv`` with trainable weights.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output; both divisible by ``groups``.
    kernel_size : sequence of int
        One size per spatial dim; its length sets the number of spatial dims
        (:class:`Conv1d`, :class:`Conv2d`, :class:`Conv3d` also take an int).
    stride, padding, dilation, groups, padding_mode, algorithm
        As for :func:`ndconv.conv`.
    bias : bool, default True
        Whether to add a trainable bias per output channel.
    dtype : floating dtype, default float32
    rng : numpy Generator, int or None
        Source of the initial weights; an int seeds a new generator.

    Attributes
    ----------
    params : dict
        ``"weight"``, shape ``(out_channels, in_channels // groups, *kernel_size)``,
        He-normal with ``fan_in = in_channels // groups * prod(kernel_size)``;
        ``"bias"``, shape ``(out_channels,)``, zeros (absent if ``bias=False``).

    Raises
    ------
    TypeError, ValueError
        For an argument :func:`ndconv.conv` would reject, channels not
        divisible by ``groups``, or a non-floating ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> layer = nn.Conv(3, 8, (3, 3, 3), stride=2, padding=1, rng=0)
    >>> x = np.ones((2, 3, 8, 8, 8), dtype=np.float32)
    >>> y = layer(x)
    >>> y.shape, y.dtype
    ((2, 8, 4, 4, 4), dtype('float32'))
    >>> layer.backward(np.ones_like(y)).shape, layer.grads["weight"].shape
    ((2, 3, 8, 8, 8), (8, 3, 3, 3, 3))
    """

    spatial_dims: ClassVar[int | None] = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: int | str | Sequence[int] | Sequence[tuple[int, int]] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: DTypeLike = np.float32,
        rng: np.random.Generator | int | None = None,
        algorithm: str = "auto",
    ) -> None:
        super().__init__()
        _check_channels(in_channels, out_channels, groups)
        kernel = _kernel_size(kernel_size, self.spatial_dims, "Conv")
        weight_shape = (out_channels, in_channels // groups, *kernel)
        output_shape(
            (1, in_channels, *(_PROBE_SIZE,) * len(kernel)), weight_shape,
            stride=stride, padding=padding, dilation=dilation, groups=groups,
        )
        self._options = {
            "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
            "padding_mode": check_choice(padding_mode, PADDING_MODES, "padding_mode"),
            "algorithm": check_choice(algorithm, ("auto", *sorted(ALGORITHMS)), "algorithm"),
        }
        self._add_weight_and_bias(weight_shape, out_channels, bias=bias, dtype=dtype, rng=rng)

    def forward(self, x: ArrayLike) -> NDArray:
        """``ndconv.conv(x, weight, bias, ...)``; keeps a reference to ``x``."""
        x = _batched_input(x, self.params["weight"], type(self).__name__)
        self._saved = x
        return conv(x, self.params["weight"], self.params.get("bias"), **self._options)

    def backward(self, dy: ArrayLike) -> NDArray:
        """``ndconv.conv_grad`` of the last forward: fills ``grads``, returns dL/dx."""
        dx, dw, dbias = conv_grad(dy, self._recall(), self.params["weight"], **self._options)
        self._set_grad("weight", dw)
        if "bias" in self.params:
            self._set_grad("bias", dbias)
        return dx


class Conv1d(Conv):
    """:class:`Conv` with one spatial dim; ``kernel_size`` may be an int.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> nn.Conv1d(2, 4, 5, padding="same", rng=0)(np.ones((1, 2, 16))).shape
    (1, 4, 16)
    """

    spatial_dims = 1


class Conv2d(Conv):
    """:class:`Conv` with two spatial dims; ``kernel_size`` may be an int.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> nn.Conv2d(3, 6, 3, groups=3, rng=0)(np.ones((1, 3, 8, 8))).shape
    (1, 6, 6, 6)
    """

    spatial_dims = 2


class Conv3d(Conv):
    """:class:`Conv` with three spatial dims; ``kernel_size`` may be an int.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> nn.Conv3d(1, 2, 3, dilation=2, rng=0)(np.ones((1, 1, 9, 9, 9))).shape
    (1, 2, 5, 5, 5)
    """

    spatial_dims = 3


class ConvTranspose(Layer):
    """Transposed convolution layer: ``ndconv.conv_transpose`` with trainable weights.

    The adjoint of :class:`Conv` with respect to its input, the usual learned
    upsampling. Its gradients are convolutions too: dL/dx is ``conv(dy, w)``
    and dL/dw is the weight gradient of that same convolution.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output; both divisible by ``groups``.
    kernel_size : sequence of int
        One size per spatial dim (an int for :class:`ConvTranspose1d`/``2d``/``3d``).
    stride, padding, output_padding, dilation, groups, algorithm
        As for :func:`ndconv.conv_transpose`.
    bias : bool, default True
    dtype : floating dtype, default float32
    rng : numpy Generator, int or None

    Attributes
    ----------
    params : dict
        ``"weight"``, shape ``(in_channels, out_channels // groups, *kernel_size)``
        (PyTorch's layout), He-normal with
        ``fan_in = out_channels // groups * prod(kernel_size)`` as PyTorch
        computes it for this layout; ``"bias"``, shape ``(out_channels,)``, zeros.

    Raises
    ------
    TypeError, ValueError
        For an argument :func:`ndconv.conv_transpose` would reject, channels
        not divisible by ``groups``, or a non-floating ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> up = nn.ConvTranspose(4, 2, (4, 4), stride=2, padding=1, rng=0)
    >>> y = up(np.ones((1, 4, 5, 5), dtype=np.float32))
    >>> y.shape, up.backward(np.ones_like(y)).shape
    ((1, 2, 10, 10), (1, 4, 5, 5))
    """

    spatial_dims: ClassVar[int | None] = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | Sequence[tuple[int, int]] = 0,
        output_padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
        rng: np.random.Generator | int | None = None,
        algorithm: str = "auto",
    ) -> None:
        super().__init__()
        _check_channels(in_channels, out_channels, groups)
        kernel = _kernel_size(kernel_size, self.spatial_dims, "ConvTranspose")
        weight_shape = (in_channels, out_channels // groups, *kernel)
        output_shape(
            (1, in_channels, *(_PROBE_SIZE,) * len(kernel)), weight_shape, stride=stride,
            padding=padding, dilation=dilation, groups=groups, transposed=True,
            output_padding=output_padding,
        )
        self._options = {
            "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
            "algorithm": check_choice(algorithm, ("auto", *sorted(ALGORITHMS)), "algorithm"),
        }
        self._output_padding = output_padding
        self._add_weight_and_bias(weight_shape, out_channels, bias=bias, dtype=dtype, rng=rng)

    def forward(self, x: ArrayLike) -> NDArray:
        """``ndconv.conv_transpose(x, weight, bias, ...)``; keeps a reference to ``x``."""
        x = _batched_input(x, self.params["weight"], type(self).__name__)
        self._saved = x
        return conv_transpose(
            x, self.params["weight"], self.params.get("bias"),
            output_padding=self._output_padding, **self._options,
        )

    def backward(self, dy: ArrayLike) -> NDArray:
        """Fill ``grads`` and return dL/dx, both by the convolution this layer transposes."""
        x: NDArray = self._recall()  # type: ignore[assignment]
        dy = np.asarray(dy)
        w = self.params["weight"]
        # <dy, conv_transpose(x, w)> = <conv(dy, w), x>, so dL/dx = conv(dy, w) and dL/dw is
        # the weight gradient of conv(dy, w) for the output gradient x (conv_grad's first
        # result, conv_transpose(x, w), is not needed). With output_padding >= stride
        # (allowed while it is below the dilation) conv(dy, w) reaches output_padding //
        # stride positions past x's end, which x never touched: they are cropped from dx,
        # and x is zero-extended over them so that conv_grad sees matching shapes.
        dx_reach = conv(dy, w, **self._options)
        spatial = tuple(slice(0, n) for n in x.shape[2:])
        tail = [(0, 0), (0, 0), *((0, r - n) for r, n in zip(dx_reach.shape[2:], x.shape[2:]))]
        _, dw, _ = conv_grad(np.pad(x, tail), dy, w, **self._options)
        self._set_grad("weight", dw)
        if "bias" in self.params:
            self._set_grad("bias", dy.sum(axis=(0, *range(2, dy.ndim))))
        return dx_reach[(slice(None), slice(None), *spatial)]


class ConvTranspose1d(ConvTranspose):
    """:class:`ConvTranspose` with one spatial dim; ``kernel_size`` may be an int.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> nn.ConvTranspose1d(2, 1, 3, stride=2, rng=0)(np.ones((1, 2, 4))).shape
    (1, 1, 9)
    """

    spatial_dims = 1


class ConvTranspose2d(ConvTranspose):
    """:class:`ConvTranspose` with two spatial dims; ``kernel_size`` may be an int.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> nn.ConvTranspose2d(2, 1, 2, stride=2, rng=0)(np.ones((1, 2, 4, 4))).shape
    (1, 1, 8, 8)
    """

    spatial_dims = 2


class ConvTranspose3d(ConvTranspose):
    """:class:`ConvTranspose` with three spatial dims; ``kernel_size`` may be an int.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> nn.ConvTranspose3d(2, 1, 2, stride=2, rng=0)(np.ones((1, 2, 2, 2, 2))).shape
    (1, 1, 4, 4, 4)
    """

    spatial_dims = 3


class ReLU(Layer):
    """``max(x, 0)`` elementwise; the gradient at 0 is 0, as in PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> relu = nn.ReLU()
    >>> relu(np.array([-1.0, 0.0, 2.0])), relu.backward(np.array([5.0, 5.0, 5.0]))
    (array([0., 0., 2.]), array([0., 0., 5.]))
    """

    def forward(self, x: ArrayLike) -> NDArray:
        """``max(x, 0)``; keeps the mask of positive entries."""
        x = np.asarray(x)
        self._saved = x > 0
        return np.maximum(x, 0)

    def backward(self, dy: ArrayLike) -> NDArray:
        """``dy`` where the input was positive, else 0."""
        return np.where(self._recall(), dy, 0)


_PoolGeometry: TypeAlias = "tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]"


class _Pool(Layer):
    """Shared geometry of the pooling layers: windows of a padded input, and their adjoint."""

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None,
        padding: int | Sequence[int],
    ) -> None:
        super().__init__()
        lengths = {
            name: length
            for name, value in (("kernel_size", kernel_size), ("stride", stride),
                                ("padding", padding))
            if (length := _length(value)) is not None
        }
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"kernel_size, stride and padding must give the same number of spatial dims; "
                f"got lengths {lengths}"
            )
        # With only ints the layer adapts to the input's number of spatial dims.
        self._spatial_dims = next(iter(lengths.values()), None)
        dims = self._spatial_dims or 1
        self._kernel = per_dim(kernel_size, dims, "kernel_size", minimum=1)
        self._stride = self._kernel if stride is None else per_dim(stride, dims, "stride", 1)
        self._padding = per_dim(padding, dims, "padding", minimum=0)
        for i, (k, p) in enumerate(zip(self._kernel, self._padding)):
            if p > k // 2:
                raise ValueError(
                    f"padding must be at most half the kernel size (every window must cover "
                    f"some input); got padding[{i}]={p} with kernel_size[{i}]={k}"
                )

    def _geometry(self, x: NDArray) -> _PoolGeometry:
        name = type(self).__name__
        if x.dtype.kind != "f":
            raise TypeError(f"{name} needs a floating input; got x.dtype={x.dtype}")
        if x.ndim < 3:
            raise ValueError(
                f"{name} takes x shaped (N, C, *spatial) with at least one spatial dim; "
                f"got x.shape={x.shape}"
            )
        dims = x.ndim - 2
        if self._spatial_dims is not None and dims != self._spatial_dims:
            raise ValueError(
                f"{name} was built for {self._spatial_dims} spatial dims but x.shape={x.shape} "
                f"has {dims}"
            )
        kernel, stride, padding = (
            t if self._spatial_dims else t * dims
            for t in (self._kernel, self._stride, self._padding)
        )
        for i, (n, k, p) in enumerate(zip(x.shape[2:], kernel, padding)):
            if n + 2 * p < k:
                raise ValueError(
                    f"{name} kernel_size {k} is larger than the padded input along spatial dim "
                    f"{i} ({n} + 2 * {p}); x.shape={x.shape}"
                )
        return kernel, stride, padding

    def _windows(self, x: NDArray, fill: float) -> tuple[NDArray, _PoolGeometry]:
        """A view ``(N, C, *out, *kernel)`` of the windows of ``x`` padded with ``fill``."""
        geometry = self._geometry(x)
        kernel, stride, padding = geometry
        padded = np.pad(x, [(0, 0), (0, 0), *((p, p) for p in padding)], constant_values=fill)
        windows = sliding_window_view(padded, kernel, axis=tuple(range(2, x.ndim)))
        strided = windows[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
        return strided, geometry


def _fold(window_grads: NDArray, x_shape: tuple[int, ...], geometry: _PoolGeometry) -> NDArray:
    """The adjoint of ``_Pool._windows``: add each window's gradient back where it was read."""
    kernel, stride, padding = geometry
    dims = len(kernel)
    padded_spatial = tuple(n + 2 * p for n, p in zip(x_shape[2:], padding))
    dx = np.zeros(x_shape[:2] + padded_spatial, window_grads.dtype)
    out = window_grads.shape[2 : 2 + dims]
    # One strided slice per kernel tap: windows overlap when stride < kernel_size, and
    # += over a slice (no repeated index within one tap) accumulates them correctly.
    for tap in np.ndindex(*kernel):
        reached = tuple(slice(t, t + s * (m - 1) + 1, s) for t, s, m in zip(tap, stride, out))
        dx[(slice(None), slice(None), *reached)] += window_grads[(..., *tap)]
    inside = tuple(slice(p, p + n) for p, n in zip(padding, x_shape[2:]))
    return dx[(slice(None), slice(None), *inside)]


class MaxPool(_Pool):
    """Maximum over each window, any number of spatial dims, PyTorch's ``MaxPool*d``.

    Parameters
    ----------
    kernel_size : int or sequence of int
        Window size; an int applies to every spatial dim of the input.
    stride : int, sequence of int or None, default None
        Step between windows; None means ``kernel_size``.
    padding : int or sequence of int, default 0
        ``-inf`` added on both sides; at most half the kernel size.

    Notes
    -----
    The output has ``floor((n + 2 * padding - kernel_size) / stride) + 1``
    elements per spatial dim. The gradient of each window goes to its
    maximum; with ties, to the first in row-major order, as in PyTorch. A NaN
    counts as the maximum of its window.

    Raises
    ------
    TypeError, ValueError
        Non-integer or non-positive sizes, padding above half the kernel,
        sequences of different lengths; at forward time, a non-floating input,
        a rank other than the one the sequences set, or a window larger than
        the padded input.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> pool = nn.MaxPool(2)
    >>> x = np.array([[[[1.0, 2.0, 5.0, 5.0], [3.0, 0.0, 1.0, 1.0]]]])
    >>> pool(x)
    array([[[[3., 5.]]]])
    >>> pool.backward(np.array([[[[10.0, 20.0]]]]))
    array([[[[ 0.,  0., 20.,  0.],
             [10.,  0.,  0.,  0.]]]])
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
    ) -> None:
        super().__init__(kernel_size, stride, padding)

    def forward(self, x: ArrayLike) -> NDArray:
        """The maximum of each window; keeps the position of each maximum."""
        x = np.asarray(x)
        windows, geometry = self._windows(x, -np.inf)
        flat = windows.reshape(*windows.shape[: x.ndim], -1)
        first_max = np.argmax(flat, axis=-1)[..., np.newaxis]
        self._saved = (first_max, windows.shape, x.shape, geometry)
        return np.take_along_axis(flat, first_max, axis=-1)[..., 0]

    def backward(self, dy: ArrayLike) -> NDArray:
        """``dy`` of each window added at the position of its maximum."""
        first_max, windows_shape, x_shape, geometry = self._recall()  # type: ignore[misc]
        dy = np.asarray(dy)
        window_grads = np.zeros((*first_max.shape[:-1], math.prod(geometry[0])), dy.dtype)
        np.put_along_axis(window_grads, first_max, dy[..., np.newaxis], axis=-1)
        return _fold(window_grads.reshape(windows_shape), x_shape, geometry)


class AvgPool(_Pool):
    """Mean over each window, any number of spatial dims, PyTorch's ``AvgPool*d``.

    Parameters
    ----------
    kernel_size : int or sequence of int
        Window size; an int applies to every spatial dim of the input.
    stride : int, sequence of int or None, default None
        Step between windows; None means ``kernel_size``.
    padding : int or sequence of int, default 0
        Zeros added on both sides, counted in the mean (PyTorch's default
        ``count_include_pad=True``); at most half the kernel size.

    Raises
    ------
    TypeError, ValueError
        As for :class:`MaxPool`.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> pool = nn.AvgPool(2)
    >>> pool(np.array([[[1.0, 3.0, 5.0, 9.0]]]))
    array([[[2., 7.]]])
    >>> pool.backward(np.array([[[2.0, 4.0]]]))
    array([[[1., 1., 2., 2.]]])
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
    ) -> None:
        super().__init__(kernel_size, stride, padding)

    def forward(self, x: ArrayLike) -> NDArray:
        """The mean of each window."""
        x = np.asarray(x)
        windows, geometry = self._windows(x, 0.0)
        self._saved = (windows.shape, x.shape, geometry)
        return windows.mean(axis=tuple(range(x.ndim, windows.ndim)))

    def backward(self, dy: ArrayLike) -> NDArray:
        """Each window's ``dy`` shared equally among its elements."""
        windows_shape, x_shape, geometry = self._recall()  # type: ignore[misc]
        dy = np.asarray(dy)
        kernel = geometry[0]
        share = (dy / math.prod(kernel)).reshape(dy.shape + (1,) * len(kernel))
        return _fold(np.broadcast_to(share, windows_shape), x_shape, geometry)


class Flatten(Layer):
    """Reshape ``(N, *rest)`` to ``(N, prod(rest))``: from feature maps to :class:`Linear`.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> flatten = nn.Flatten()
    >>> flatten(np.zeros((2, 16, 2, 2))).shape, flatten.backward(np.zeros((2, 64))).shape
    ((2, 64), (2, 16, 2, 2))
    """

    def forward(self, x: ArrayLike) -> NDArray:
        """``x.reshape(len(x), -1)``."""
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"Flatten needs a batch axis; got a 0-d x={x!r}")
        self._saved = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: ArrayLike) -> NDArray:
        """``dy`` in the shape of the last input."""
        return np.asarray(dy).reshape(self._recall())  # type: ignore[call-overload]


class Linear(Layer):
    """Fully connected layer, ``y = x @ weight.T + bias``: every output sees every input.

    This is the layer a convolution is contrasted with: a convolution shares
    one small kernel across all positions and looks only at a window, while
    a fully connected layer has one weight per (input, output) pair, so its
    size grows with the input and it knows nothing of neighbourhoods. In a
    CNN it comes last, after :class:`Flatten`, to turn features into scores.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    dtype : floating dtype, default float32
    rng : numpy Generator, int or None

    Attributes
    ----------
    params : dict
        ``"weight"``, shape ``(out_features, in_features)`` (PyTorch's layout),
        He-normal with ``fan_in = in_features``; ``"bias"``, zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> layer = nn.Linear(3, 2, rng=0)
    >>> layer.params["weight"][:] = [[1, 0, 0], [1, 1, 1]]
    >>> layer(np.array([[1.0, 2.0, 3.0]]))
    array([[1., 6.]])
    >>> layer.backward(np.array([[1.0, 1.0]])), layer.grads["weight"]
    (array([[2., 1., 1.]]), array([[1., 2., 3.],
           [1., 2., 3.]], dtype=float32))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        in_features = check_int(in_features, "in_features", minimum=1)
        out_features = check_int(out_features, "out_features", minimum=1)
        self._add_weight_and_bias((out_features, in_features), out_features, bias=bias,
                                  dtype=dtype, rng=rng)

    def forward(self, x: ArrayLike) -> NDArray:
        """``x @ weight.T + bias`` over the last axis of ``x``; keeps a reference to ``x``."""
        x = np.asarray(x)
        weight = self.params["weight"]
        if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"Linear expects x with {weight.shape[1]} features in its last axis; "
                f"got x.shape={x.shape}"
            )
        self._saved = x
        y = x @ weight.T
        return y + self.params["bias"] if "bias" in self.params else y

    def backward(self, dy: ArrayLike) -> NDArray:
        """Fill ``grads`` and return ``dy @ weight``."""
        x: NDArray = self._recall()  # type: ignore[assignment]
        dy = np.asarray(dy)
        rows = dy.reshape(-1, dy.shape[-1])
        self._set_grad("weight", rows.T @ x.reshape(-1, x.shape[-1]))
        if "bias" in self.params:
            self._set_grad("bias", rows.sum(axis=0))
        return dy @ self.params["weight"]


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    ``params`` and ``grads`` gather the layers' arrays (the same arrays, not
    copies) under ``"<index>.<name>"``, PyTorch's ``state_dict`` keys.

    Parameters
    ----------
    *layers : Layer

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))
    >>> model(np.ones((3, 4), dtype=np.float32)).shape
    (3, 2)
    >>> sorted(model.params)
    ['0.bias', '0.weight', '2.bias', '2.weight']
    >>> model.params["0.weight"] is model[0].params["weight"]
    True
    """

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential takes Layer objects; got {type(layer).__name__} at position {i}"
                )
        self.layers: tuple[Layer, ...] = layers
        for i, layer in enumerate(layers):
            self.params.update({f"{i}.{name}": v for name, v in layer.params.items()})
            self.grads.update({f"{i}.{name}": v for name, v in layer.grads.items()})

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def forward(self, x: ArrayLike) -> NDArray:
        """Each layer's forward, first to last."""
        out = np.asarray(x)
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def backward(self, dy: ArrayLike) -> NDArray:
        """Each layer's backward, last to first."""
        grad = np.asarray(dy)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> tuple[float, NDArray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    Parameters
    ----------
    logits : array_like, shape (N, K)
        Unnormalised scores for K classes.
    labels : array_like of int, shape (N,)
        The true class of each row, in ``[0, K)``.

    Returns
    -------
    loss : float
        ``mean(-log softmax(logits)[i, labels[i]])``, PyTorch's
        ``F.cross_entropy`` with its default mean reduction.
    dlogits : ndarray, shape (N, K)
        The gradient of ``loss``: ``(softmax(logits) - onehot(labels)) / N``,
        in the dtype of ``logits``.

    Raises
    ------
    TypeError
        Non-integer labels.
    ValueError
        Shapes that do not match, or a label outside ``[0, K)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> loss, dlogits = nn.softmax_cross_entropy(np.array([[0.0, 0.0], [2.0, 0.0]]), [0, 0])
    >>> round(loss, 4)
    0.41
    >>> dlogits.round(3)
    array([[-0.25,  0.25],
           [-0.06,  0.06]])
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits must have shape (N, K) with N >= 1; got {logits.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices; got dtype {labels.dtype}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels must have shape (N,) = {logits.shape[:1]} to match logits.shape="
            f"{logits.shape}; got labels.shape={labels.shape}"
        )
    classes = logits.shape[1]
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(
            f"labels must lie in [0, {classes}) for {classes} classes; "
            f"got values from {labels.min()} to {labels.max()}"
        )
    rows = np.arange(len(labels))
    shifted = logits - logits.max(axis=1, keepdims=True)  # exp cannot overflow
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[rows, labels].mean())
    dlogits = np.exp(log_probs)
    dlogits[rows, labels] -= 1
    return loss, (dlogits / len(labels)).astype(logits.dtype, copy=False)


Parameters: TypeAlias = "Layer | Iterable[Layer | tuple[NDArray, NDArray]]"


def _parameter_pairs(parameters: object) -> list[tuple[NDArray, NDArray]]:
    items = [parameters] if isinstance(parameters, Layer) else list(parameters)  # type: ignore[call-overload]
    pairs: list[tuple[NDArray, NDArray]] = []
    for i, item in enumerate(items):
        if isinstance(item, Layer):
            pairs.extend((value, item.grads[name]) for name, value in item.params.items())
        elif isinstance(item, tuple) and len(item) == 2:
            pairs.append(item)
        else:
            raise TypeError(
                f"parameters must be a Layer, or an iterable of Layers and (param, grad) array "
                f"pairs; got {type(item).__name__} at position {i}"
            )
    seen: set[int] = set()
    for param, grad in pairs:
        if not (isinstance(param, np.ndarray) and param.dtype.kind == "f"
                and param.flags.writeable):
            raise TypeError(f"each param must be a writable floating ndarray; got {param!r}")
        if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
            raise ValueError(
                f"each grad must be an ndarray of its param's shape {param.shape}; got "
                f"{getattr(grad, 'shape', type(grad).__name__)}"
            )
        if id(param) in seen:
            raise ValueError(
                f"the same parameter array (shape {param.shape}) was given twice; it would be "
                f"stepped twice per step"
            )
        seen.add(id(param))
    return pairs


def _check_rate(value: object, name: str, *, upper: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__})")
    number = float(value)  # type: ignore[arg-type]
    if upper is None:
        if not (number > 0 and math.isfinite(number)):
            raise ValueError(f"{name} must be positive and finite; got {name}={value!r}")
    elif not 0 <= number < upper:
        raise ValueError(f"{name} must be in [0, {upper:g}); got {name}={value!r}")
    return number


class SGD:
    """Stochastic gradient descent with momentum, PyTorch's ``torch.optim.SGD``.

    Each :meth:`step` updates every parameter in place from the gradient
    array paired with it: ``buf = momentum * buf + grad`` (``buf = grad`` on
    the first step), then ``param -= lr * buf``; without momentum,
    ``param -= lr * grad``.

    Parameters
    ----------
    parameters : Layer, or iterable of Layer and (param, grad) pairs
        What to train. Layers contribute each ``params[name]`` with
        ``grads[name]``; pairs are arrays the caller refills before each step.
    lr : float, default 0.01
        Learning rate, positive.
    momentum : float, default 0.0
        In ``[0, 1)``.

    Raises
    ------
    TypeError, ValueError
        Non-numeric or out-of-range ``lr``/``momentum``; parameters that are
        not writable floating arrays, gradients of another shape, or the same
        parameter twice.

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv import nn
    >>> w, dw = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    >>> sgd = nn.SGD([(w, dw)], lr=0.1, momentum=0.9)
    >>> sgd.step(); w
    array([0.95, 2.05])
    >>> sgd.step(); w
    array([0.855, 2.145])
    """

    def __init__(self, parameters: Parameters, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = _check_rate(lr, "lr")
        self.momentum = _check_rate(momentum, "momentum", upper=1.0)
        self._pairs = _parameter_pairs(parameters)
        self._velocity: list[NDArray | None] = [None] * len(self._pairs)

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        for i, (param, grad) in enumerate(self._pairs):
            update = grad
            if self.momentum:
                velocity = self._velocity[i]
                if velocity is None:
                    velocity = self._velocity[i] = grad.astype(param.dtype, copy=True)
                else:
                    velocity *= self.momentum
                    velocity += grad
                update = velocity
            param -= self.lr * update


class Adam:
    """Adam, PyTorch's ``torch.optim.Adam`` (no weight decay, no amsgrad).

    With step count ``t`` and ``g`` the gradient: ``m = b1 * m + (1 - b1) * g``,
    ``v = b2 * v + (1 - b2) * g**2``, then
    ``param -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``.

    Parameters
    ----------
    parameters : Layer, or iterable of Layer and (param, grad) pairs
        As for :class:`SGD`.
    lr : float, default 0.001
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the moment estimates, each in ``[0, 1)``.
    eps : float, default 1e-8

    Raises
    ------
    TypeError, ValueError
        As for :class:`SGD`, and for ``betas`` not a pair in ``[0, 1)``.

    Examples
    --------
    The first step moves every parameter by about ``lr`` against its gradient's sign:

    >>> import numpy as np
    >>> from ndconv import nn
    >>> w, dw = np.array([1.0, 2.0]), np.array([0.5, -0.003])
    >>> nn.Adam([(w, dw)], lr=0.1).step()
    >>> w.round(6)
    array([0.9, 2.1])
    """

    def __init__(
        self,
        parameters: Parameters,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.lr = _check_rate(lr, "lr")
        if _length(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2); got betas={betas!r}")
        self.betas = (_check_rate(betas[0], "betas[0]", upper=1.0),
                      _check_rate(betas[1], "betas[1]", upper=1.0))
        self.eps = _check_rate(eps, "eps")
        self._pairs = _parameter_pairs(parameters)
        self._moments = [(np.zeros_like(p), np.zeros_like(p)) for p, _ in self._pairs]
        self._steps = 0

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        self._steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1**self._steps)
        root_correction = math.sqrt(1 - beta2**self._steps)
        for (param, grad), (mean, square) in zip(self._pairs, self._moments):
            mean *= beta1
            mean += (1 - beta1) * grad
            square *= beta2
            square += (1 - beta2) * grad * grad
            param -= step_size * mean / (np.sqrt(square) / root_correction + self.eps)


def save(path: str | os.PathLike[str], model: Layer) -> None:
    """Write ``model.params`` to an ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace (written exactly there: no suffix is added).
    model : Layer
        Any layer; a :class:`Sequential` saves every layer's parameters under
        ``"<index>.<name>"``.

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> from ndconv import nn
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
    >>> trained, fresh = nn.Linear(3, 2, rng=0), nn.Linear(3, 2, rng=1)
    >>> nn.save(path, trained)
    >>> nn.load(path, fresh)
    >>> np.array_equal(fresh.params["weight"], trained.params["weight"])
    True
    """
    arrays = model.params
    save_atomically(Path(path), lambda stream: np.savez(stream, **arrays), force=True)


def _read_npz(path: str | os.PathLike[str]) -> dict[str, NDArray]:
    # Opened here rather than by np.load, so that the file is closed when its contents
    # turn out to be damaged too.
    with open(path, "rb") as stream:
        try:
            archive = np.load(stream, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not named parameters")
            with archive:
                return {name: archive[name] for name in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(
                f"{os.fspath(path)!r} is not a readable .npz parameter file: {error}"
            ) from error


def load(path: str | os.PathLike[str], model: Layer) -> None:
    """Copy the parameters saved by :func:`save` into ``model``, in place.

    The file must hold exactly the model's parameter names, each with the
    model's shape and a floating dtype (cast to the model's dtype). Nothing is
    changed unless every check passes; arrays are copied into the existing
    parameter arrays, so optimisers keep working on them.

    Parameters
    ----------
    path : str or path-like
    model : Layer

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not an ``.npz`` archive of arrays, or its names, shapes
        or dtypes do not match ``model``.

    Examples
    --------
    See :func:`save`.
    """
    params = model.params
    stored = _read_npz(path)
    missing, unexpected = sorted(params.keys() - stored), sorted(stored.keys() - params)
    if missing or unexpected:
        raise ValueError(
            f"{os.fspath(path)!r} does not match the model's parameters: missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name, value in stored.items():
        if value.shape != params[name].shape:
            raise ValueError(
                f"parameter {name!r} in {os.fspath(path)!r} has shape {value.shape}; "
                f"the model's has shape {params[name].shape}"
            )
        if value.dtype.kind != "f":
            raise ValueError(
                f"parameter {name!r} in {os.fspath(path)!r} has dtype {value.dtype}; "
                f"expected a floating dtype"
            )
    for name, value in stored.items():
        np.copyto(params[name], value, casting="same_kind")
