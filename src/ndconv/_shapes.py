"""Shape arithmetic, padding normalisation and argument validation, in one place.

Every public entry point turns its arguments into one frozen :class:`ConvSpec`
here, before any work is done. Algorithms, gradients and the planner read that
spec and never parse arguments again.

The two formulas everything else relies on, per spatial dimension with input
size ``n``, kernel size ``k``, stride ``s``, dilation ``d`` and padding
``(lo, hi)``::

    effective kernel   e = d * (k - 1) + 1
    conv output        floor((n + lo + hi - e) / s) + 1
    transposed output  (n - 1) * s - lo - hi + e + output_padding

>>> conv_output_size(5, 3, stride=1, dilation=1, padding=(0, 0))
3
>>> conv_output_size(7, 3, stride=2, dilation=2, padding=(1, 1))
3
>>> transpose_output_size(3, 3, stride=2, dilation=1, padding=(1, 1), output_padding=1)
6
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("valid", "same", "full")
CORRELATE_MODES = ("valid", "same", "full")

Pair = tuple[int, int]
DEFAULT_DTYPE = np.dtype(np.float64)


@dataclass(frozen=True)
class ConvSpec:
    """A checked description of one forward convolution.

    ``conv_transpose`` and the gradients are described by the spec of the
    forward convolution they are the adjoint of, so one type serves all.

    Attributes
    ----------
    batch, in_channels, out_channels, groups : int
        Sizes of the non-spatial axes; ``groups`` divides both channel counts.
    in_spatial, kernel, out_spatial : tuple of int
        Spatial sizes of input, kernel and output (one entry per spatial dim).
    stride, dilation : tuple of int
        One positive entry per spatial dim.
    padding : tuple of (int, int)
        ``(lo, hi)`` padding per spatial dim, already resolved from strings.
    padding_mode : str
        One of ``PADDING_MODES``.
    batched : bool
        Whether the caller's arrays carry a batch axis.
    dtype : numpy.dtype
        The dtype the convolution is computed in (see :mod:`ndconv._dtypes`).

    Examples
    --------
    >>> spec = conv_spec((2, 3, 8, 8), (4, 3, 3, 3), padding="same")
    >>> spec.padding, spec.output_shape
    (((1, 1), (1, 1)), (2, 4, 8, 8))
    """

    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[Pair, ...]
    padding_mode: str
    out_spatial: tuple[int, ...]
    batched: bool = True
    dtype: np.dtype = DEFAULT_DTYPE

    def __hash__(self) -> int:
        # Specs key the plan and offset caches on every call: hash the fields once.
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self)))
            object.__setattr__(self, "_hash", cached)
        return cached  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, object]:
        # String hashes differ between processes: never pickle the remembered one.
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.kernel)

    @property
    def padded_spatial(self) -> tuple[int, ...]:
        """Spatial sizes of the input after padding."""
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.in_spatial, self.padding))

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        """Spatial extent covered by the dilated kernel."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the (batched) input array."""
        return (self.batch, self.in_channels, *self.in_spatial)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the weight array, ``(C_out, C_in // groups, *kernel)``."""
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the result as the caller sees it (no batch axis if unbatched)."""
        shape = (self.batch, self.out_channels, *self.out_spatial)
        return shape if self.batched else shape[1:]


# ---------------------------------------------------------------------------
# Scalar checks
# ---------------------------------------------------------------------------


def is_integer(value: object) -> bool:
    """Return whether ``value`` is a Python or NumPy integer, excluding bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name``.

    >>> check_int(np.int64(3), "stride", minimum=1)
    3
    >>> check_int(1.5, "stride")
    Traceback (most recent call last):
    TypeError: stride must be an int; got 1.5 (float)
    """
    if not is_integer(value):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__})")
    result = int(value)  # type: ignore[call-overload]
    if minimum is not None and result < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}; got {name}={result}")
    return result


def _is_sequence(value: object) -> bool:
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes))


def per_dim(value: object, ndim: int, name: str, minimum: int) -> tuple[int, ...]:
    """Expand an int or a per-dimension sequence into ``ndim`` checked ints.

    >>> per_dim(2, 3, "stride", minimum=1)
    (2, 2, 2)
    >>> per_dim((1, 2), 2, "dilation", minimum=1)
    (1, 2)
    """
    if _is_sequence(value):
        items = list(value)  # type: ignore[call-overload]
        if len(items) != ndim:
            raise ValueError(
                f"{name} must be an int or a sequence of {ndim} int{'s' * (ndim > 1)} "
                f"(one per spatial dim); "
                f"got {name}={_show(value)} with {len(items)} entries"
            )
        return tuple(check_int(v, f"{name}[{i}]", minimum) for i, v in enumerate(items))
    return (check_int(value, name, minimum),) * ndim


def check_choice(value: object, choices: Sequence[str], name: str) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise with a suggestion.

    >>> check_choice("same", PADDING_STRINGS, "padding")
    'same'
    >>> check_choice("sme", PADDING_STRINGS, "padding")
    Traceback (most recent call last):
    ValueError: padding='sme' is not valid; expected one of ... (did you mean 'same'?)
    """
    if isinstance(value, str) and value in choices:
        return value
    expected = ", ".join(repr(c) for c in choices)
    message = f"{name}={value!r} is not valid; expected one of {expected}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    raise ValueError(message)


def _show(value: object) -> str:
    if isinstance(value, np.ndarray):
        return repr(value.tolist())
    return repr(value)


def check_shape(shape: object, name: str) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints, or raise naming ``name``.

    >>> check_shape((2, 3), "x_shape")
    (2, 3)
    >>> check_shape((2, float("nan")), "x_shape")
    Traceback (most recent call last):
    TypeError: x_shape[1] must be an int; got nan (float)
    """
    if not _is_sequence(shape):
        raise TypeError(f"{name} must be a sequence of ints; got {shape!r}")
    items: list[object] = list(shape)  # type: ignore[call-overload]
    return tuple(check_int(v, f"{name}[{i}]", minimum=0) for i, v in enumerate(items))


# ---------------------------------------------------------------------------
# Size formulas
# ---------------------------------------------------------------------------


def conv_output_size(size: int, kernel: int, *, stride: int, dilation: int, padding: Pair) -> int:
    """Output length of a convolution along one dimension.

    >>> conv_output_size(4, 2, stride=1, dilation=1, padding=(0, 0))
    3
    """
    effective = dilation * (kernel - 1) + 1
    return (size + padding[0] + padding[1] - effective) // stride + 1


def transpose_output_size(
    size: int, kernel: int, *, stride: int, dilation: int, padding: Pair, output_padding: int
) -> int:
    """Output length of a transposed convolution along one dimension.

    >>> transpose_output_size(3, 3, stride=2, dilation=1, padding=(0, 0), output_padding=0)
    7
    """
    effective = dilation * (kernel - 1) + 1
    return (size - 1) * stride - padding[0] - padding[1] + effective + output_padding


def same_padding(size: int, kernel: int, *, stride: int, dilation: int) -> Pair:
    """Padding for ``padding="same"``: TensorFlow/JAX "SAME", output ``ceil(size / stride)``.

    The total is split with the extra element at the end, as PyTorch does
    for stride 1 (so both agree wherever PyTorch accepts "same").

    >>> same_padding(5, 4, stride=1, dilation=1)
    (1, 2)
    >>> same_padding(7, 3, stride=2, dilation=1)
    (1, 1)
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return (total // 2, total - total // 2)


def _padding_pairs(padding: object, ndim: int, name: str) -> tuple[Pair, ...]:
    """Normalise an int, per-dim ints or per-dim ``(lo, hi)`` pairs."""
    if not _is_sequence(padding):
        p = check_int(padding, name, minimum=0)
        return ((p, p),) * ndim
    items = list(padding)  # type: ignore[call-overload]
    if len(items) != ndim:
        s = "s" * (ndim > 1)
        hint = (f"; for one (lo, hi) pair on the one spatial dim write {name}=[{_show(padding)}]"
                if ndim == 1 and len(items) == 2 else "")
        raise ValueError(
            f"{name} must be an int, a string, {ndim} int{s} or {ndim} (lo, hi) pair{s} "
            f"(one per spatial dim); got {name}={_show(padding)} with {len(items)} entries{hint}"
        )
    pairs = []
    for i, item in enumerate(items):
        if _is_sequence(item):
            pair = list(item)
            if len(pair) != 2:
                raise ValueError(
                    f"{name}[{i}] must be an int or a (lo, hi) pair; got {_show(item)}"
                )
            lo = check_int(pair[0], f"{name}[{i}][0]", minimum=0)
            hi = check_int(pair[1], f"{name}[{i}][1]", minimum=0)
            pairs.append((lo, hi))
        else:
            p = check_int(item, f"{name}[{i}]", minimum=0)
            pairs.append((p, p))
    return tuple(pairs)


def resolve_padding(
    padding: object,
    in_spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> tuple[Pair, ...]:
    """Turn any accepted ``padding`` form into one ``(lo, hi)`` pair per dim.

    >>> resolve_padding("full", (5,), (3,), (1,), (2,))
    ((4, 4),)
    >>> resolve_padding([(0, 1), 2], (5, 5), (3, 3), (1, 1), (1, 1))
    ((0, 1), (2, 2))
    """
    ndim = len(kernel)
    if isinstance(padding, str):
        form = check_choice(padding, PADDING_STRINGS, "padding")
        if form == "valid":
            return ((0, 0),) * ndim
        if form == "full":
            return tuple((d * (k - 1), d * (k - 1)) for k, d in zip(kernel, dilation))
        return tuple(
            same_padding(n, k, stride=s, dilation=d)
            for n, k, s, d in zip(in_spatial, kernel, stride, dilation)
        )
    return _padding_pairs(padding, ndim, "padding")


def correlate_padding(mode: str, kernel: Sequence[int]) -> tuple[Pair, ...]:
    """Padding that gives ``scipy.signal.correlate``'s ``mode`` for plain arrays.

    "same" centres the output on the "full" one as SciPy does, so an even
    kernel gets its extra element of padding at the start.

    >>> correlate_padding("same", (4, 3))
    ((2, 1), (1, 1))
    """
    mode = check_choice(mode, CORRELATE_MODES, "mode")
    if mode == "valid":
        return ((0, 0),) * len(kernel)
    if mode == "full":
        return tuple((k - 1, k - 1) for k in kernel)
    return tuple((k - 1 - (k - 1) // 2, (k - 1) // 2) for k in kernel)


# ---------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------


def _split_batch(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], x_name: str
) -> tuple[int, bool]:
    """Check the ranks of input and weight; return (batch size, batched)."""
    if len(w_shape) < 3:
        raise ValueError(
            f"w must have at least 3 dims (C_out, C_in // groups, *kernel); "
            f"got w.ndim={len(w_shape)} with shape {w_shape}"
        )
    ndim = len(w_shape) - 2
    if len(x_shape) == len(w_shape):
        return x_shape[0], True
    if len(x_shape) == len(w_shape) - 1:
        return 1, False
    raise ValueError(
        f"{x_name} must have {ndim + 2} dims (N, C, *spatial) or {ndim + 1} dims (C, *spatial) "
        f"to match a {ndim}-D kernel (w.ndim={len(w_shape)}); got {x_name}.ndim={len(x_shape)} "
        f"with shape {x_shape}"
    )


def _check_kernel(w_shape: tuple[int, ...]) -> tuple[int, ...]:
    kernel = w_shape[2:]
    if min(kernel) < 1:
        raise ValueError(f"every kernel size must be at least 1; got w.shape={w_shape}")
    return kernel


def _check_bias(bias_shape: tuple[int, ...] | None, channels: int) -> None:
    if bias_shape is not None and bias_shape != (channels,):
        raise ValueError(
            f"bias must have shape ({channels},) (one value per output channel); "
            f"got bias.shape={bias_shape}"
        )


def _check_fits(
    in_spatial: Sequence[int], padding: Sequence[Pair], effective: Sequence[int]
) -> None:
    for i, (n, (lo, hi), e) in enumerate(zip(in_spatial, padding, effective)):
        if n + lo + hi < e:
            raise ValueError(
                f"the kernel is larger than the padded input along spatial dim {i}: "
                f"effective kernel size dilation*(k-1)+1 = {e} > padded input size "
                f"{n + lo + hi} (input {n} + padding ({lo}, {hi}))"
            )


def _check_padding_mode(
    mode: object, in_spatial: Sequence[int], padding: Sequence[Pair]
) -> str:
    mode = check_choice(mode, PADDING_MODES, "padding_mode")
    for i, (n, (lo, hi)) in enumerate(zip(in_spatial, padding)):
        largest = max(lo, hi)
        if mode == "reflect" and largest > 0 and largest >= n:
            raise ValueError(
                f"padding_mode='reflect' needs padding smaller than the input size; "
                f"got padding ({lo}, {hi}) on spatial dim {i} of size {n}"
            )
        if mode == "circular" and largest > n:
            raise ValueError(
                f"padding_mode='circular' needs padding no larger than the input size; "
                f"got padding ({lo}, {hi}) on spatial dim {i} of size {n}"
            )
        if mode == "replicate" and n == 0 and largest:
            raise ValueError(
                f"padding_mode='replicate' needs a non-empty input to replicate; "
                f"spatial dim {i} has size 0"
            )
    return mode


def conv_spec(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    padding_mode: object = "zeros",
    bias_shape: Sequence[int] | None = None,
    dtype: np.dtype = DEFAULT_DTYPE,
) -> ConvSpec:
    """Validate the arguments of a forward convolution and return its spec.

    >>> conv_spec((3, 8, 8), (4, 3, 3, 3), stride=2).output_shape
    (4, 3, 3)
    >>> conv_spec((1, 3, 8, 8), (4, 2, 3, 3))
    Traceback (most recent call last):
    ValueError: x has 3 channels but w expects w.shape[1] * groups = 2 * 1 = 2 ...
    """
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    batch, batched = _split_batch(x_shape, w_shape, "x")
    channels_axis = 1 if batched else 0
    in_channels = x_shape[channels_axis]
    in_spatial = x_shape[channels_axis + 1 :]
    kernel = _check_kernel(w_shape)
    ndim = len(kernel)
    groups = check_int(groups, "groups", minimum=1)
    out_channels = w_shape[0]
    if in_channels != w_shape[1] * groups:
        unbatched = "" if batched else (
            f"; x.ndim={len(x_shape)} = w.ndim - 1, so x was read as unbatched (C, *spatial)"
        )
        raise ValueError(
            f"x has {in_channels} channels but w expects w.shape[1] * groups = "
            f"{w_shape[1]} * {groups} = {w_shape[1] * groups} (w.shape={w_shape}, groups={groups})"
            f"{unbatched}"
        )
    if out_channels % groups:
        raise ValueError(
            f"groups={groups} must divide the number of output channels w.shape[0]={out_channels}"
        )
    _check_bias(None if bias_shape is None else tuple(bias_shape), out_channels)
    stride_t = per_dim(stride, ndim, "stride", minimum=1)
    dilation_t = per_dim(dilation, ndim, "dilation", minimum=1)
    pads = resolve_padding(padding, in_spatial, kernel, stride_t, dilation_t)
    mode = _check_padding_mode(padding_mode, in_spatial, pads)
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation_t))
    _check_fits(in_spatial, pads, effective)
    out_spatial = tuple(
        conv_output_size(n, k, stride=s, dilation=d, padding=p)
        for n, k, s, d, p in zip(in_spatial, kernel, stride_t, dilation_t, pads)
    )
    return ConvSpec(
        batch=batch,
        in_channels=in_channels,
        out_channels=out_channels,
        groups=groups,
        in_spatial=in_spatial,
        kernel=kernel,
        stride=stride_t,
        dilation=dilation_t,
        padding=pads,
        padding_mode=mode,
        out_spatial=out_spatial,
        batched=batched,
        dtype=dtype,
    )


# Exact types only: 1 and True hash alike, but only one of them is a valid stride.
_EXACT_TYPES = frozenset({int, str, type(None)})


def _plain_tuple(value: tuple[Any, ...]) -> bool:
    return all(
        type(v) is int or (type(v) is tuple and all(type(e) is int for e in v)) for v in value
    )


def memoized_spec(build: Callable[..., ConvSpec], *shapes: object, **params: object) -> ConvSpec:
    """``build(*shapes, **params)``, memoised when every parameter has an exact plain type.

    ``build`` is :func:`conv_spec` or :func:`transpose_spec` and ``shapes``
    come from ``ndarray.shape``. Validating the arguments costs tens of
    microseconds, which is most of a small convolution, so repeated calls
    with plain ints, strings, tuples and dtypes reuse the spec (the cache
    holds the last 4096 distinct calls). Any other parameter type, or a call
    that raises, is not cached.

    >>> memoized_spec(conv_spec, (1, 1, 8, 8), (1, 1, 3, 3), stride=2) is memoized_spec(
    ...     conv_spec, (1, 1, 8, 8), (1, 1, 3, 3), stride=2)
    True
    """
    values = tuple(params.values())
    for value in values:
        kind = type(value)
        if kind in _EXACT_TYPES or isinstance(value, np.dtype):
            continue
        if kind is tuple and _plain_tuple(value):  # type: ignore[arg-type]
            continue
        return build(*shapes, **params)
    # A call site passes its keywords in one order; another order is just another entry.
    return _memoized(build, shapes, tuple(params), values)


@functools.lru_cache(maxsize=4096)
def _memoized(
    build: Callable[..., ConvSpec],
    shapes: tuple[Any, ...],
    names: tuple[str, ...],
    values: tuple[Any, ...],
) -> ConvSpec:
    return build(*shapes, **dict(zip(names, values)))


def transpose_spec(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    *,
    stride: object = 1,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    bias_shape: Sequence[int] | None = None,
    dtype: np.dtype = DEFAULT_DTYPE,
) -> ConvSpec:
    """Validate a transposed convolution; return the forward spec it is the adjoint of.

    The forward convolution maps the transposed output back to ``x``: its
    input has the transposed output's shape, its output has ``x``'s shape,
    and its weight is ``w`` as given, ``(C_in, C_out // groups, *kernel)``.

    >>> spec = transpose_spec((1, 4, 3, 3), (4, 2, 3, 3), stride=2, padding=1, output_padding=1)
    >>> spec.input_shape, spec.output_shape
    ((1, 2, 6, 6), (1, 4, 3, 3))
    """
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    batch, batched = _split_batch(x_shape, w_shape, "x")
    channels_axis = 1 if batched else 0
    x_channels = x_shape[channels_axis]
    x_spatial = x_shape[channels_axis + 1 :]
    kernel = _check_kernel(w_shape)
    ndim = len(kernel)
    groups = check_int(groups, "groups", minimum=1)
    if x_channels != w_shape[0]:
        raise ValueError(
            f"x has {x_channels} channels but conv_transpose expects w.shape[0]={w_shape[0]} "
            f"(w is (C_in, C_out // groups, *kernel); w.shape={w_shape})"
        )
    if w_shape[0] % groups:
        raise ValueError(
            f"groups={groups} must divide the number of input channels w.shape[0]={w_shape[0]}"
        )
    out_channels = w_shape[1] * groups
    _check_bias(None if bias_shape is None else tuple(bias_shape), out_channels)
    if min(x_spatial) < 1:
        raise ValueError(f"conv_transpose needs a non-empty spatial input; got x.shape={x_shape}")
    stride_t = per_dim(stride, ndim, "stride", minimum=1)
    dilation_t = per_dim(dilation, ndim, "dilation", minimum=1)
    if isinstance(padding, str):
        raise TypeError(
            f"conv_transpose takes integer padding (an int, one per dim or (lo, hi) pairs); "
            f"got padding={padding!r}"
        )
    pads = _padding_pairs(padding, ndim, "padding")
    extra = per_dim(output_padding, ndim, "output_padding", minimum=0)
    for i, (op, s, d) in enumerate(zip(extra, stride_t, dilation_t)):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than stride or dilation; got "
                f"output_padding[{i}]={op} with stride[{i}]={s}, dilation[{i}]={d}"
            )
    out_spatial = tuple(
        transpose_output_size(n, k, stride=s, dilation=d, padding=p, output_padding=op)
        for n, k, s, d, p, op in zip(x_spatial, kernel, stride_t, dilation_t, pads, extra)
    )
    for i, size in enumerate(out_spatial):
        if size < 1:
            raise ValueError(
                f"padding={_show(padding)} is too large: the transposed output would have size "
                f"{size} along spatial dim {i} (x.shape={x_shape}, w.shape={w_shape})"
            )
    return ConvSpec(
        batch=batch,
        in_channels=out_channels,
        out_channels=x_channels,
        groups=groups,
        in_spatial=out_spatial,
        kernel=kernel,
        stride=stride_t,
        dilation=dilation_t,
        padding=pads,
        padding_mode="zeros",
        out_spatial=x_spatial,
        batched=batched,
        dtype=dtype,
    )


def output_shape(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: int | str | Sequence[int] | Sequence[tuple[int, int]] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
) -> tuple[int, ...]:
    """Shape of the array ``conv`` (or ``conv_transpose``) would return.

    The arguments mean what they mean for :func:`ndconv.conv` and
    :func:`ndconv.conv_transpose`; nothing is allocated or computed.

    Parameters
    ----------
    x_shape : sequence of int
        ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``.
    w_shape : sequence of int
        ``(C_out, C_in // groups, *kernel)``; for ``transposed=True``,
        ``(C_in, C_out // groups, *kernel)``.
    stride, padding, dilation, groups
        As for :func:`ndconv.conv`.
    transposed : bool, default False
        Give the shape of :func:`ndconv.conv_transpose` instead.
    output_padding : int or sequence of int, default 0
        Only with ``transposed=True``.

    Returns
    -------
    tuple of int
        The full output shape, batch axis included if ``x_shape`` has one.

    Raises
    ------
    TypeError, ValueError
        For the same bad arguments ``conv``/``conv_transpose`` reject, and for
        shapes that are not sequences of non-negative ints.

    Examples
    --------
    >>> output_shape((1, 3, 32, 32), (16, 3, 5, 5), stride=2, padding=2)
    (1, 16, 16, 16)
    >>> output_shape((3, 32, 32), (16, 3, 3, 3), stride=2, padding="same")
    (16, 16, 16)
    >>> output_shape((1, 16, 16, 16), (16, 3, 4, 4), stride=2, padding=1, transposed=True)
    (1, 3, 32, 32)
    """
    xs = check_shape(x_shape, "x_shape")
    ws = check_shape(w_shape, "w_shape")
    if transposed:
        spec = transpose_spec(
            xs, ws, stride=stride, padding=padding, output_padding=output_padding,
            dilation=dilation, groups=groups,
        )
        return spec.input_shape if spec.batched else spec.input_shape[1:]
    if not (is_integer(output_padding) and output_padding == 0):
        raise ValueError(
            f"output_padding only applies with transposed=True; "
            f"got output_padding={output_padding!r}"
        )
    return conv_spec(
        xs, ws, stride=stride, padding=padding, dilation=dilation, groups=groups
    ).output_shape


def spatial_volume(sizes: Sequence[int]) -> int:
    """Product of spatial sizes (1 for no dims).

    >>> spatial_volume((3, 4))
    12
    """
    return math.prod(sizes)
