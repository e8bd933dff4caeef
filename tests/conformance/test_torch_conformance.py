"""Conformance of ndconv with PyTorch on CPU, over hundreds of seeded random configurations.

The oracle
----------
``torch.nn.functional.conv1d/2d/3d`` and ``conv_transpose1d/2d/3d`` (PyTorch 2.13, CPU),
run in float64 on the very values ndconv receives (float32 inputs are widened exactly), so the
expected numbers carry no float32 rounding of their own. Gradients come from torch autograd:
the inputs are leaf tensors with ``requires_grad``, the forward graph is back-propagated with a
random ``dy``, and ``x.grad``, ``w.grad`` and ``bias.grad`` are compared with
``ndconv.conv_grad``.

Padding reaches torch the way ``nn.Conv*d`` applies it: torch's own ``padding=`` argument
wherever torch can express it (zeros mode with an int, per-dim ints, ``"valid"``, or ``"same"``
with stride 1), and otherwise ``F.pad`` with the mode's torch name followed by a padding-0
convolution, with the ``(lo, hi)`` pairs computed in this file from the documented formulas
("full" is ``dilation * (k - 1)`` per side; "same" for stride > 1 is TF/JAX SAME). A transposed
convolution with asymmetric padding is torch's unpadded result cropped (and, for
``output_padding``, zero-extended) by ``F.pad`` with negative widths.

How configurations are drawn
----------------------------
Each test item owns one seed; its configuration and its arrays come only from
``np.random.default_rng(seed)``, so a failure is reproduced by its test id. A draw picks the
spatial rank (1-3), the channel structure (dense, grouped, or depthwise with a channel
multiplier), batched or unbatched, the dtype, bias or not, and per spatial dim the kernel size,
stride, dilation, input size and padding, redrawing a dim until torch accepts it (the kernel
fits the padded input; reflect padding < size; circular padding <= size). Sizes are kept small
so the whole file runs in seconds. Coverage of every padding form and mode, every rank and
channel structure is asserted over the drawn seeds by ``test_draws_cover_*``.

Tolerances are per element: rtol 1e-10 / 1e-5 (float64 / float32) and atol 1e-12 / 1e-6 times
the number of products summed into the element checked.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ndconv

Pair = tuple[int, int]

CONV_SEEDS = range(420)
TRANSPOSE_SEEDS = range(160)
REFERENCE_CONV_SEEDS = range(30)
REFERENCE_TRANSPOSE_SEEDS = range(10)

PADDING_STRINGS = ("valid", "same", "full")
PADDING_FORMS = ("int", "per_dim", "pairs", *PADDING_STRINGS)
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
TRANSPOSE_PADDING_FORMS = ("int", "per_dim", "pairs")
CHANNEL_KINDS = ("dense", "grouped", "depthwise")
TORCH_PAD_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
# (rtol, atol per product summed into an element)
TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (1e-5, 1e-6)}


@dataclass(frozen=True)
class Limits:
    """Largest values a draw may take for one spatial rank (all inclusive)."""

    kernel: int
    stride: int
    dilation: int
    size: int  # input size per spatial dim (for conv_transpose: its input, the small side)
    pad: int  # explicit padding per side
    channels: int  # channels per group
    batch: int


LIMITS = {
    1: Limits(kernel=4, stride=3, dilation=3, size=12, pad=3, channels=3, batch=3),
    2: Limits(kernel=4, stride=3, dilation=2, size=7, pad=2, channels=3, batch=2),
    3: Limits(kernel=3, stride=2, dilation=2, size=5, pad=2, channels=2, batch=2),
}
TRANSPOSE_LIMITS = {
    1: Limits(kernel=4, stride=3, dilation=3, size=6, pad=3, channels=3, batch=3),
    2: Limits(kernel=3, stride=3, dilation=3, size=4, pad=2, channels=2, batch=2),
    3: Limits(kernel=3, stride=2, dilation=2, size=3, pad=2, channels=2, batch=2),
}
# For the pure-Python reference algorithm: a few hundred output elements at most.
TINY_LIMITS = {
    1: Limits(kernel=3, stride=2, dilation=2, size=7, pad=2, channels=2, batch=2),
    2: Limits(kernel=3, stride=2, dilation=2, size=4, pad=1, channels=2, batch=1),
    3: Limits(kernel=2, stride=2, dilation=2, size=3, pad=1, channels=1, batch=1),
}


# ---------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Common:
    """What forward and transposed configurations share.

    ``in_channels``/``out_channels`` are the channels of the function's own input and output
    (for ``conv_transpose``: ``x`` has ``in_channels``, ``w`` is (C_in, C_out // groups, *k)).
    """

    batch: int | None  # None: unbatched arrays
    in_channels: int
    out_channels: int
    groups: int
    in_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: object  # the argument as ndconv receives it
    pads: tuple[Pair, ...]  # the same padding as (lo, hi) pairs, worked out in this file
    dtype: np.dtype
    bias: bool
    scalar_args: bool  # pass uniform stride/dilation as plain ints

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def x_shape(self) -> tuple[int, ...]:
        lead = () if self.batch is None else (self.batch,)
        return (*lead, self.in_channels, *self.in_spatial)

    def arg(self, values: tuple[int, ...]) -> int | tuple[int, ...]:
        uniform = len(set(values)) == 1
        return values[0] if self.scalar_args and uniform else values


@dataclass(frozen=True)
class ConvConfig(Common):
    padding_form: str
    padding_mode: str

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    def kwargs(self) -> dict[str, object]:
        return {
            "stride": self.arg(self.stride),
            "padding": self.padding,
            "dilation": self.arg(self.dilation),
            "groups": self.groups,
            "padding_mode": self.padding_mode,
        }


@dataclass(frozen=True)
class TransposeConfig(Common):
    output_padding: tuple[int, ...]

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_channels // self.groups, *self.kernel)

    def kwargs(self) -> dict[str, object]:
        return {
            "stride": self.arg(self.stride),
            "padding": self.padding,
            "output_padding": self.arg(self.output_padding),
            "dilation": self.arg(self.dilation),
            "groups": self.groups,
        }


def string_padding(form: str, size: int, kernel: int, stride: int, dilation: int) -> Pair:
    """(lo, hi) for a padding string, from the documented definitions."""
    reach = dilation * (kernel - 1)
    if form == "valid":
        return (0, 0)
    if form == "full":
        return (reach, reach)
    assert form == "same"
    out = -(-size // stride)  # TF/JAX SAME: ceil(size / stride) outputs
    total = max((out - 1) * stride + reach + 1 - size, 0)
    return (total // 2, total - total // 2)  # the odd element at the end, as torch does


def torch_accepts(size: int, kernel: int, dilation: int, pair: Pair, mode: str) -> bool:
    """Whether F.pad(mode) + a padding-0 conv accept this dim."""
    lo, hi = pair
    if size + lo + hi < dilation * (kernel - 1) + 1:
        return False
    if mode == "reflect":
        return max(lo, hi) < size
    if mode == "circular":
        return max(lo, hi) <= size
    return True


def draw_explicit_padding(
    rng: np.random.Generator, lim: Limits, form: str, shared_pad: int
) -> tuple[object, Pair]:
    """One dim's entry of an "int", "per_dim" or "pairs" padding argument, and its (lo, hi)."""
    if form == "int":
        return shared_pad, (shared_pad, shared_pad)
    if form == "per_dim":
        pad = int(rng.integers(0, lim.pad + 1))
        return pad, (pad, pad)
    lo, hi = (int(v) for v in rng.integers(0, lim.pad + 1, size=2))
    return (lo, hi), (lo, hi)


def padding_argument(form: str, shared_pad: int, entries: tuple[object, ...]) -> object:
    """The ``padding=`` ndconv receives: an int, a tuple of per-dim entries, or the string."""
    if form == "int":
        return shared_pad
    return entries if form in ("per_dim", "pairs") else form


def draw_conv_dim(
    rng: np.random.Generator, lim: Limits, form: str, mode: str, shared_pad: int,
    unit_stride: bool,
) -> tuple[int, int, int, int, object, Pair]:
    """(size, kernel, stride, dilation, padding entry, (lo, hi)) for one spatial dim."""
    for _ in range(1000):
        kernel = int(rng.integers(1, lim.kernel + 1))
        stride = 1 if unit_stride else int(rng.integers(1, lim.stride + 1))
        dilation = int(rng.integers(1, lim.dilation + 1))
        size = int(rng.integers(1, lim.size + 1))
        if form in PADDING_STRINGS:
            entry, pair = form, string_padding(form, size, kernel, stride, dilation)
        else:
            entry, pair = draw_explicit_padding(rng, lim, form, shared_pad)
        if torch_accepts(size, kernel, dilation, pair, mode):
            return size, kernel, stride, dilation, entry, pair
    raise AssertionError(f"no valid dim drawn for form={form!r}, mode={mode!r}")


def draw_transpose_dim(
    rng: np.random.Generator, lim: Limits, form: str, shared_pad: int
) -> tuple[int, int, int, int, int, object, Pair]:
    """(size, kernel, stride, dilation, output_padding, padding entry, (lo, hi)) for one dim."""
    for _ in range(1000):
        kernel = int(rng.integers(1, lim.kernel + 1))
        stride = int(rng.integers(1, lim.stride + 1))
        dilation = int(rng.integers(1, lim.dilation + 1))
        size = int(rng.integers(1, lim.size + 1))
        # torch's rule, output_padding < max(stride, dilation): >= stride where dilation > stride
        extra = int(rng.integers(0, max(stride, dilation)))
        entry, (lo, hi) = draw_explicit_padding(rng, lim, form, shared_pad)
        if (size - 1) * stride - lo - hi + dilation * (kernel - 1) + extra + 1 >= 1:
            return size, kernel, stride, dilation, extra, entry, (lo, hi)
    raise AssertionError(f"no valid transposed dim drawn for form={form!r}")


def draw_channels(rng: np.random.Generator, lim: Limits) -> tuple[int, int, int]:
    """(groups, channels per group on the input side, per group on the output side)."""
    kind = str(rng.choice(CHANNEL_KINDS, p=[0.4, 0.3, 0.3]))
    if kind == "dense":
        groups = 1
        per_in, per_out = (int(v) for v in rng.integers(1, lim.channels + 1, size=2))
    elif kind == "grouped":
        groups = int(rng.integers(2, 4))
        per_in, per_out = (int(v) for v in rng.integers(1, 3, size=2))
    else:  # depthwise: groups == C_in, channel multiplier per_out
        groups, per_in, per_out = int(rng.integers(1, 5)), 1, int(rng.integers(1, 4))
    return groups, per_in, per_out


def draw_common(rng: np.random.Generator, limits: dict[int, Limits]) -> dict[str, object]:
    """The draws both configuration kinds make first: rank, channels, batch, dtype, bias."""
    ndim = int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))
    lim = limits[ndim]
    groups, per_in, per_out = draw_channels(rng, lim)
    return {
        "lim": lim,
        "ndim": ndim,
        "batch": None if rng.random() < 0.25 else int(rng.integers(1, lim.batch + 1)),
        "groups": groups,
        "in_channels": groups * per_in,
        "out_channels": groups * per_out,
        "dtype": np.dtype(np.float64 if rng.random() < 0.5 else np.float32),
        "bias": bool(rng.random() < 0.5),
        "scalar_args": bool(rng.random() < 0.5),
    }


