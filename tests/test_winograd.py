"""The Winograd algorithm (ndconv.algorithms.winograd): exactness, accuracy, guard, workspace."""

import dataclasses
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

import ndconv
from ndconv import planner
from ndconv._adjoint import input_gradient
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS, winograd
from ndconv.algorithms.winograd import (
    correlate_winograd,
    dynamic_range_limit,
    supports_winograd,
    tile_outputs,
    tile_ratio,
    transforms,
    winograd_guard,
    winograd_workspace,
)

MODES = ("zeros", "reflect", "replicate", "circular")
TOLERANCE = {np.float32: (1e-5, 1e-6), np.float64: (1e-10, 1e-12)}  # rtol, atol per product


def assert_conforms(got, want, spec, dtype, context=""):
    rtol, atol = TOLERANCE[dtype]
    products = spec.in_channels // spec.groups * 9
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * products, err_msg=str(context))


def draw_case(rng, dtype):
    groups = int(rng.choice([1, 1, 2, 4]))
    per_in = int(rng.choice([1, 3, 8, 16, 24]))
    per_out = int(rng.integers(1, 6))
    size = tuple(int(v) for v in rng.integers(3, 23, 2))
    padding = rng.choice(["0", "1", "same", "asym"])
    padding = {"0": 0, "1": 1, "same": "same", "asym": ((0, 2), (2, 1))}[str(padding)]
    mode = str(rng.choice(MODES)) if padding != 0 else "zeros"
    if mode != "zeros" and padding == ((0, 2), (2, 1)):
        padding = 1
    spec = conv_spec((int(rng.integers(1, 4)), groups * per_in, *size),
                     (groups * per_out, per_in, 3, 3), padding=padding, groups=groups,
                     padding_mode=mode, dtype=np.dtype(dtype))
    x = rng.standard_normal(spec.input_shape).astype(dtype)
    w = rng.standard_normal(spec.weight_shape).astype(dtype)
    return spec, x, w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(30))
def test_agrees_with_the_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    spec, x, w = draw_case(rng, dtype)
    want = ALGORITHMS["reference"].run(x.astype(np.float64), w.astype(np.float64), spec)
    got = correlate_winograd(x, w, spec)
    assert got.dtype == dtype and got.shape == spec.output_shape
    assert_conforms(got, want, spec, dtype, (spec, tile_outputs(spec)))


@pytest.mark.parametrize("m", [2, 4])
def test_both_tile_sizes_on_many_channels(m, monkeypatch):
    # F(2x2) on many channels and F(4x4) on sizes that leave partial tiles, in float32.
    monkeypatch.setattr(winograd, "tile_outputs", lambda spec: m)
    winograd.blocking.cache_clear()
    rng = np.random.default_rng(m)
    spec = conv_spec((3, 48, 17, 30), (20, 48, 3, 3), padding=1, dtype=np.dtype(np.float32))
    x = rng.standard_normal(spec.input_shape).astype(np.float32)
    w = rng.standard_normal(spec.weight_shape).astype(np.float32)
    want = ALGORITHMS["numpy"].run(x.astype(np.float64), w.astype(np.float64), spec)
    assert_conforms(correlate_winograd(x, w, spec), want, spec, np.float32)
    winograd.blocking.cache_clear()


@pytest.mark.parametrize("m", [2, 4])
def test_the_transforms_compute_correlation_exactly(m):
    # In exact arithmetic: the points' rows of AT, G and BT are exact binary fractions
    # (AT, BT) or fractions carried in float64 (G); check with Fractions.
    at, g, bt = transforms(m)
    rng = np.random.default_rng(0)
    d = [Fraction(int(v)) for v in rng.integers(-9, 9, m + 2)]
    k = [Fraction(int(v)) for v in rng.integers(-9, 9, 3)]
    gk = [sum(Fraction(g[p, j]).limit_denominator(1000) * k[j] for j in range(3))
          for p in range(m + 2)]
    bd = [sum(Fraction(bt[p, j]) * d[j] for j in range(m + 2)) for p in range(m + 2)]
    y = [sum(Fraction(at[i, p]) * gk[p] * bd[p] for p in range(m + 2)) for i in range(m)]
    assert y == [sum(d[i + j] * k[j] for j in range(3)) for i in range(m)]
    assert np.array_equal(bt, np.round(bt)) and np.array_equal(at, np.round(at))


def test_supports_exactly_3x3_stride_1_in_2d():
    f32 = np.dtype(np.float32)
    assert supports_winograd(conv_spec((1, 4, 9, 9), (4, 2, 3, 3), groups=2, dtype=f32))
    assert not supports_winograd(conv_spec((1, 4, 9, 9), (4, 4, 3, 3), stride=2, dtype=f32))
    assert not supports_winograd(conv_spec((1, 4, 9, 9), (4, 4, 3, 3), dilation=2, dtype=f32))
    assert not supports_winograd(conv_spec((1, 4, 9, 9), (4, 4, 5, 5), dtype=f32))
    assert not supports_winograd(conv_spec((1, 4, 9), (4, 4, 3), dtype=f32))
    assert not supports_winograd(conv_spec((1, 4, 9, 9), (4, 4, 3, 3),
                                           dtype=np.dtype(np.complex64)))


