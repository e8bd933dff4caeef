"""Convolutions with 4 and 5 spatial dims, where PyTorch has no conv4d/conv5d to compare with.

Three oracles, on tiny seeded configurations (groups, stride, dilation, every padding form and
padding mode, batched and unbatched, with and without bias):

* ndconv's own ``"reference"`` algorithm: ``conv``, ``conv_transpose`` and ``conv_grad`` with
  ``algorithm="reference"`` against the default (``"auto"``) and ``"numpy"``.
* An independent NumPy oracle written in this file from the definitions: the input padded by
  ``np.pad`` ("zeros" = constant, "reflect" = reflect, "replicate" = edge, "circular" = wrap),
  then one dot product per output position with explicit stride/dilation slicing; a transposed
  convolution that scatters a scaled copy of the kernel per input element and crops; and
  gradients (``dx`` scattered onto the padded input and folded back through the index map
  ``np.pad`` makes of ``arange``, ``dw`` summed per kernel tap, ``db`` summed per channel).
  Padding strings are resolved here from their documented formulas.
* The calculus: the adjoint identities ``<conv(x, w), dy> = <x, dx> = <w, dw>`` and
  ``<conv(x, w, b) - conv(x, w), dy> = <b, db>``, and central finite differences in float64 of
  ``L = sum(sin(conv(x, w, b)))`` along random directions and at single elements.

Each test item owns one seed; its configuration and arrays come only from
``np.random.default_rng(seed)``. Tolerances: rtol 1e-10, atol 1e-12 times the products summed
into an element.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest

import ndconv
from conv_case import ConvCase, Pair, string_padding

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_FORMS = ("int", "per_dim", "pairs", "valid", "same", "full")
NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
RTOL, ATOL = 1e-10, 1e-12
# Padded input volume times batch times channels in and out: keeps the Python loops fast.
MAX_WORK = 20_000

CONV_SEEDS = range(48)
TRANSPOSE_SEEDS = range(100, 124)
GRAD_SEEDS = range(200, 232)


# ---------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config(ConvCase):
    padding_form: str
    bias: bool

    def kwargs(self) -> dict[str, object]:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "padding_mode": self.padding_mode,
        }


def accepted(size: int, kernel: int, dilation: int, pair: Pair, mode: str) -> bool:
    lo, hi = pair
    if size + lo + hi < dilation * (kernel - 1) + 1:
        return False
    if mode == "reflect":
        return max(lo, hi) < size or max(lo, hi) == 0
    if mode == "circular":
        return max(lo, hi) <= size
    return True


def draw_config(seed: int, *, modes=PADDING_MODES, forms=PADDING_FORMS) -> Config:
    rng = np.random.default_rng(seed)
    ndim = 4 + seed % 2
    for _ in range(1000):
        groups = int(rng.choice([1, 1, 2, 3]))
        in_channels = groups * int(rng.integers(1, 3))
        out_channels = groups * int(rng.integers(1, 3))
        batch = None if rng.random() < 0.25 else int(rng.integers(1, 3))
        mode = str(rng.choice(modes))
        form = str(rng.choice(forms))
        uniform_pad = int(rng.integers(0, 2))
        kernel, stride, dilation, sizes, pads, padding = [], [], [], [], [], []
        for _dim in range(ndim):
            k = int(rng.choice([1, 2, 2, 3]))
            s = int(rng.choice([1, 1, 2]))
            d = int(rng.choice([1, 1, 2]))
            for _attempt in range(100):
                n = int(rng.integers(1, 6 if ndim == 4 else 5))
                if form == "int":
                    arg, pair = uniform_pad, (uniform_pad, uniform_pad)
                elif form == "per_dim":
                    p = int(rng.integers(0, 2))
                    arg, pair = p, (p, p)
                elif form == "pairs":
                    pair = (int(rng.integers(0, 3)), int(rng.integers(0, 2)))
                    arg = pair
                else:
                    arg, pair = None, string_padding(form, n, k, s, d)
                if accepted(n, k, d, pair, mode):
                    break
            else:
                break  # no size works for this dim: draw the whole configuration again
            kernel.append(k)
            stride.append(s)
            dilation.append(d)
            sizes.append(n)
            pads.append(pair)
            padding.append(arg)
        if len(kernel) < ndim:
            continue
        padded = math.prod(n + lo + hi for n, (lo, hi) in zip(sizes, pads))
        if padded * in_channels * (batch or 1) * out_channels > MAX_WORK:
            continue
        if form == "int":
            padding_arg: object = uniform_pad
        elif form in ("per_dim", "pairs"):
            padding_arg = tuple(padding)
        else:
            padding_arg = form
        return Config(
            batch=batch, in_channels=in_channels, out_channels=out_channels, groups=groups,
            in_spatial=tuple(sizes), kernel=tuple(kernel), stride=tuple(stride),
            dilation=tuple(dilation), padding=padding_arg, pads=tuple(pads),
            padding_form=form, padding_mode=mode, bias=bool(rng.random() < 0.5),
        )
    raise AssertionError(f"no configuration for seed {seed}")


def arrays(seed: int, config: Config):
    rng = np.random.default_rng(10_000 + seed)
    x = rng.standard_normal(config.x_shape)
    w = rng.standard_normal(config.w_shape)
    b = rng.standard_normal(config.out_channels) if config.bias else None
    dy = rng.standard_normal(config.y_shape)
    return x, w, b, dy


def batched(a: np.ndarray, config: Config) -> np.ndarray:
    return a if config.batch is not None else a[np.newaxis]


def unbatched(a: np.ndarray, config: Config) -> np.ndarray:
    return a if config.batch is not None else a[0]


def close(got, want, reduction, context=""):
    assert got.shape == want.shape, context
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * reduction, err_msg=context)


# ---------------------------------------------------------------------------
# The independent oracle
# ---------------------------------------------------------------------------


def numpy_pad(x: np.ndarray, pads, mode: str) -> np.ndarray:
    """Pad the trailing axes of a batched (N, C, *spatial) array with ``np.pad``."""
    return np.pad(x, [(0, 0), (0, 0), *pads], mode=NUMPY_PAD[mode])


def tap_slices(starts, kernel, dilation) -> tuple[slice, ...]:
    return tuple(slice(a, a + d * (k - 1) + 1, d) for a, k, d in zip(starts, kernel, dilation))


def loop_conv(x, w, b, stride, pads, dilation, groups, mode):
    """conv of a batched x: one dot product per output position of the np.pad-ed input."""
    xp = numpy_pad(x, pads, mode)
    batch = x.shape[0]
    out_channels, in_per_group, *kernel = w.shape
    out_per_group = out_channels // groups
    out_spatial = [
        (p - d * (k - 1) - 1) // s + 1
        for p, k, s, d in zip(xp.shape[2:], kernel, stride, dilation)
    ]
    out = np.zeros((batch, out_channels, *out_spatial))
    for n in range(batch):
        for o in range(out_channels):
            first = (o // out_per_group) * in_per_group
            block = xp[n, first : first + in_per_group]
            for position in itertools.product(*(range(m) for m in out_spatial)):
                starts = [p * s for p, s in zip(position, stride)]
                patch = block[(slice(None), *tap_slices(starts, kernel, dilation))]
                out[(n, o, *position)] = np.sum(patch * w[o])
    if b is not None:
        out += b.reshape(-1, *(1,) * len(kernel))
    return out


def scatter_transpose(y, w, b, stride, pads, output_padding, dilation, groups):
    """conv_transpose of a batched y: each element adds a scaled kernel copy, then crop."""
    batch, in_channels, *in_spatial = y.shape
    _, out_per_group, *kernel = w.shape
    in_per_group = in_channels // groups
    full = [
        (n - 1) * s + d * (k - 1) + 1 + op
        for n, k, s, d, op in zip(in_spatial, kernel, stride, dilation, output_padding)
    ]
    buffer = np.zeros((batch, out_per_group * groups, *full))
    for n in range(batch):
        for c in range(in_channels):
            first = (c // in_per_group) * out_per_group
            for position in itertools.product(*(range(m) for m in in_spatial)):
                starts = [p * s for p, s in zip(position, stride)]
                region = (n, slice(first, first + out_per_group),
                          *tap_slices(starts, kernel, dilation))
                buffer[region] += y[(n, c, *position)] * w[c]
    crop = tuple(slice(lo, size - hi) for (lo, hi), size in zip(pads, full))
    out = buffer[(slice(None), slice(None), *crop)]
    if b is not None:
        out = out + b.reshape(-1, *(1,) * len(kernel))
    return out


def source_index(spatial, pads, mode) -> np.ndarray:
    """For every padded position, the flat index of the input element it copies (-1: a zero)."""
    flat = np.arange(math.prod(spatial)).reshape(spatial)
    if mode == "zeros":
        return np.pad(flat, pads, mode="constant", constant_values=-1)
    return np.pad(flat, pads, mode=NUMPY_PAD[mode])


def loop_grad(dy, x, w, stride, pads, dilation, groups, mode):
    """(dx, dw, db) of a batched conv, from the definitions."""
    xp = numpy_pad(x, pads, mode)
    batch, in_channels, *spatial = x.shape
    out_channels, in_per_group, *kernel = w.shape
    out_per_group = out_channels // groups
    out_spatial = dy.shape[2:]
    # dx: scatter dy * w onto the padded input, then fold each padded element onto its source.
    dxp = np.zeros_like(xp)
    for n in range(batch):
        for o in range(out_channels):
            first = (o // out_per_group) * in_per_group
            for position in itertools.product(*(range(m) for m in out_spatial)):
                starts = [p * s for p, s in zip(position, stride)]
                region = (n, slice(first, first + in_per_group),
                          *tap_slices(starts, kernel, dilation))
                dxp[region] += dy[(n, o, *position)] * w[o]
    index = source_index(spatial, pads, mode).ravel()
    keep = index >= 0
    dx = np.zeros((batch, in_channels, math.prod(spatial)))
    for n in range(batch):
        for c in range(in_channels):
            np.add.at(dx[n, c], index[keep], dxp[n, c].ravel()[keep])
    dx = dx.reshape(x.shape)
    # dw: per tap, the strided slice of the padded input each output position reads.
    dw = np.zeros(w.shape)
    for o in range(out_channels):
        first = (o // out_per_group) * in_per_group
        for c in range(in_per_group):
            for tap in itertools.product(*(range(k) for k in kernel)):
                read = tuple(
                    slice(t * d, t * d + s * (m - 1) + 1, s)
                    for t, d, s, m in zip(tap, dilation, stride, out_spatial)
                )
                dw[(o, c, *tap)] = np.sum(xp[(slice(None), first + c, *read)] * dy[:, o])
    db = dy.sum(axis=(0, *range(2, dy.ndim)))
    return dx, dw, db


# ---------------------------------------------------------------------------
# conv
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", CONV_SEEDS)
def test_conv_matches_reference_and_loop_oracle(seed):
    config = draw_config(seed)
    x, w, b, _ = arrays(seed, config)
    reference = ndconv.conv(x, w, b, **config.kwargs(), algorithm="reference")
    assert reference.shape == config.y_shape
    for algorithm in ("auto", "numpy"):
        got = ndconv.conv(x, w, b, **config.kwargs(), algorithm=algorithm)
        close(got, reference, config.reduction, f"{algorithm} {config}")
    oracle = loop_conv(batched(x, config), w, b, config.stride, config.pads, config.dilation,
                       config.groups, config.padding_mode)
    close(reference, unbatched(oracle, config), config.reduction, f"oracle {config}")
    assert ndconv.output_shape(config.x_shape, config.w_shape, stride=config.stride,
                               padding=config.padding, dilation=config.dilation,
                               groups=config.groups) == config.y_shape


# ---------------------------------------------------------------------------
# conv_transpose
# ---------------------------------------------------------------------------


def transpose_case(seed: int):
    """A conv_transpose mapping a conv's output back to its input's shape (zeros padding)."""
    config = draw_config(seed, modes=("zeros",), forms=("int", "per_dim", "pairs", "same"))
    rng = np.random.default_rng(20_000 + seed)
    output_padding = tuple(
        (n + lo + hi - d * (k - 1) - 1) % s
        for n, (lo, hi), k, s, d in zip(
            config.in_spatial, config.pads, config.kernel, config.stride, config.dilation
        )
    )
    y = rng.standard_normal(config.y_shape)
    w = rng.standard_normal(config.w_shape)  # (C_in of the transpose, C_out // groups, *k)
    b = rng.standard_normal(config.in_channels) if config.bias else None
    padding = config.pads if rng.random() < 0.5 or config.padding_form == "same" else (
        config.padding
    )
    kwargs = {
        "stride": config.stride, "padding": padding, "output_padding": output_padding,
        "dilation": config.dilation, "groups": config.groups,
    }
    return config, y, w, b, kwargs


@pytest.mark.parametrize("seed", TRANSPOSE_SEEDS)
def test_conv_transpose_matches_reference_and_scatter_oracle(seed):
    config, y, w, b, kwargs = transpose_case(seed)
    reference = ndconv.conv_transpose(y, w, b, **kwargs, algorithm="reference")
    assert reference.shape == config.x_shape
    reduction = config.out_channels // config.groups * math.prod(config.kernel)
    for algorithm in ("auto", "numpy"):
        got = ndconv.conv_transpose(y, w, b, **kwargs, algorithm=algorithm)
        close(got, reference, reduction, f"{algorithm} {config}")
    oracle = scatter_transpose(batched(y, config), w, b, config.stride, config.pads,
                               kwargs["output_padding"], config.dilation, config.groups)
    close(reference, unbatched(oracle, config), reduction, f"oracle {config}")
    # conv_transpose is the adjoint of conv: <conv(x, w), y> == <x, conv_transpose(y, w)>.
    x = np.random.default_rng(seed).standard_normal(config.x_shape)
    forward = ndconv.conv(x, w, **config.kwargs())
    backward = ndconv.conv_transpose(y, w, **kwargs)
    assert np.vdot(forward, y) == pytest.approx(np.vdot(x, backward), rel=1e-10, abs=1e-10)


# ---------------------------------------------------------------------------
# conv_grad
# ---------------------------------------------------------------------------


def loss(x, w, b, config: Config) -> float:
    return float(np.sum(np.sin(ndconv.conv(x, w, b, **config.kwargs()))))


@pytest.mark.parametrize("seed", GRAD_SEEDS)
def test_conv_grad_matches_reference_oracle_and_adjoint(seed):
    config = draw_config(seed)
    x, w, _, dy = arrays(seed, config)
    reference = ndconv.conv_grad(dy, x, w, **config.kwargs(), algorithm="reference")
    for algorithm in ("auto", "numpy"):
        got = ndconv.conv_grad(dy, x, w, **config.kwargs(), algorithm=algorithm)
        for name, g, r in zip(("dx", "dw", "db"), got, reference):
            close(g, r, config.reduction * 4, f"{name} {algorithm} {config}")
    dx, dw, db = reference
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (config.out_channels,)
    want = loop_grad(batched(dy, config), batched(x, config), w, config.stride, config.pads,
                     config.dilation, config.groups, config.padding_mode)
    close(dx, unbatched(want[0], config), config.reduction * 4, f"oracle dx {config}")
    close(dw, want[1], dy.size, f"oracle dw {config}")
    close(db, want[2], dy.size, f"oracle db {config}")
    # Adjoint identities: conv is linear in x and in w, affine in b.
    y = ndconv.conv(x, w, **config.kwargs())
    inner = np.vdot(y, dy)
    assert inner == pytest.approx(np.vdot(x, dx), rel=1e-10, abs=1e-10)
    assert inner == pytest.approx(np.vdot(w, dw), rel=1e-10, abs=1e-10)
    bias = np.random.default_rng(seed).standard_normal(config.out_channels)
    shifted = ndconv.conv(x, w, bias, **config.kwargs())
    assert np.vdot(shifted - y, dy) == pytest.approx(np.vdot(bias, db), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("seed", GRAD_SEEDS)
def test_conv_grad_matches_finite_differences(seed):
    config = draw_config(seed)
    rng = np.random.default_rng(30_000 + seed)
    x, w, _, _ = arrays(seed, config)
    b = rng.standard_normal(config.out_channels)
    dy = np.cos(ndconv.conv(x, w, b, **config.kwargs()))  # dL/dy for L = sum(sin(y))
    dx, dw, db = ndconv.conv_grad(dy, x, w, **config.kwargs())
    h = 1e-6
    outputs = math.prod(config.y_shape)
    # Along a random direction in each argument (every element weighted at once) ...
    for name, grad in (("x", dx), ("w", dw), ("b", db)):
        direction = rng.standard_normal(grad.shape)
        args = {"x": x, "w": w, "b": b}
        plus = dict(args, **{name: args[name] + h * direction})
        minus = dict(args, **{name: args[name] - h * direction})
        numeric = (loss(**plus, config=config) - loss(**minus, config=config)) / (2 * h)
        assert numeric == pytest.approx(np.vdot(grad, direction), rel=1e-6, abs=1e-7 * outputs), (
            name, config,
        )
    # ... and at single elements: the input's corners (where the padding modes fold) and one tap.
    for corner in ((0,) * x.ndim, tuple(s - 1 for s in x.shape)):
        step = np.zeros_like(x)
        step[corner] = h
        numeric = (loss(x + step, w, b, config) - loss(x - step, w, b, config)) / (2 * h)
        assert numeric == pytest.approx(dx[corner], rel=1e-6, abs=1e-8 * outputs), (
            corner, config,
        )
    tap = tuple(int(rng.integers(m)) for m in w.shape)
    step = np.zeros_like(w)
    step[tap] = h
    numeric = (loss(x, w + step, b, config) - loss(x, w - step, b, config)) / (2 * h)
    assert numeric == pytest.approx(dw[tap], rel=1e-6, abs=1e-8 * outputs), (tap, config)


# ---------------------------------------------------------------------------
# The draws cover what they are meant to
# ---------------------------------------------------------------------------

ALL_CONFIGS = [draw_config(s) for s in (*CONV_SEEDS, *GRAD_SEEDS)]


def test_draws_cover_ranks_modes_forms_and_channel_structures():
    assert {c.ndim for c in ALL_CONFIGS} == {4, 5}
    assert {c.padding_mode for c in ALL_CONFIGS} == set(PADDING_MODES)
    assert {c.padding_form for c in ALL_CONFIGS} == set(PADDING_FORMS)
    assert {c.groups for c in ALL_CONFIGS} >= {1, 2, 3}
    assert any(c.batch is None for c in ALL_CONFIGS)
    assert any(c.batch == 2 for c in ALL_CONFIGS)
    for ndim in (4, 5):
        mine = [c for c in ALL_CONFIGS if c.ndim == ndim]
        assert any(max(c.stride) > 1 for c in mine)
        assert any(max(c.dilation) > 1 for c in mine)
        assert any(c.groups > 1 for c in mine)
        assert any(c.padding_mode != "zeros" and any(lo or hi for lo, hi in c.pads) for c in mine)
        assert any(c.bias for c in mine)
    transposes = [transpose_case(s)[0] for s in TRANSPOSE_SEEDS]
    assert {c.ndim for c in transposes} == {4, 5}
    assert any(max(c.stride) > 1 for c in transposes)
    assert any(c.groups > 1 for c in transposes)
