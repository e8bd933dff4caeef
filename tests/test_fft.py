"""The FFT algorithm (ndconv.algorithms.fft): exactness against the reference, and its limits."""

import numpy as np
import pytest

import ndconv
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS
from ndconv.algorithms.fft import correlate_fft, transform_shape


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


def test_one_nan_spreads_everywhere_which_is_why_auto_never_picks_fft():
    a = np.ones((32, 32))
    a[3, 3] = np.nan
    k = np.ones((5, 5))
    assert np.isnan(ndconv.correlate(a, k, algorithm="fft")).all()
    assert np.isnan(ndconv.correlate(a, k)).sum() == 16  # only the windows covering it
    assert "fft" not in ndconv.plan((1, 1, 4096, 4096), (1, 1, 63, 63), "float64").estimates


def test_transform_lengths_are_fast_and_cover_the_padded_input():
    spec = conv_spec((1, 1, 1009, 131), (1, 1, 7, 7), padding=3)
    lengths = transform_shape(spec, real=True)
    assert all(n >= p for n, p in zip(lengths, spec.padded_spatial))
    assert lengths == (1024, 144)  # 1015 and 137 rounded up to 2^a 3^b 5^c