def test_tile_size_follows_accuracy_and_size():
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    assert tile_outputs(conv_spec((1, 64, 56, 56), (64, 64, 3, 3), dtype=f32)) == 4
    assert tile_outputs(conv_spec((1, 8, 56, 56), (64, 8, 3, 3), dtype=f32)) == 2
    assert tile_outputs(conv_spec((1, 8, 56, 56), (64, 8, 3, 3), dtype=f64)) == 4
    assert tile_outputs(conv_spec((1, 64, 4, 4), (64, 64, 3, 3), dtype=f32)) == 2


def test_writes_into_out():
    rng = np.random.default_rng(1)
    spec = conv_spec((2, 16, 12, 12), (8, 16, 3, 3), padding=1, dtype=np.dtype(np.float32))
    x = rng.standard_normal(spec.input_shape).astype(np.float32)
    w = rng.standard_normal(spec.weight_shape).astype(np.float32)
    out = np.full(spec.output_shape, np.nan, np.float32)
    assert correlate_winograd(x, w, spec, out) is out
    assert_conforms(out, ALGORITHMS["reference"].run(x, w, spec), spec, np.float32)
    public = np.empty(spec.output_shape, np.float32)
    assert ndconv.conv(x, w, padding=1, algorithm="winograd", out=public) is public
    np.testing.assert_array_equal(public, out)


def test_one_thread_and_two_agree(monkeypatch):
    rng = np.random.default_rng(2)
    spec = conv_spec((4, 16, 20, 20), (16, 16, 3, 3), padding=1, dtype=np.dtype(np.float32))
    x = rng.standard_normal(spec.input_shape).astype(np.float32)
    w = rng.standard_normal(spec.weight_shape).astype(np.float32)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(winograd, "kernel_threads", lambda threads=threads: threads)
        winograd.blocking.cache_clear()
        results.append(correlate_winograd(x, w, spec))
    winograd.blocking.cache_clear()
    np.testing.assert_array_equal(*results)


def test_workspace_stays_under_a_small_limit():
    # The transformed inputs of all tiles would take 36 * 32 * 1024 * 4 bytes = 4.7 MB.
    rng = np.random.default_rng(3)
    spec = conv_spec((4, 32, 64, 64), (32, 32, 3, 3), padding=1, dtype=np.dtype(np.float32))
    x = rng.standard_normal(spec.input_shape).astype(np.float32)
    w = rng.standard_normal(spec.weight_shape).astype(np.float32)
    out = np.empty(spec.output_shape, np.float32)
    previous = ndconv.get_workspace_limit()
    ndconv.set_workspace_limit(1 << 20)
    try:
        correlate_winograd(x, w, spec, out)  # compile outside the measurement
        tracemalloc.start()
        correlate_winograd(x, w, spec, out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= winograd_workspace(spec) <= 1 << 20
        assert ndconv.plan(spec.input_shape, spec.weight_shape, padding=1,
                           algorithm="winograd").workspace_bytes <= 1 << 20
    finally:
        ndconv.set_workspace_limit(previous)
    assert_conforms(out, ALGORITHMS["numpy"].run(x, w, spec), spec, np.float32)


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_transposed_convolution_and_input_gradient(padding):
    # Stride-1 3x3 transposed convolutions are stride-1 3x3 forward ones (padding 2 - p).
    rng = np.random.default_rng(4 + padding)
    y = rng.standard_normal((2, 16, 9, 11))
    w = rng.standard_normal((16, 6, 3, 3))
    want = ndconv.conv_transpose(y, w, padding=padding, algorithm="reference")
    got = ndconv.conv_transpose(y, w, padding=padding, algorithm="winograd")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * 16 * 9)
    spec = conv_spec((2, 6, 13, 15), (16, 6, 3, 3), padding=padding + 1)
    dy = rng.standard_normal(spec.output_shape)
    np.testing.assert_allclose(input_gradient(dy, w, spec, "winograd"),
                               input_gradient(dy, w, spec, "reference"), rtol=1e-10,
                               atol=1e-12 * 16 * 9)


def test_float32_error_on_normal_data():
    # Componentwise error max |err| / (|x| * |w|) against float64 (module docstring).
    rng = np.random.default_rng(5)
    for channels, bound in ((2, 2e-6), (64, 2e-6)):
        spec = conv_spec((4, channels, 32, 32), (16, channels, 3, 3), padding=1,
                         dtype=np.dtype(np.float32))
        x = rng.standard_normal(spec.input_shape).astype(np.float32)
        w = rng.standard_normal(spec.weight_shape).astype(np.float32)
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        exact = ALGORITHMS["numpy"].run(x64, w64, spec)
        scale = ALGORITHMS["numpy"].run(np.abs(x64), np.abs(w64), spec)
        error = np.abs(correlate_winograd(x, w, spec) - exact) / scale
        assert error.max() < bound, (channels, tile_outputs(spec), error.max())


