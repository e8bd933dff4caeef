"""The accuracy budget of docs/reliability.md, checked on adversarial data.

Every registered algorithm (and ``"auto"``) is compared with a reference computed in a wider
dtype (float64 for float16/float32 inputs, longdouble for float64) from the same rounded
inputs, on data chosen to hurt: magnitudes spanning nine decades, a long kernel, a large
offset under a zero-sum kernel (cancellation), many channels, and rare huge spikes.

The documented bounds, per output element, with ``u`` the unit roundoff of the compute dtype,
``K`` the products summed into one output, ``A = |x| (*) |w|`` the convolution of the
magnitudes, ``L`` the points of one FFT transform and ``u_r |y|`` the final rounding to the
result dtype (float16 results are computed in float32; at least half float16's smallest
subnormal)::

    direct sums (reference, direct, small, numpy, gemm)   |error| <= K u A + u_r |y|
    fft   (normwise)   |error| <= 2 log2(L) u max|x| sum|w_o| + u_r |y|
    auto               the bound of the algorithm it ran: never worse than the larger of the two

A new algorithm needs its row in ``BOUNDS`` (and in docs/reliability.md) before this passes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ndconv
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS
from ndconv.algorithms.fft import transform_shape

DTYPES = (np.float16, np.float32, np.float64)
# Which documented bound holds for each algorithm.
BOUNDS = {
    "reference": "sum", "direct": "sum", "small": "sum", "numpy": "sum", "gemm": "sum",
    "fft": "fft", "winograd": "winograd",
}
#: Winograd's growth: its transforms' rounding, relative to the largest input of a tile
#: (measured up to 7.2 for F(4x4) and 1.2 for F(2x2) on these cases; docs/reliability.md).
WINOGRAD_GROWTH = 32


def _data(case: str, dtype: type) -> tuple[np.ndarray, np.ndarray, dict]:
    """Adversarial inputs, already rounded to ``dtype``. Kernel shapes are ones the suite
    compiles for "direct" anyway (each new shape costs seconds)."""
    rng = np.random.default_rng(CASES.index(case))
    big = 1e3 if dtype == np.float16 else 1e6  # float16 overflows at 65504
    if case == "wide-range":  # RELIABILITY.md: half the input x1e6, half x1e-3
        x = rng.standard_normal((1, 2, 48, 48))
        x[..., :24] *= big
        x[..., 24:] *= 1e-3
        w, kwargs = rng.standard_normal((2, 2, 3, 3)), {"padding": "same"}
    elif case == "large-kernel":
        x, w, kwargs = rng.standard_normal((1, 1, 2048)), rng.standard_normal((1, 1, 67)), {}
    elif case == "cancellation":  # outputs ~1 from terms ~1e3: a zero-sum kernel on an offset
        x = 1e3 + rng.standard_normal((1, 1, 40, 40))
        w = rng.standard_normal((2, 1, 3, 3))
        w -= w.mean(axis=(2, 3), keepdims=True)
        kwargs = {"padding": 1, "padding_mode": "reflect"}
    elif case == "many-channels":
        x, w = rng.standard_normal((2, 64, 10, 10)), rng.standard_normal((8, 64, 3, 3))
        kwargs = {"padding": 1}
    else:  # "spikes": rare huge values among ordinary ones
        x = rng.standard_normal((1, 1, 2000))
        x[..., ::97] = big
        w, kwargs = rng.standard_normal((1, 1, 67)), {}
    return x.astype(dtype), w.astype(dtype), kwargs


CASES = ("wide-range", "large-kernel", "cancellation", "many-channels", "spikes")


def _wide(dtype: type) -> type:
    return np.longdouble if dtype == np.float64 else np.float64


def _unit_roundoff(dtype: type) -> float:
    return float(np.finfo(dtype).eps) / 2


def _bounds(x: np.ndarray, w: np.ndarray, kwargs: dict, y_ref: np.ndarray
            ) -> dict[str, np.ndarray]:
    """The documented error bound of each kind, per output element."""
    wide = _wide(x.dtype.type)
    compute = np.float32 if x.dtype == np.float16 else x.dtype.type
    u = _unit_roundoff(compute)
    final = 0.0
    if x.dtype == np.float16:  # rounding to float16, whose subnormals are 2**-24 apart
        tiny = float(np.finfo(np.float16).smallest_subnormal) / 2
        final = np.maximum(_unit_roundoff(np.float16) * np.abs(y_ref), tiny)
    magnitudes = ndconv.conv(np.abs(x).astype(wide), np.abs(w).astype(wide), algorithm="numpy",
                             **kwargs)
    products = math.prod(w.shape[1:])
    spec = conv_spec(x.shape, w.shape, **kwargs)
    points = math.prod(transform_shape(spec, real=True))
    per_channel = np.abs(w.astype(wide)).sum(axis=tuple(range(1, w.ndim)))
    normwise = 2 * math.log2(points) * u * np.abs(x.astype(wide)).max() * per_channel
    return {
        "sum": products * u * magnitudes + final,
        "fft": normwise.reshape(1, -1, *(1,) * (w.ndim - 2)) + final,
        "winograd": (WINOGRAD_GROWTH * u * np.abs(x.astype(wide)).max() * per_channel).reshape(
            1, -1, *(1,) * (w.ndim - 2)) + final,
    }


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["auto", *sorted(ALGORITHMS)])
def test_error_within_the_documented_bound(name, case, dtype):
    if name != "auto" and name not in BOUNDS:
        pytest.fail(f"algorithm {name!r} has no documented accuracy bound: add its row to "
                    f"docs/reliability.md and to BOUNDS in this file")
    x, w, kwargs = _data(case, dtype)
    spec = conv_spec(x.shape, w.shape, **kwargs, dtype=np.dtype(np.float32 if dtype == np.float16
                                                                 else dtype))
    if name != "auto" and not ALGORITHMS[name].supports(spec):
        pytest.skip(f"{name} does not support {dtype.__name__}")
    wide = _wide(dtype)
    y_ref = ndconv.conv(x.astype(wide), w.astype(wide), algorithm="numpy", **kwargs)
    bounds = _bounds(x, w, kwargs, y_ref)
    bound = (np.maximum(np.maximum(bounds["sum"], bounds["fft"]), bounds["winograd"])
             if name == "auto"
             else bounds[BOUNDS[name]])
    got = ndconv.conv(x, w, algorithm=name, **kwargs)
    assert got.dtype == dtype
    error = np.abs(got.astype(wide) - y_ref)
    worst = np.unravel_index(np.argmax(error / bound), error.shape)
    assert (error <= bound).all(), (
        f"{name} on {case} ({dtype.__name__}): error {float(error[worst]):.3g} > bound "
        f"{float(bound[worst]):.3g} at {worst}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_auto_keeps_the_componentwise_bound_on_a_wide_dynamic_range(dtype):
    # The FFT guard refuses data whose magnitudes span more than its limit (1e3 in float32,
    # 1e8 in float64), so auto's error here is the direct sums' K u A, not FFT's normwise.
    x, w, kwargs = _data("wide-range", dtype)
    y_ref = ndconv.conv(x.astype(_wide(dtype)), w.astype(_wide(dtype)), algorithm="numpy",
                        **kwargs)
    error = np.abs(ndconv.conv(x, w, **kwargs).astype(_wide(dtype)) - y_ref)
    assert (error <= _bounds(x, w, kwargs, y_ref)["sum"]).all()
    fft_error = np.abs(ndconv.conv(x, w, algorithm="fft", **kwargs).astype(_wide(dtype)) - y_ref)
    assert (fft_error > _bounds(x, w, kwargs, y_ref)["sum"]).any()  # what the guard prevents


@pytest.mark.parametrize("name", sorted(n for n, kind in BOUNDS.items() if kind == "sum"))
def test_direct_sums_of_integer_valued_floats_are_exact(name):
    rng = np.random.default_rng(3)
    x = rng.integers(-1000, 1000, (2, 3, 12, 12)).astype(np.float64)
    w = rng.integers(-1000, 1000, (4, 3, 3, 3)).astype(np.float64)
    exact = ndconv.conv(x.astype(np.int64), w.astype(np.int64), algorithm="reference",
                        padding=1)
    np.testing.assert_array_equal(ndconv.conv(x, w, algorithm=name, padding=1), exact)


def test_integer_inputs_are_exact_under_auto_even_for_large_kernels():
    # Auto never sends integers through FFT (its products would be rounded).
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (300, 300), dtype=np.uint8)
    k = rng.integers(-128, 128, (31, 31), dtype=np.int16)
    assert ndconv.plan((1, 1, 300, 300), (1, 1, 31, 31), "float64").algorithm == "fft"
    exact = ndconv.correlate(a.astype(np.float64), k.astype(np.float64), algorithm="numpy")
    np.testing.assert_array_equal(ndconv.correlate(a, k), exact)
