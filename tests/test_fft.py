"""The FFT algorithm (ndconv.algorithms.fft): exactness against the reference, and its limits."""

import dataclasses

import numpy as np
import pytest

import ndconv
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS, fft
from ndconv.algorithms.fft import correlate_fft, fft_guard, transform_shape


@pytest.mark.parametrize("seed", range(6))
def test_large_kernels_with_every_parameter(seed):
    rng = np.random.default_rng(seed)
    ndim = 1 + seed % 3
    kernel = tuple(int(v) for v in rng.integers(4, 9, ndim))
    size = tuple(2 * k + int(rng.integers(0, 7)) for k in kernel)
    spec = conv_spec((2, 4, *size), (6, 2, *kernel), stride=int(rng.integers(1, 3)),
                     dilation=(1,) * (ndim - 1) + (2,), groups=2, padding="same",
                     padding_mode=str(rng.choice(["zeros", "reflect", "circular"])))
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    reduction = 2 * int(np.prod(kernel))
    np.testing.assert_allclose(correlate_fft(x, w, spec), ALGORITHMS["numpy"].run(x, w, spec),
                               rtol=1e-10, atol=1e-13 * reduction)


def test_complex_uses_full_transforms_without_conjugation():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((20, 17)) + 1j * rng.standard_normal((20, 17))
    k = rng.standard_normal((5, 4)) + 1j * rng.standard_normal((5, 4))
    np.testing.assert_allclose(ndconv.correlate(a, k, "full", algorithm="fft"),
                               ndconv.correlate(a, k, "full", algorithm="numpy"), rtol=1e-10,
                               atol=1e-12)


def test_float32_error_is_normwise_small():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((256, 256)).astype(np.float32)
    k = rng.standard_normal((31, 31)).astype(np.float32)
    exact = ndconv.correlate(a.astype(np.float64), k.astype(np.float64))
    got = ndconv.correlate(a, k, algorithm="fft")
    assert got.dtype == np.float32
    assert np.abs(got - exact).max() <= 1e-5 * np.abs(exact).max()


def test_auto_uses_fft_for_large_kernels_on_well_behaved_data(monkeypatch):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((300, 300)).astype(np.float32)
    k = rng.standard_normal((31, 31)).astype(np.float32)
    plan = ndconv.plan((1, 1, 300, 300), (1, 1, 31, 31), "float32")
    assert plan.algorithm == "fft"
    assert ALGORITHMS[plan.fallback].guard is None
    ran = []
    real = ALGORITHMS["fft"].run
    monkeypatch.setitem(ALGORITHMS, "fft", dataclasses.replace(
        ALGORITHMS["fft"], run=lambda *args: ran.append(1) or real(*args)))
    monkeypatch.setattr(ndconv.planner, "_PLANS", {})
    got = ndconv.correlate(a, k)
    assert ran
    exact = ndconv.correlate(a.astype(np.float64), k.astype(np.float64), algorithm="numpy")
    assert np.abs(got - exact).max() <= 1e-5 * np.abs(exact).max()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda a: a.astype(np.uint8), "integer inputs"),
        (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 77, np.nan, a), "non-finite"),
        (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 5, np.inf, a), "non-finite"),
        (lambda a: a * np.where(np.arange(a.shape[-1]) < 50, 1e6, 1e-3), "magnitudes span"),
    ],
)
def test_the_guard_refuses_data_fft_would_get_wrong(make, reason):
    rng = np.random.default_rng(4)
    a = make(rng.integers(1, 9, (1, 1, 100, 100)).astype(np.float64))
    k = rng.integers(1, 9, (1, 1, 31, 31)).astype(a.dtype if a.dtype.kind == "i" else np.float64)
    spec = conv_spec(a.shape, k.shape)
    assert reason in fft_guard(a, k, spec)


def test_nan_stays_local_even_when_fft_is_planned_or_requested():
    a = np.ones((64, 64))
    a[3, 3] = np.nan
    k = np.ones((31, 31))
    assert ndconv.plan((1, 1, 64, 64), (1, 1, 31, 31), "float64").algorithm == "fft"
    spec = conv_spec((1, 1, 64, 64), (1, 1, 31, 31))
    assert np.isnan(correlate_fft(a[None, None], k[None, None], spec)).all()  # why the check
    assert np.isnan(ndconv.correlate(a, k)).sum() == 4 * 4  # only the windows covering it
    assert np.isnan(ndconv.correlate(a, k, algorithm="fft")).sum() == 4 * 4


