"""Algebraic properties of conv, conv_transpose and conv_grad, checked by Hypothesis.

No external oracle: each test states an identity convolution must satisfy and checks it on
configurations drawn by :func:`configs` (1-3 spatial dims, batched or not, stride, dilation,
groups, every padding form and padding mode, only combinations ndconv must accept) with dense
float64 arrays of values in [-1, 1]:

* linearity in ``x`` and in ``w``; the bias adds one constant per output channel;
* adjointness: ``<conv(x, w), y> == <x, conv_transpose(y, w)>`` and
  ``<conv(x, w), dy> == <x, dx> == <w, dw>``, ``<b, db> == sum(dy)`` per channel from
  ``conv_grad``;
* central finite differences of ``sum(sin(conv(x, w, b)))`` match ``conv_grad``;
* a centred delta kernel with padding "same" and ``groups == C`` is the identity;
* shift equivariance ("valid", stride 1), and roll equivariance under circular padding;
* groups equal the concatenation of per-group convolutions; a dilated kernel equals the kernel
  with zeros inserted; ``padding=p`` equals ``np.pad`` followed by a padding-0 convolution;
* every algorithm of ``ndconv.algorithms.ALGORITHMS`` agrees with ``"reference"``.

Example counts are fixed per test so the file runs in well under a minute; the "thorough"
Hypothesis profile (``NDCONV_HYPOTHESIS_PROFILE=thorough``, see ``tests/conftest.py``) raises
them all to the profile's count.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import ndconv
from conv_case import ConvCase, Pair, string_padding
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_FORMS = ("int", "per_dim", "pairs", "valid", "same", "full")
NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
RTOL, ATOL = 1e-10, 1e-12
# Kernels the compiled "direct" algorithm is tried with: each new shape costs a compile
# (seconds), so the algorithm-agreement test draws from this menu (shared with
# tests/test_algorithms.py) instead of from every shape.
DIRECT_KERNELS = ((3,), (2, 3), (1, 2, 3))
VALUES = st.floats(-1, 1, allow_nan=False, allow_infinity=False, allow_subnormal=False)
SCALARS = st.floats(-2, 2, allow_nan=False, allow_infinity=False, allow_subnormal=False)

_PROFILE_EXAMPLES = settings.default.max_examples
_HYPOTHESIS_DEFAULT = settings.get_profile("default").max_examples


def examples(count: int) -> int:
    """``count`` examples, or the loaded profile's count when it asks for more than usual."""
    return _PROFILE_EXAMPLES if _PROFILE_EXAMPLES > _HYPOTHESIS_DEFAULT else count


def budget(count: int) -> settings:
    return settings(max_examples=examples(count), deadline=None)


# ---------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config(ConvCase):
    scalar_args: bool  # pass uniform stride/dilation as plain ints

    @property
    def channel_axis(self) -> int:
        return 0 if self.batch is None else 1

    def arg(self, values: tuple[int, ...]) -> int | tuple[int, ...]:
        return values[0] if self.scalar_args and len(set(values)) == 1 else values

    def kwargs(self, **changes: object) -> dict[str, object]:
        kwargs = {
            "stride": self.arg(self.stride),
            "padding": self.padding,
            "dilation": self.arg(self.dilation),
            "groups": self.groups,
            "padding_mode": self.padding_mode,
        }
        kwargs.update(changes)
        return kwargs


def accepted(size: int, effective: int, pair: Pair, mode: str) -> bool:
    """Whether ndconv must accept this dim: the kernel fits, the padding mode can pad."""
    lo, hi = pair
    if size + lo + hi < effective:
        return False
    if mode == "reflect" and max(lo, hi) > 0:
        return max(lo, hi) < size
    if mode == "circular":
        return max(lo, hi) <= size
    return True