def draw_conv_config(
    rng: np.random.Generator, limits: dict[int, Limits] = LIMITS
) -> ConvConfig:
    common = draw_common(rng, limits)
    lim, ndim = common.pop("lim"), common.pop("ndim")
    form = str(rng.choice(PADDING_FORMS))
    mode = str(rng.choice(PADDING_MODES))
    # Half of the "same" draws use stride 1, where torch has padding="same" itself.
    unit_stride = form == "same" and rng.random() < 0.5
    shared_pad = int(rng.integers(0, lim.pad + 1))
    dims = [draw_conv_dim(rng, lim, form, mode, shared_pad, unit_stride) for _ in range(ndim)]
    size, kernel, stride, dilation, entries, pads = (tuple(column) for column in zip(*dims))
    return ConvConfig(
        **common, in_spatial=size, kernel=kernel, stride=stride, dilation=dilation,
        padding=padding_argument(form, shared_pad, entries), pads=pads, padding_form=form,
        padding_mode=mode,
    )


def draw_transpose_config(
    rng: np.random.Generator, limits: dict[int, Limits] = TRANSPOSE_LIMITS
) -> TransposeConfig:
    common = draw_common(rng, limits)
    lim, ndim = common.pop("lim"), common.pop("ndim")
    form = str(rng.choice(TRANSPOSE_PADDING_FORMS))
    shared_pad = int(rng.integers(0, lim.pad + 1))
    dims = [draw_transpose_dim(rng, lim, form, shared_pad) for _ in range(ndim)]
    size, kernel, stride, dilation, extra, entries, pads = (tuple(c) for c in zip(*dims))
    return TransposeConfig(
        **common, in_spatial=size, kernel=kernel, stride=stride, dilation=dilation,
        padding=padding_argument(form, shared_pad, entries), pads=pads, output_padding=extra,
    )