@pytest.mark.parametrize("quiet", [1.0, 0.3, 1e-3])
def test_the_guard_keeps_the_error_bound_on_two_magnitudes(quiet):
    # Half the input 1/quiet times larger: refused beyond the limit, within the bound below it.
    rng = np.random.default_rng(6)
    spec = conv_spec((2, 32, 24, 24), (8, 32, 3, 3), padding=1, dtype=np.dtype(np.float32))
    x = (rng.standard_normal(spec.input_shape)
         * np.where(np.arange(24) < 11, 1.0, quiet)).astype(np.float32)
    w = rng.standard_normal(spec.weight_shape).astype(np.float32)
    ratio = tile_ratio(x, spec)[0]
    limit = dynamic_range_limit(4, spec.dtype)
    reason = winograd_guard(x, w, spec)
    assert (reason is None) == (ratio <= limit), (ratio, reason)
    if reason is None:
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        exact = ALGORITHMS["numpy"].run(x64, w64, spec)
        scale = ALGORITHMS["numpy"].run(np.abs(x64), np.abs(w64), spec)
        assert (np.abs(correlate_winograd(x, w, spec) - exact) / scale).max() <= 4e-6
    else:
        assert "vary more than" in reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda x, w: (np.where(np.arange(x.size).reshape(x.shape) == 77, np.nan, x), w),
         "non-finite values"),
        (lambda x, w: (np.where(np.arange(x.size).reshape(x.shape) == 5, -np.inf, x), w),
         "non-finite values"),
        (lambda x, w: (x, np.where(np.arange(w.size).reshape(w.shape) == 3, np.nan, w)),
         "non-finite weights"),
        (lambda x, w: (x.astype(np.int16), w.astype(np.int16)), "integer inputs"),
        (lambda x, w: (x * 1e36, w), "overflow"),
    ],
)
def test_the_guard_refuses_data_winograd_would_get_wrong(change, reason):
    rng = np.random.default_rng(7)
    spec = conv_spec((1, 16, 12, 12), (4, 16, 3, 3), dtype=np.dtype(np.float32))
    x = rng.integers(1, 9, spec.input_shape).astype(np.float32)
    w = rng.integers(1, 9, spec.weight_shape).astype(np.float32)
    assert winograd_guard(x, w, spec) is None
    assert reason in winograd_guard(*change(x, w), spec)


@pytest.mark.parametrize("algorithm", ["auto", "winograd"])
def test_nan_stays_in_the_windows_covering_it(algorithm):
    # A NaN in one element would spread over its whole tile; the planner keeps it local.
    rng = np.random.default_rng(8)
    x = rng.standard_normal((8, 64, 28, 28)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    assert ndconv.plan(x.shape, w.shape, padding=1).algorithm == "winograd"
    x[1, 5, 9, 14] = np.nan
    y = ndconv.conv(x, w, padding=1, algorithm=algorithm)
    covered = np.zeros((8, 64, 28, 28), bool)
    covered[1, :, 8:11, 13:16] = True
    np.testing.assert_array_equal(np.isnan(y), covered)


def test_auto_runs_winograd_on_well_behaved_data(monkeypatch):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 64, 28, 28)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    plan = ndconv.plan(x.shape, w.shape, padding=1)
    assert (plan.algorithm, ALGORITHMS[plan.fallback].guard) == ("winograd", None)
    ran = []
    real = ALGORITHMS["winograd"].run
    monkeypatch.setitem(ALGORITHMS, "winograd", dataclasses.replace(
        ALGORITHMS["winograd"], run=lambda *args: ran.append(1) or real(*args)))
    monkeypatch.setattr(planner, "_PLANS", {})
    got = ndconv.conv(x, w, padding=1)
    assert ran
    spec = conv_spec(x.shape, w.shape, padding=1)
    assert_conforms(got, ALGORITHMS["numpy"].run(x.astype(np.float64), w.astype(np.float64),
                                                 spec), spec, np.float32)
    ran.clear()
    ndconv.conv(x * np.where(np.arange(28) < 14, 1e4, 1.0).astype(np.float32), w, padding=1)
    assert not ran  # the guard sent the wide-range data elsewhere


def test_costs_pick_winograd_for_many_channels_and_direct_for_one():
    assert ndconv.plan((16, 64, 56, 56), (64, 64, 3, 3), padding=1).algorithm == "winograd"
    assert ndconv.plan((1, 1, 2048, 2048), (1, 1, 3, 3), padding=1).algorithm == "direct"
    assert ndconv.plan((16, 64, 56, 56), (64, 1, 3, 3), padding=1, groups=64).algorithm != (
        "winograd")