@st.composite
def configs(
    draw,
    *,
    ndims=(1, 2, 3),
    modes=PADDING_MODES,
    forms=PADDING_FORMS,
    kernels=None,
    max_stride=3,
    max_dilation=2,
    min_groups=1,
) -> Config:
    """A convolution ndconv must accept, small enough for dense Hypothesis arrays."""
    if kernels is None:
        ndim = draw(st.sampled_from(ndims))
        max_kernel = 3 if ndim < 3 else 2
        kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(ndim))
    else:
        kernel = draw(st.sampled_from(kernels))
        ndim = len(kernel)
    groups = draw(st.integers(min_groups, 3 if ndim < 3 else 2))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    batch = draw(st.none() | st.integers(1, 2 if ndim < 3 else 1))
    mode = draw(st.sampled_from(modes))
    form = draw(st.sampled_from(forms))
    stride = tuple(draw(st.integers(1, max_stride)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, max_dilation)) for _ in range(ndim))
    uniform = draw(st.integers(0, 2))
    sizes, pads, args = [], [], []
    for k, s, d in zip(kernel, stride, dilation):
        effective = d * (k - 1) + 1
        if form == "int":
            pair: Pair = (uniform, uniform)
            arg: object = uniform
        elif form == "per_dim":
            p = draw(st.integers(0, 2))
            pair, arg = (p, p), p
        elif form == "pairs":
            pair = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
            arg = pair
        else:
            arg = None  # a string: the pair depends on the size, worked out below
        start = draw(st.integers(1, effective + 2))
        for n in range(start, start + 2 * effective + 8):
            if form in ("valid", "same", "full"):
                pair = string_padding(form, n, k, s, d)
            if accepted(n, effective, pair, mode):
                break
        else:
            raise AssertionError("unreachable: large sizes always fit")
        sizes.append(n)
        pads.append(pair)
        args.append(arg)
    if form == "int":
        padding: object = uniform
    elif form in ("per_dim", "pairs"):
        padding = tuple(args)
    else:
        padding = form
    return Config(
        batch=batch, in_channels=in_channels, out_channels=out_channels, groups=groups,
        in_spatial=tuple(sizes), kernel=kernel, stride=stride, dilation=dilation,
        padding=padding, pads=tuple(pads), padding_mode=mode, scalar_args=draw(st.booleans()),
    )


