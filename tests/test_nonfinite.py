"""NaN and Inf stay local: they reach exactly the outputs whose window covers them.

For every algorithm in ``ndconv.algorithms.ALGORITHMS`` (so new ones are included) and for
``"auto"``: one NaN, Inf or -Inf placed in ``x`` makes non-finite exactly the outputs one of
whose kernel taps lands on it or on a padded copy of it, whatever the weight there (Inf times
a zero weight is NaN); one placed in ``w`` makes non-finite exactly its output channel (the
tap meets every window, zero padding included: NaN times 0 is NaN). Every other output equals
the result on finite data. The expected footprint is computed independently of the values, as
the reference convolution of a 0/1 indicator with an all-ones kernel.

FFT mixes every input into every output, so the planner never lets non-finite data through
it, even when it is requested by name (``Algorithm.spreads_nonfinite``); those rows check the
fallback.
"""

from __future__ import annotations

import numpy as np
import pytest

import ndconv
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS
from ndconv.algorithms.fft import correlate_fft

# (x shape, w shape, arguments). Kernels are ones the rest of the suite compiles already.
CASES = {
    "2d-groups-stride-dilation": ((2, 4, 9, 10), (6, 2, 2, 3),
                                  {"padding": 1, "stride": (1, 2), "dilation": (2, 1),
                                   "groups": 2}),
    "2d-reflect-same": ((1, 2, 8, 9), (3, 2, 2, 3), {"padding": "same",
                                                     "padding_mode": "reflect"}),
    "1d-circular-stride": ((2, 3, 20), (2, 3, 3), {"padding": 2, "stride": 2,
                                                   "padding_mode": "circular"}),
    # A kernel large enough for "auto" to plan FFT (checked below), so its fallback runs.
    "2d-large-kernel": ((1, 1, 96, 96), (1, 1, 25, 25), {}),
}
# The compiled direct kernels are unrolled per kernel shape: a 25x25 one takes minutes.
TOO_SLOW_TO_COMPILE = {("direct", "2d-large-kernel")}
VALUES = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}
# Algorithms built on NumPy report Inf * 0 as NumPy does; the values are what is tested.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
NAMES = ["auto", *sorted(ALGORITHMS)]


def _arrays(case: str) -> tuple[np.ndarray, np.ndarray, dict]:
    x_shape, w_shape, kwargs = CASES[case]
    rng = np.random.default_rng(len(case))
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    w.reshape(-1)[::5] = 0.0  # zero weights: Inf times 0 must still give NaN
    return x, w, kwargs


def _skip_unless_supported(name: str, case: str) -> None:
    x_shape, w_shape, kwargs = CASES[case]
    if (name, case) in TOO_SLOW_TO_COMPILE:
        pytest.skip(f"{name} would compile a kernel for {case}")
    if name != "auto" and not ALGORITHMS[name].supports(conv_spec(x_shape, w_shape, **kwargs)):
        pytest.skip(f"{name} does not support {case}")


def _footprint(x_indicator: np.ndarray, w_shape: tuple[int, ...], kwargs: dict) -> np.ndarray:
    """Outputs one of whose taps lands on a marked input element (or a padded copy of it)."""
    reach = ndconv.conv(x_indicator, np.ones(w_shape), algorithm="reference", **kwargs)
    return reach > 0


def _check(got: np.ndarray, finite_result: np.ndarray, expected: np.ndarray, scale: float):
    np.testing.assert_array_equal(~np.isfinite(got), expected)
    np.testing.assert_allclose(got[~expected], finite_result[~expected], rtol=1e-9,
                               atol=1e-9 * scale)


