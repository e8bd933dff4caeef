"""The algorithm table (ndconv.algorithms): contract, lookup errors, agreement with reference."""

import numpy as np
import pytest

from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS, get_algorithm

# A fixed menu of kernel shapes keeps the number of compiled direct kernels (seconds each) small.
KERNELS = {1: [(1,), (2,), (3,)], 2: [(1, 1), (2, 3), (3, 3)], 3: [(1, 2, 3), (2, 2, 2)],
           4: [(1, 1, 2, 2)]}


def draw_spec_and_arrays(rng, ndim):
    groups = int(rng.integers(1, 3))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kernel = KERNELS[ndim][int(rng.integers(len(KERNELS[ndim])))]
    stride = tuple(int(v) for v in rng.integers(1, 3, ndim))
    dilation = tuple(int(v) for v in rng.integers(1, 3, ndim))
    size = tuple(d * (k - 1) + 1 + int(rng.integers(0, 4)) for k, d in zip(kernel, dilation))
    mode = str(rng.choice(["zeros", "reflect", "replicate", "circular"]))
    padding = tuple(int(rng.integers(0, min(3, n))) for n in size)
    spec = conv_spec((2, cin, *size), (cout, cin // groups, *kernel), stride=stride,
                     dilation=dilation, groups=groups, padding=padding, padding_mode=mode)
    x = rng.standard_normal(spec.input_shape)
    w = rng.standard_normal(spec.weight_shape)
    return spec, x, w


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("seed", range(25))
def test_every_algorithm_agrees_with_the_reference(name, seed):
    rng = np.random.default_rng(seed)
    spec, x, w = draw_spec_and_arrays(rng, ndim=1 + seed % 4)
    if not ALGORITHMS[name].supports(spec):  # winograd: 2-D 3x3 stride 1 (tests/test_winograd.py)
        pytest.skip(f"{name} does not support this spec")
    expected = ALGORITHMS["reference"].run(x, w, spec)
    got = ALGORITHMS[name].run(x, w, spec)
    assert got.shape == (spec.batch, spec.out_channels, *spec.out_spatial)
    reduction = spec.in_channels // spec.groups * int(np.prod(spec.kernel))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13 * reduction)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_kernel_larger_than_output_takes_the_other_loop(name):
    # A 9x9 kernel on a 10x10 input leaves a 2x2 output: the vectorised path loops over positions.
    rng = np.random.default_rng(7)
    spec = conv_spec((1, 2, 10, 10), (3, 2, 9, 9))
    if not ALGORITHMS[name].supports(spec):
        pytest.skip(f"{name} does not support this spec")
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    np.testing.assert_allclose(ALGORITHMS[name].run(x, w, spec),
                               ALGORITHMS["reference"].run(x, w, spec), rtol=1e-12,
                               atol=1e-13 * 2 * 9 * 9)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_algorithms_keep_float32(name):
    spec = small_supported_spec(ALGORITHMS[name])
    out = ALGORITHMS[name].run(np.ones(spec.input_shape, np.float32),
                               np.ones(spec.weight_shape, np.float32), spec)
    assert out.dtype == np.float32


def small_supported_spec(algorithm):
    """A tiny 1-D spec, or 2-D 3x3 for algorithms limited to those (winograd)."""
    for spec in (conv_spec((1, 1, 5), (1, 1, 3)), conv_spec((1, 1, 5, 5), (1, 1, 3, 3))):
        if algorithm.supports(spec):
            return spec
    raise AssertionError(f"{algorithm.name} supports neither tiny spec")


def test_every_algorithm_declares_support_and_a_summary():
    for name, algorithm in ALGORITHMS.items():
        assert algorithm.name == name
        assert small_supported_spec(algorithm)
        assert algorithm.summary


def test_unknown_algorithm_lists_the_valid_names():
    names = "'auto', 'direct', 'fft', 'gemm', 'numpy', 'reference', 'small', 'winograd'"
    with pytest.raises(ValueError, match=rf"expected one of {names}"):
        get_algorithm("cudnn")


def test_auto_is_not_a_table_entry():
    with pytest.raises(ValueError, match=r"resolved by ndconv\.planner"):
        get_algorithm("auto")