def test_large_dynamic_range_keeps_each_output_accurate_under_auto():
    # RELIABILITY.md: half of x times 1e6, half times 1e-3; the small half must stay accurate.
    rng = np.random.default_rng(5)
    a = rng.standard_normal((128, 128)).astype(np.float32)
    a[:, :64] *= 1e6
    a[:, 64:] *= 1e-3
    k = rng.standard_normal((31, 31)).astype(np.float32)
    got = ndconv.correlate(a, k)
    exact = ndconv.correlate(a.astype(np.float64), k.astype(np.float64), algorithm="numpy")
    quiet = slice(64, None)
    scale = ndconv.correlate(np.abs(a[:, quiet]).astype(np.float64), np.abs(k).astype(np.float64))
    error = np.abs(got[:, 64:] - exact[:, 64:])
    assert (error <= 1e-5 * scale).all()


def test_transform_lengths_are_fast_and_cover_the_padded_input():
    spec = conv_spec((1, 1, 1009, 131), (1, 1, 7, 7), padding=3)
    lengths = transform_shape(spec, real=True)
    assert all(n >= p for n, p in zip(lengths, spec.padded_spatial))
    assert lengths == (1024, 144)  # 1015 and 137 rounded up to 2^a 3^b 5^c


# ---- overlap-save tiles ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_tiles_of_any_size_give_the_untiled_result(seed, monkeypatch):
    """Cut the output into uneven tiles (the last ones partly past the end) along every axis."""
    rng = np.random.default_rng(100 + seed)
    ndim = 1 + seed % 3
    kernel = tuple(int(v) for v in rng.integers(2, 6, ndim))
    size = tuple(int(v) for v in rng.integers(12, 30 if ndim < 3 else 16, ndim))
    dtype = np.complex128 if seed == 5 else np.float64
    spec = conv_spec((2, 4, *size), (6, 2, *kernel), stride=int(rng.integers(1, 3)),
                     dilation=int(rng.integers(1, 3)), groups=2, padding="same",
                     padding_mode=str(rng.choice(["zeros", "reflect", "circular"])),
                     dtype=np.dtype(dtype))
    x = rng.standard_normal(spec.input_shape).astype(dtype)
    w = rng.standard_normal(spec.weight_shape).astype(dtype)
    if dtype == np.complex128:
        x, w = x + 1j * rng.standard_normal(x.shape), w + 1j * rng.standard_normal(w.shape)
    tile = tuple(int(rng.integers(1, n + 1)) for n in spec.out_spatial)
    monkeypatch.setattr(fft, "tile_outputs", lambda spec: tile)
    reduction = 2 * int(np.prod(kernel))
    np.testing.assert_allclose(correlate_fft(x, w, spec), ALGORITHMS["numpy"].run(x, w, spec),
                               rtol=1e-10, atol=1e-12 * reduction, err_msg=f"tile {tile}")


def test_long_signals_are_tiled_and_exact():
    rng = np.random.default_rng(3)
    a, k = rng.standard_normal(200_000), rng.standard_normal(101)
    spec = conv_spec((1, 1, *a.shape), (1, 1, *k.shape))
    assert fft.tile_outputs(spec)[0] < spec.out_spatial[0]
    np.testing.assert_allclose(ndconv.correlate(a, k, algorithm="fft"),
                               ndconv.correlate(a, k, algorithm="direct"), rtol=1e-9, atol=1e-10)


def test_tiles_go_through_in_slices_that_fit_the_workspace_limit():
    import tracemalloc

    rng = np.random.default_rng(4)
    a, k = rng.standard_normal((2, 3, 300_000)), rng.standard_normal((4, 3, 65))
    spec = conv_spec(a.shape, k.shape, padding="same")
    whole = correlate_fft(a, k, spec)  # with the default (large) limit
    previous = ndconv.get_workspace_limit()
    ndconv.set_workspace_limit(2**20)
    try:
        assert fft.fft_workspace(spec) < 4 * 2**20 + 2 * a.nbytes
        tracemalloc.start()
        sliced = correlate_fft(a, k, spec)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        ndconv.set_workspace_limit(previous)
    np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)
    # The output, the padded input and a few MiB of tiles: never all tiles' spectra at once.
    assert peak < sliced.nbytes + 2 * a.nbytes + 8 * 2**20