def _positions(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """A corner (reaches the padding's copies) and an interior element."""
    return [tuple(0 for _ in shape), tuple(n // 2 for n in shape)]


@pytest.mark.parametrize("value", sorted(VALUES))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_non_finite_input_reaches_exactly_the_windows_covering_it(case, name, value):
    _skip_unless_supported(name, case)
    x, w, kwargs = _arrays(case)
    for where in _positions(x.shape):
        bad, clean, indicator = x.copy(), x.copy(), np.zeros(x.shape)
        bad[where], clean[where], indicator[where] = VALUES[value], 0.0, 1.0
        expected = _footprint(indicator, w.shape, kwargs)
        assert expected.any() and not expected.all()
        finite_result = ndconv.conv(clean, w, algorithm="reference", **kwargs)
        got = ndconv.conv(bad, w, algorithm=name, **kwargs)
        _check(got, finite_result, expected, np.abs(finite_result).max())


@pytest.mark.parametrize("value", sorted(VALUES))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_non_finite_weight_reaches_exactly_its_output_channel(case, name, value):
    _skip_unless_supported(name, case)
    x, w, kwargs = _arrays(case)
    finite_result = ndconv.conv(x, w, algorithm="reference", **kwargs)
    for where in _positions(w.shape):
        bad = w.copy()
        bad[where] = VALUES[value]
        expected = np.zeros(finite_result.shape, dtype=bool)
        expected[:, where[0]] = True
        got = ndconv.conv(x, bad, algorithm=name, **kwargs)
        clean = w.copy()
        clean[where] = 0.0
        _check(got, ndconv.conv(x, clean, algorithm="reference", **kwargs), expected,
               np.abs(finite_result).max())


@pytest.mark.parametrize("name", NAMES)
def test_transposed_and_gradient_results_stay_local_too(name):
    _skip_unless_supported(name, "2d-groups-stride-dilation")
    x, w, kwargs = _arrays("2d-groups-stride-dilation")
    dy = np.random.default_rng(7).standard_normal(ndconv.conv(x, w, **kwargs).shape)
    where = (1, 2, 3, 2)
    bad, indicator = dy.copy(), np.zeros(dy.shape)
    bad[where], indicator[where] = np.nan, 1.0
    clean = dy.copy()
    clean[where] = 0.0
    # conv_grad's dx is conv_transpose of dy: the scatter of the NaN's kernel footprint.
    transpose_args = {"padding": 1, "stride": (1, 2), "dilation": (2, 1), "groups": 2,
                      "output_padding": (0, 1)}
    expected = ndconv.conv_transpose(indicator, np.ones(w.shape), algorithm="reference",
                                     **transpose_args) > 0
    assert expected.any() and not expected.all()
    finite_result = ndconv.conv_transpose(clean, w, algorithm="reference", **transpose_args)
    got = ndconv.conv_transpose(bad, w, algorithm=name, **transpose_args)
    _check(got, finite_result, expected, np.abs(finite_result).max())
    if name != "direct":  # its weight gradient compiles a kernel of the output's shape
        dx = ndconv.conv_grad(bad, x, w, algorithm=name, **kwargs)[0]
        _check(dx, finite_result, expected, np.abs(finite_result).max())


def test_auto_plans_fft_for_the_large_kernel_case_so_its_fallback_is_exercised():
    x_shape, w_shape, kwargs = CASES["2d-large-kernel"]
    plan = ndconv.plan(x_shape, w_shape, "float64", **kwargs)
    assert plan.algorithm == "fft"
    assert not ALGORITHMS[plan.fallback].spreads_nonfinite
    assert ALGORITHMS[plan.fallback].guard is None


def test_fft_itself_would_spread_a_nan_to_every_output():
    x, w, _ = _arrays("2d-large-kernel")
    x[0, 0, 50, 40] = np.nan
    assert np.isnan(correlate_fft(x, w, conv_spec(x.shape, w.shape))).all()


def test_requesting_a_spreading_algorithm_plans_a_local_fallback_and_says_so():
    plan = ndconv.plan((1, 1, 300), (1, 1, 41), "float64", algorithm="fft")
    assert plan.algorithm == "fft"
    assert plan.fallback is not None and not ALGORITHMS[plan.fallback].spreads_nonfinite
    assert f"data holding NaN or Inf run {plan.fallback!r} instead" in plan.reason
    for name, algorithm in ALGORITHMS.items():
        if not algorithm.spreads_nonfinite:
            assert ndconv.plan((1, 1, 300), (1, 1, 41), "float64", algorithm=name).fallback is None


def test_finite_and_integer_data_still_run_the_requested_algorithm(monkeypatch):
    import dataclasses

    ran = []
    real = ALGORITHMS["fft"].run
    monkeypatch.setitem(ALGORITHMS, "fft", dataclasses.replace(
        ALGORITHMS["fft"], run=lambda *args: ran.append(1) or real(*args)))
    monkeypatch.setattr(ndconv.planner, "_PLANS", {})
    ndconv.correlate(np.ones(50), np.ones(9), algorithm="fft")
    ndconv.correlate(np.arange(50), np.arange(9), algorithm="fft")  # integers: no check needed
    assert len(ran) == 2
    ndconv.correlate(np.full(50, np.inf), np.ones(9), algorithm="fft")
    assert len(ran) == 2