def draw_arrays(
    rng: np.random.Generator, cfg: Common
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = rng.standard_normal(cfg.x_shape).astype(cfg.dtype)
    w = rng.standard_normal(cfg.w_shape).astype(cfg.dtype)  # type: ignore[attr-defined]
    bias = rng.standard_normal(cfg.out_channels).astype(cfg.dtype) if cfg.bias else None
    return x, w, bias


# ---------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------


def leaf(a: np.ndarray) -> torch.Tensor:
    """A float64 torch leaf tensor with the values of ``a``, tracking gradients."""
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def torch_pad_widths(pads: tuple[Pair, ...]) -> tuple[int, ...]:
    """F.pad's argument: (lo, hi) pairs listed from the last spatial dim to the first."""
    return tuple(v for pair in reversed(pads) for v in pair)


def torch_native_padding(cfg: ConvConfig) -> object:
    """torch's own ``padding=`` for this config, or None where only F.pad can express it."""
    if cfg.padding_mode != "zeros":
        return None
    if cfg.padding_form in ("int", "per_dim", "valid"):
        return cfg.padding
    if cfg.padding_form == "same" and all(s == 1 for s in cfg.stride):
        return "same"
    return None  # pairs, "full", "same" with stride > 1


def torch_conv(
    x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, cfg: ConvConfig
) -> torch.Tensor:
    """F.conv{1,2,3}d as nn.Conv*d runs it: native padding or F.pad, then the convolution."""
    xb = x if cfg.batch is not None else x.unsqueeze(0)
    padding = torch_native_padding(cfg)
    if padding is None:
        xb = F.pad(xb, torch_pad_widths(cfg.pads), mode=TORCH_PAD_MODES[cfg.padding_mode])
        padding = 0
    with warnings.catch_warnings():
        # torch warns that "same" with an even kernel and odd dilation pads a copy.
        warnings.filterwarnings("ignore", message="Using padding='same'", category=UserWarning)
        y = TORCH_CONV[cfg.ndim](
            xb, w, bias, stride=cfg.stride, padding=padding, dilation=cfg.dilation,
            groups=cfg.groups,
        )
    return y if cfg.batch is not None else y.squeeze(0)


def torch_conv_transpose(
    x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, cfg: TransposeConfig
) -> torch.Tensor:
    """F.conv_transpose{1,2,3}d; asymmetric padding crops torch's unpadded result."""
    xb = x if cfg.batch is not None else x.unsqueeze(0)
    transpose = TORCH_CONV_TRANSPOSE[cfg.ndim]
    if all(lo == hi for lo, hi in cfg.pads):
        y = transpose(
            xb, w, bias, stride=cfg.stride, padding=tuple(lo for lo, _ in cfg.pads),
            output_padding=cfg.output_padding, groups=cfg.groups, dilation=cfg.dilation,
        )
    else:
        full = transpose(xb, w, None, stride=cfg.stride, groups=cfg.groups, dilation=cfg.dilation)
        # out[i] = full[lo + i] with full zero-extended at the end, for the output size
        # full - lo - hi + output_padding: what torch's symmetric padding does, per side.
        sizes = [
            n - lo - hi + op
            for n, (lo, hi), op in zip(full.shape[2:], cfg.pads, cfg.output_padding)
        ]
        zeros = tuple((0, max(lo + size - n, 0))
                      for n, (lo, _), size in zip(full.shape[2:], cfg.pads, sizes))
        window = tuple(slice(lo, lo + size) for (lo, _), size in zip(cfg.pads, sizes))
        y = F.pad(full, torch_pad_widths(zeros))[(..., *window)]
        if bias is not None:
            y = y + bias.reshape(-1, *(1,) * cfg.ndim)
    return y if cfg.batch is not None else y.squeeze(0)


def assert_matches(got: np.ndarray, expected: torch.Tensor, cfg: Common, reduction: int,
                   what: str) -> None:
    """dtype, shape and values of ``got`` against the float64 oracle."""
    expected_np = expected.detach().numpy()
    assert got.dtype == cfg.dtype, f"{what}: dtype {got.dtype}, expected {cfg.dtype}"
    assert got.shape == expected_np.shape, f"{what}: shape {got.shape} != {expected_np.shape}"
    rtol, atol_per_product = TOLERANCES[cfg.dtype]
    np.testing.assert_allclose(
        got, expected_np, rtol=rtol, atol=atol_per_product * max(reduction, 1),
        err_msg=f"{what} differs from torch for {cfg}",
    )


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def check_conv(cfg: ConvConfig, rng: np.random.Generator, algorithm: str = "auto") -> None:
    """Forward and all three gradients of ``cfg`` against torch autograd."""
    x, w, bias = draw_arrays(rng, cfg)
    x_t, w_t = leaf(x), leaf(w)
    b_t = leaf(bias if bias is not None else np.zeros(cfg.out_channels))  # for bias.grad
    y_t = torch_conv(x_t, w_t, b_t, cfg)
    dy = rng.standard_normal(tuple(y_t.shape)).astype(cfg.dtype)
    y_t.backward(torch.tensor(dy, dtype=torch.float64))

    kwargs = cfg.kwargs()
    y = ndconv.conv(x, w, bias, **kwargs, algorithm=algorithm)
    dx, dw, db = ndconv.conv_grad(dy, x, w, **kwargs, algorithm=algorithm)
    assert ndconv.output_shape(x.shape, w.shape, **{
        k: v for k, v in kwargs.items() if k != "padding_mode"
    }) == tuple(y_t.shape)

    taps = math.prod(cfg.kernel)
    per_weight = (cfg.batch or 1) * math.prod(y_t.shape[-cfg.ndim:])
    # A padded copy (reflect/replicate/circular) sends an input element's gradient through
    # up to this many positions of the padded input.
    copies = 1 if cfg.padding_mode == "zeros" else math.prod(
        1 + -(-(lo + hi) // n) for (lo, hi), n in zip(cfg.pads, cfg.in_spatial)
    )
    assert_matches(y, y_t, cfg, cfg.in_channels // cfg.groups * taps, "conv")
    assert_matches(dx, x_t.grad, cfg, cfg.out_channels // cfg.groups * taps * copies, "dx")
    assert_matches(dw, w_t.grad, cfg, per_weight, "dw")
    assert_matches(db, b_t.grad, cfg, per_weight, "dbias")


def check_conv_transpose(
    cfg: TransposeConfig, rng: np.random.Generator, algorithm: str = "auto"
) -> None:
    x, w, bias = draw_arrays(rng, cfg)
    with torch.no_grad():
        expected = torch_conv_transpose(
            leaf(x), leaf(w), None if bias is None else leaf(bias), cfg
        )
    kwargs = cfg.kwargs()
    got = ndconv.conv_transpose(x, w, bias, **kwargs, algorithm=algorithm)
    assert ndconv.output_shape(x.shape, w.shape, transposed=True, **kwargs) == got.shape
    reduction = cfg.in_channels // cfg.groups * math.prod(cfg.kernel)
    assert_matches(got, expected, cfg, reduction, "conv_transpose")


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", CONV_SEEDS)
def test_conv_and_gradients_match_torch(seed):
    rng = np.random.default_rng(seed)
    check_conv(draw_conv_config(rng), rng)


@pytest.mark.parametrize("seed", TRANSPOSE_SEEDS)
def test_conv_transpose_matches_torch(seed):
    rng = np.random.default_rng(seed)
    check_conv_transpose(draw_transpose_config(rng), rng)


@pytest.mark.parametrize("seed", REFERENCE_CONV_SEEDS)
def test_reference_algorithm_conv_and_gradients_match_torch(seed):
    rng = np.random.default_rng(seed)
    check_conv(draw_conv_config(rng, TINY_LIMITS), rng, algorithm="reference")


@pytest.mark.parametrize("seed", REFERENCE_TRANSPOSE_SEEDS)
def test_reference_algorithm_conv_transpose_matches_torch(seed):
    rng = np.random.default_rng(seed)
    check_conv_transpose(draw_transpose_config(rng, TINY_LIMITS), rng, algorithm="reference")


def explicit_config(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], *, padding: str,
    stride: tuple[int, ...], dilation: tuple[int, ...], groups: int = 1,
    dtype: type = np.float64,
) -> ConvConfig:
    """A ConvConfig for a hand-written batched case with a padding string, zeros mode, bias."""
    pads = tuple(
        string_padding(padding, n, k, s, d)
        for n, k, s, d in zip(x_shape[2:], w_shape[2:], stride, dilation)
    )
    return ConvConfig(
        batch=x_shape[0], in_channels=x_shape[1], out_channels=w_shape[0], groups=groups,
        in_spatial=x_shape[2:], kernel=w_shape[2:], stride=stride, dilation=dilation,
        padding=padding, pads=pads, dtype=np.dtype(dtype), bias=True, scalar_args=False,
        padding_form=padding, padding_mode="zeros",
    )


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "dilation"),
    [
        ((2, 3, 11), (2, 3, 4), (3,)),  # total padding 9: (4, 5)
        ((2, 3, 11, 9), (4, 3, 4, 2), (3, 1)),  # (4, 5) and (0, 1)
        ((1, 2, 6, 7, 5), (2, 2, 2, 3, 4), (1, 2, 1)),  # (0, 1), (2, 2), (1, 2)
    ],
)
def test_torch_same_padding_with_even_kernel_and_dilation(x_shape, w_shape, dilation):
    # torch's padding="same" (stride 1) puts the odd padding element at the end; ndconv's
    # "same" must give torch's numbers, forward and backward, and keep the spatial size.
    cfg = explicit_config(
        x_shape, w_shape, padding="same", stride=(1,) * len(dilation), dilation=dilation
    )
    assert torch_native_padding(cfg) == "same"
    assert any(lo != hi for lo, hi in cfg.pads)
    check_conv(cfg, np.random.default_rng(0))
    y = ndconv.conv(np.ones(x_shape), np.ones(w_shape), padding="same", dilation=dilation)
    assert y.shape[2:] == x_shape[2:]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_valid_padding(dtype):
    cfg = explicit_config((2, 4, 9, 8), (6, 2, 3, 2), padding="valid", stride=(2, 1),
                          dilation=(2, 2), groups=2, dtype=dtype)
    assert torch_native_padding(cfg) == "valid"
    check_conv(cfg, np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal(cfg.x_shape).astype(dtype)
    w = np.random.default_rng(3).standard_normal(cfg.w_shape).astype(dtype)
    np.testing.assert_array_equal(ndconv.conv(x, w, **cfg.kwargs()),
                                  ndconv.conv(x, w, **{**cfg.kwargs(), "padding": 0}))


def test_draws_cover_every_conv_feature():
    configs = [draw_conv_config(np.random.default_rng(seed)) for seed in CONV_SEEDS]
    combos = {(c.padding_form, c.padding_mode) for c in configs}
    assert combos == {(f, m) for f in PADDING_FORMS for m in PADDING_MODES}
    assert {c.ndim for c in configs} == {1, 2, 3}
    assert {c.dtype for c in configs} == set(TOLERANCES)
    assert any(c.batch is None for c in configs) and any(c.batch for c in configs)
    assert any(c.bias for c in configs) and not all(c.bias for c in configs)
    same = [c for c in configs if c.padding_form == "same"]
    assert any(all(s == 1 for s in c.stride) for c in same)
    assert any(max(c.stride) > 1 for c in same)
    assert any(max(c.dilation) > 1 and max(c.stride) > 1 for c in configs)
    assert any(lo != hi for c in configs for lo, hi in c.pads)
    depthwise = [c for c in configs if c.groups == c.in_channels > 1]
    assert any(c.out_channels == c.in_channels for c in depthwise)
    assert any(c.out_channels > c.in_channels for c in depthwise)
    assert any(1 < c.groups < c.in_channels for c in configs)


def test_draws_cover_every_transpose_feature():
    configs = [draw_transpose_config(np.random.default_rng(seed)) for seed in TRANSPOSE_SEEDS]
    ops = [(op, s, d) for c in configs for op, s, d in zip(c.output_padding, c.stride, c.dilation)]
    assert any(0 < op < s for op, s, _ in ops)
    assert any(op >= s for op, s, _ in ops)  # allowed because dilation > stride
    assert {c.ndim for c in configs} == {1, 2, 3}
    assert {c.dtype for c in configs} == set(TOLERANCES)
    assert any(c.batch is None for c in configs) and any(c.batch for c in configs)
    assert any(c.bias for c in configs) and not all(c.bias for c in configs)
    assert any(c.groups > 1 for c in configs) and any(max(c.dilation) > 1 for c in configs)
    assert any(lo != hi for c in configs for lo, hi in c.pads)
    assert any(sum(c.pads[0]) > 0 for c in configs)