def dense(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays with every element drawn (no fill value), in [-1, 1]."""
    return hnp.arrays(np.float64, shape, elements=VALUES, fill=st.nothing())


def assert_close(got, want, config: Config, scale: float = 1.0, context: object = "") -> None:
    assert np.shape(got) == np.shape(want), context
    np.testing.assert_allclose(
        got, want, rtol=RTOL, atol=ATOL * config.reduction * scale, err_msg=str(context)
    )


def channel_bias(b: np.ndarray, config: Config) -> np.ndarray:
    """``b`` shaped to broadcast along the output's channel axis."""
    return b.reshape(-1, *(1,) * config.ndim)


# ---------------------------------------------------------------------------
# Linearity and bias
# ---------------------------------------------------------------------------


@budget(100)
@given(configs(), st.data(), SCALARS, SCALARS)
def test_conv_is_linear_in_x(config, data, a, b):
    x1, x2 = data.draw(dense(config.x_shape)), data.draw(dense(config.x_shape))
    w = data.draw(dense(config.w_shape))
    got = ndconv.conv(a * x1 + b * x2, w, **config.kwargs())
    want = a * ndconv.conv(x1, w, **config.kwargs()) + b * ndconv.conv(x2, w, **config.kwargs())
    assert got.shape == config.y_shape
    assert_close(got, want, config, scale=8, context=config)


@budget(100)
@given(configs(), st.data(), SCALARS, SCALARS)
def test_conv_is_linear_in_w(config, data, a, b):
    x = data.draw(dense(config.x_shape))
    w1, w2 = data.draw(dense(config.w_shape)), data.draw(dense(config.w_shape))
    got = ndconv.conv(x, a * w1 + b * w2, **config.kwargs())
    want = a * ndconv.conv(x, w1, **config.kwargs()) + b * ndconv.conv(x, w2, **config.kwargs())
    assert_close(got, want, config, scale=8, context=config)


@budget(50)
@given(configs(), st.data())
def test_bias_adds_one_constant_per_output_channel(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    b1, b2 = data.draw(dense((config.out_channels,))), data.draw(dense((config.out_channels,)))
    plain = ndconv.conv(x, w, **config.kwargs())
    with_b1 = ndconv.conv(x, w, b1, **config.kwargs())
    assert_close(with_b1, plain + channel_bias(b1, config), config, context=config)
    both = ndconv.conv(x, w, b1 + b2, **config.kwargs())
    assert_close(both, with_b1 + channel_bias(b2, config), config, context=config)


# ---------------------------------------------------------------------------
# Adjointness
# ---------------------------------------------------------------------------


def transpose_kwargs(config: Config) -> dict[str, object]:
    """conv_transpose arguments mapping conv's output shape back to its input's shape."""
    # output_padding: the remainder the strided conv dropped, per dim.
    output_padding = tuple(
        (n + lo + hi - d * (k - 1) - 1) % s
        for n, (lo, hi), k, s, d in zip(
            config.in_spatial, config.pads, config.kernel, config.stride, config.dilation
        )
    )
    return {
        "stride": config.arg(config.stride),
        "padding": config.pads if isinstance(config.padding, str) else config.padding,
        "output_padding": config.arg(output_padding),
        "dilation": config.arg(config.dilation),
        "groups": config.groups,
    }


@budget(150)
@given(configs(modes=("zeros",)), st.data())
def test_conv_transpose_is_the_adjoint_of_conv(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    y = data.draw(dense(config.y_shape))
    back = ndconv.conv_transpose(y, w, **transpose_kwargs(config))
    assert back.shape == config.x_shape
    forward = ndconv.conv(x, w, **config.kwargs())
    scale = ATOL * config.reduction * y.size
    assert math.isclose(np.vdot(forward, y), np.vdot(x, back), rel_tol=RTOL, abs_tol=scale)


@budget(120)
@given(configs(), st.data())
def test_conv_grad_is_the_adjoint_of_conv_in_x_w_and_b(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    dy = data.draw(dense(config.y_shape))
    b = data.draw(dense((config.out_channels,)))
    dx, dw, db = ndconv.conv_grad(dy, x, w, **config.kwargs())
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, (config.out_channels,))
    inner = np.vdot(ndconv.conv(x, w, **config.kwargs()), dy)
    scale = ATOL * config.reduction * dy.size * 4
    assert math.isclose(inner, np.vdot(x, dx), rel_tol=RTOL, abs_tol=scale), config
    assert math.isclose(inner, np.vdot(w, dw), rel_tol=RTOL, abs_tol=scale), config
    shifted = ndconv.conv(x, w, b, **config.kwargs())
    inner_b = np.vdot(shifted, dy) - inner
    assert math.isclose(inner_b, np.vdot(b, db), rel_tol=1e-9, abs_tol=scale), config


# ---------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------


def loss(x, w, b, config: Config) -> float:
    return float(np.sum(np.sin(ndconv.conv(x, w, b, **config.kwargs()))))


@budget(60)
@given(configs(), st.data())
def test_conv_grad_matches_central_finite_differences(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    b = data.draw(dense((config.out_channels,)))
    dy = np.cos(ndconv.conv(x, w, b, **config.kwargs()))  # dL/dy for L = sum(sin(y))
    grads = dict(zip("xwb", ndconv.conv_grad(dy, x, w, **config.kwargs())))
    h = 1e-6
    tolerance = 1e-7 * math.prod(config.y_shape)
    args = {"x": x, "w": w, "b": b}
    for name, grad in grads.items():
        direction = data.draw(dense(grad.shape), label=f"direction {name}")
        plus = dict(args, **{name: args[name] + h * direction})
        minus = dict(args, **{name: args[name] - h * direction})
        numeric = (loss(**plus, config=config) - loss(**minus, config=config)) / (2 * h)
        assert math.isclose(numeric, np.vdot(grad, direction), rel_tol=1e-6,
                            abs_tol=tolerance), (name, config)
    for channel in range(config.out_channels):
        step = np.zeros_like(b)
        step[channel] = h
        numeric = (loss(x, w, b + step, config) - loss(x, w, b - step, config)) / (2 * h)
        assert math.isclose(numeric, grads["b"][channel], rel_tol=1e-6, abs_tol=tolerance)


# ---------------------------------------------------------------------------
# Identity, shifts
# ---------------------------------------------------------------------------


@st.composite
def delta_cases(draw):
    """A depthwise conv whose kernel is one at its centre, with its "same" padding."""
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.sampled_from((1, 3, 5) if ndim == 1 else (1, 3))) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    mode = draw(st.sampled_from(PADDING_MODES))
    # "same" pads d * (k - 1) / 2 on each side; reflect needs more input than that.
    least = [d * (k - 1) // 2 + 1 for k, d in zip(kernel, dilation)]
    sizes = tuple(draw(st.integers(m, m + 3)) for m in least)
    channels = draw(st.integers(1, 3))
    batch = draw(st.none() | st.integers(1, 2))
    return kernel, dilation, mode, sizes, channels, batch


@budget(60)
@given(delta_cases(), st.data())
def test_centred_delta_kernel_with_same_padding_is_the_identity(case, data):
    kernel, dilation, mode, sizes, channels, batch = case
    lead = () if batch is None else (batch,)
    x = data.draw(dense((*lead, channels, *sizes)))
    w = np.zeros((channels, 1, *kernel))
    w[(slice(None), 0, *(k // 2 for k in kernel))] = 1.0
    got = ndconv.conv(x, w, padding="same", dilation=dilation, groups=channels,
                      padding_mode=mode)
    # Exact for the direct sums; "auto" may plan FFT (with cold kernel caches), whose
    # error is normwise, within its documented bound (docs/reliability.md).
    scale = float(np.abs(x).max(initial=0.0))
    np.testing.assert_allclose(got, x, rtol=1e-12, atol=1e-13 * scale)


@budget(60)
@given(configs(modes=("zeros",), forms=("valid",), max_stride=1), st.data())
def test_valid_conv_with_stride_1_commutes_with_shifts(config, data):
    axis = data.draw(st.integers(0, config.ndim - 1), label="axis")
    spatial = list(config.in_spatial)
    spatial[axis] += 1  # one more element, so both one-element crops still fit the kernel
    lead = config.x_shape[: config.channel_axis + 1]
    x = data.draw(dense((*lead, *spatial)))
    w = data.draw(dense(config.w_shape))
    full = ndconv.conv(x, w, **config.kwargs())
    at = config.channel_axis + 1 + axis
    size = x.shape[at]
    dropped_first = ndconv.conv(x.take(range(1, size), axis=at), w, **config.kwargs())
    dropped_last = ndconv.conv(x.take(range(size - 1), axis=at), w, **config.kwargs())
    out = full.shape[at]
    assert_close(dropped_first, full.take(range(1, out), axis=at), config)
    assert_close(dropped_last, full.take(range(out - 1), axis=at), config)


@st.composite
def circular_configs(draw) -> Config:
    """Stride 1, circular padding of total d * (k - 1) per dim: output size == input size."""
    config = draw(configs(modes=("circular",), forms=("valid",), max_stride=1))
    pads = []
    for n, k, d in zip(config.in_spatial, config.kernel, config.dilation):
        total = d * (k - 1)
        lo = draw(st.integers(max(0, total - n), min(total, n)))
        pads.append((lo, total - lo))
    return dataclasses.replace(config, padding=tuple(pads), pads=tuple(pads))


@budget(60)
@given(circular_configs(), st.data())
def test_circular_padding_makes_conv_commute_with_rolls(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    axis = config.channel_axis + 1 + data.draw(st.integers(0, config.ndim - 1), label="axis")
    shift = data.draw(st.integers(-3, 3), label="shift")
    y = ndconv.conv(x, w, **config.kwargs())
    assert y.shape[config.channel_axis + 1 :] == config.in_spatial
    rolled = ndconv.conv(np.roll(x, shift, axis=axis), w, **config.kwargs())
    assert_close(rolled, np.roll(y, shift, axis=axis), config)


# ---------------------------------------------------------------------------
# Decompositions: groups, dilation, padding
# ---------------------------------------------------------------------------


@budget(75)
@given(configs(min_groups=2), st.data())
def test_groups_equal_the_concatenation_of_per_group_convs(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    got = ndconv.conv(x, w, **config.kwargs())
    cin, cout = config.in_channels // config.groups, config.out_channels // config.groups
    c = config.channel_axis
    parts = [
        ndconv.conv(
            x.take(range(g * cin, (g + 1) * cin), axis=c), w[g * cout : (g + 1) * cout],
            **config.kwargs(groups=1),
        )
        for g in range(config.groups)
    ]
    assert_close(got, np.concatenate(parts, axis=c), config)


@budget(75)
@given(configs(), st.data())
def test_dilation_equals_a_kernel_with_zeros_inserted(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    spread = np.zeros((*w.shape[:2], *(d * (k - 1) + 1 for k, d in zip(config.kernel,
                                                                       config.dilation))))
    spread[(slice(None), slice(None), *(slice(None, None, d) for d in config.dilation))] = w
    got = ndconv.conv(x, w, **config.kwargs())
    # Padding strings resolve from the effective kernel size, so they carry over unchanged.
    want = ndconv.conv(x, spread, **config.kwargs(dilation=1))
    assert_close(got, want, config)


@budget(120)
@given(configs(), st.data())
def test_padding_equals_np_pad_then_a_padding_0_conv(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    lead = [(0, 0)] * (config.channel_axis + 1)
    padded = np.pad(x, [*lead, *config.pads], mode=NUMPY_PAD[config.padding_mode])
    got = ndconv.conv(x, w, **config.kwargs())
    want = ndconv.conv(padded, w, **config.kwargs(padding=0, padding_mode="zeros"))
    assert_close(got, want, config)


# ---------------------------------------------------------------------------
# Algorithms
# ---------------------------------------------------------------------------

# The FFT's error is normwise, not per element: it gets a looser absolute tolerance.
ALGORITHM_SCALE = {"fft": 100.0}


@budget(40)
@given(configs(kernels=DIRECT_KERNELS), st.data())
def test_every_algorithm_agrees_with_the_reference(config, data):
    x, w = data.draw(dense(config.x_shape)), data.draw(dense(config.w_shape))
    dy = data.draw(dense(config.y_shape))
    spec = conv_spec(config.x_shape, config.w_shape, **config.kwargs())
    forward = ndconv.conv(x, w, **config.kwargs(), algorithm="reference")
    back = ndconv.conv_transpose(dy, w, **transpose_kwargs(config), algorithm="reference")
    grads = ndconv.conv_grad(dy, x, w, **config.kwargs(), algorithm="reference")
    for name, algorithm in ALGORITHMS.items():
        if name == "reference" or not algorithm.supports(spec):
            continue
        scale = ALGORITHM_SCALE.get(name, 1.0)
        got = ndconv.conv(x, w, **config.kwargs(), algorithm=name)
        assert_close(got, forward, config, scale=scale, context=(name, config))
        got = ndconv.conv_transpose(dy, w, **transpose_kwargs(config), algorithm=name)
        assert_close(got, back, config, scale=scale * 4, context=(name, "transpose", config))
        if name == "direct":
            # The weight gradient's kernel has the output's shape: a compile per shape.
            continue
        for label, g, r in zip(("dx", "dw", "db"), ndconv.conv_grad(
            dy, x, w, **config.kwargs(), algorithm=name
        ), grads):
            assert_close(g, r, config, scale=scale * dy.size, context=(name, label, config))
