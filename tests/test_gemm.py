"""The im2col + BLAS algorithm (ndconv.algorithms.gemm): layouts, tiling, the workspace bound."""

import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ndconv
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS, gemm
from ndconv.algorithms.gemm import correlate_gemm, gemm_workspace, is_pointwise, tiling
from ndconv.algorithms.reference import correlate_reference

MODES = ("zeros", "reflect", "replicate", "circular")
TOLERANCES = {np.float32: (1e-5, 1e-6), np.float64: (1e-11, 1e-13)}


def draw(seed):
    """A random convolution: rank 1-3, stride, dilation, groups, any mode, batch 1 or more."""
    rng = np.random.default_rng(seed)
    ndim = 1 + seed % 3
    groups = int(rng.integers(1, 4))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 4))
    kernel = tuple(int(v) for v in rng.integers(1, 5, ndim))
    stride = tuple(int(v) for v in rng.integers(1, 3, ndim))
    dilation = tuple(int(v) for v in rng.integers(1, 3, ndim))
    size = tuple(d * (k - 1) + 1 + int(rng.integers(0, 7)) for k, d in zip(kernel, dilation))
    mode = MODES[seed % 4]
    padding = tuple((int(rng.integers(0, min(3, n))), int(rng.integers(0, min(3, n))))
                    for n in size)
    dtype = np.float32 if seed % 5 < 2 else np.float64
    batch = 1 if seed % 3 == 0 else int(rng.integers(2, 4))
    spec = conv_spec((batch, cin, *size), (cout, cin // groups, *kernel), stride=stride,
                     dilation=dilation, groups=groups, padding=padding, padding_mode=mode,
                     dtype=np.dtype(dtype))
    x = rng.standard_normal(spec.input_shape).astype(dtype)
    w = rng.standard_normal(spec.weight_shape).astype(dtype)
    return spec, x, w


def assert_matches_reference(got, x, w, spec):
    rtol, atol = TOLERANCES[spec.dtype.type]
    reduction = spec.in_channels // spec.groups * int(np.prod(spec.kernel))
    expected = correlate_reference(x.astype(np.float64), w.astype(np.float64), spec)
    assert got.dtype == spec.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol * reduction)


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of a few hundred bytes shared by two threads: every loop of the tiling runs."""
    monkeypatch.setattr(gemm, "TILE_BYTES", 320)
    monkeypatch.setattr(gemm, "PARALLEL_MULTIPLY_ADDS", 0)
    previous = ndconv.get_num_threads()
    ndconv.set_num_threads(2)
    gemm._tiling.cache_clear()
    yield
    ndconv.set_num_threads(previous)
    gemm._tiling.cache_clear()


@pytest.mark.parametrize("seed", range(60))
def test_random_configurations_match_the_reference(seed):
    spec, x, w = draw(seed)
    assert_matches_reference(correlate_gemm(x, w, spec), x, w, spec)


@pytest.mark.parametrize("seed", range(60, 90))
def test_tiny_tiles_match_the_reference(seed, small_tiles):
    spec, x, w = draw(seed)
    assert tiling(spec).workers == 2 or len(tiling(spec).tiles(spec)) == 1
    assert_matches_reference(correlate_gemm(x, w, spec), x, w, spec)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "by_rows", "direct"),
    [
        # Forward layers: reduction along columns; wide outputs written straight into out.
        ((2, 4, 20, 20), (6, 4, 3, 3), {"padding": 1}, False, True),
        ((3, 4, 9, 9), (6, 2, 3, 3), {"padding": 1, "groups": 2}, False, False),
        # Kernel larger than the output (the weight gradient's shape): reduction along rows.
        ((2, 3, 12, 12), (5, 3, 10, 9), {"dilation": (1, 2), "padding": (1, 7)}, True, False),
        ((2, 4, 30), (4, 1, 25), {"groups": 4, "stride": 2}, True, False),
    ],
)
def test_each_layout_matches_the_reference(x_shape, w_shape, kwargs, by_rows, direct):
    rng = np.random.default_rng(len(x_shape))
    spec = conv_spec(x_shape, w_shape, **kwargs)
    t = tiling(spec)
    assert (t.by_rows, t.direct) == (by_rows, direct)
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    assert_matches_reference(correlate_gemm(x, w, spec), x, w, spec)


@pytest.mark.parametrize("groups", [1, 3])
def test_pointwise_kernels_are_one_product_over_channels(groups):
    rng = np.random.default_rng(groups)
    spec = conv_spec((2, 6, 7, 5), (9, 6 // groups, 1, 1), groups=groups)
    assert is_pointwise(spec) and gemm_workspace(spec) == 0
    assert not is_pointwise(conv_spec((2, 6, 7, 5), (9, 6, 1, 1), stride=2))
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    assert_matches_reference(correlate_gemm(x, w, spec), x, w, spec)
    # A non-contiguous input is fine too.
    xt = np.asfortranarray(x)
    assert_matches_reference(correlate_gemm(xt, w, spec), xt, w, spec)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_dtypes(dtype):
    rng = np.random.default_rng(1)
    spec = conv_spec((2, 2, 9, 8), (3, 2, 3, 2), padding=1, dtype=np.dtype(dtype))
    x = (rng.standard_normal(spec.input_shape) + 1j * rng.standard_normal(spec.input_shape))
    w = (rng.standard_normal(spec.weight_shape) + 1j * rng.standard_normal(spec.weight_shape))
    got = correlate_gemm(x.astype(dtype), w.astype(dtype), spec)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, correlate_reference(x, w, spec), rtol=1e-5, atol=1e-5)


def test_longdouble_is_not_supported():
    assert not gemm.supports_gemm(conv_spec((1, 1, 8), (1, 1, 3), dtype=np.dtype(np.longdouble)))


def test_out_is_written_in_place():
    rng = np.random.default_rng(3)
    for spec in (conv_spec((2, 4, 16, 16), (8, 4, 3, 3), padding=1),  # direct products
                 conv_spec((2, 4, 8, 8), (8, 4, 5, 5)),  # batched product, then copied
                 conv_spec((2, 4, 16, 16), (8, 4, 1, 1))):  # pointwise
        x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
        out = np.full(spec.output_shape, np.nan)
        assert correlate_gemm(x, w, spec, out=out) is out
        assert_matches_reference(out, x, w, spec)


@pytest.fixture
def one_mebibyte():
    previous = ndconv.get_workspace_limit()
    ndconv.set_workspace_limit(1 << 20)
    yield 1 << 20
    ndconv.set_workspace_limit(previous)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "padding", "split"),
    [
        # Forward: the full column matrix is 4 * 32*25 * 64*64 * 8 bytes = 105 MB.
        ((4, 32, 64, 64), (16, 32, 5, 5), 2, False),
        # Kernel larger than the output: one position's reduction alone (64 * 45*45 * 8 bytes
        # = 1.04 MB) exceeds the limit, so the reduction is split and the products summed.
        ((1, 64, 48, 48), (4, 64, 45, 45), 0, True),
    ],
)
def test_the_workspace_never_exceeds_the_limit(x_shape, w_shape, padding, split, one_mebibyte):
    rng = np.random.default_rng(5)
    spec = conv_spec(x_shape, w_shape, padding=padding)
    full_columns = (spec.batch * spec.in_channels * np.prod(spec.kernel)
                    * np.prod(spec.out_spatial) * 8)
    assert full_columns > 10 * one_mebibyte
    assert (tiling(spec).reduction < spec.in_channels * np.prod(spec.kernel)) == split
    assert gemm_workspace(spec) <= one_mebibyte
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    out = np.empty(spec.output_shape)
    small = conv_spec((1, 1, *x_shape[2:]), (1, 1, *w_shape[2:]), padding=padding)
    correlate_gemm(x[:1, :1], w[:1, :1], small)  # compile outside the trace
    tracemalloc.start()
    try:
        correlate_gemm(x, w, spec, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= one_mebibyte + 64 * 1024  # the buffers, plus a few small index arrays
    expected = ALGORITHMS["numpy"].run(x, w, spec)  # the oracle, outside the limit's check
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_compiling_is_charged_until_the_gather_has_run(monkeypatch, tmp_path):
    monkeypatch.setenv("NDCONV_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(gemm, "_READY", set())
    spec = conv_spec((1, 2, 9, 9), (2, 2, 3, 3), dtype=np.dtype(np.float32))
    assert gemm.gemm_setup(spec) > 0
    correlate_gemm(np.ones(spec.input_shape, np.float32), np.ones(spec.weight_shape, np.float32),
                   spec)
    assert gemm.gemm_setup(spec) == 0
    assert gemm.gemm_setup(conv_spec((1, 2, 9, 9), (2, 2, 1, 1))) == 0  # nothing to compile


@pytest.mark.parametrize("seed", range(8))
def test_conv_grad_matches_torch_autograd(seed):
    rng = np.random.default_rng(seed)
    ndim = 1 + seed % 3
    groups = 1 + seed % 2
    stride, dilation = 1 + seed % 2, 1 + (seed // 2) % 2
    kernel = (3, 2, 3)[:ndim]
    mode = MODES[seed % 4]
    size = (9, 8, 7)[:ndim]
    x = rng.standard_normal((3, 2 * groups, *size))
    w = rng.standard_normal((4, 2, *kernel))
    params = {"stride": stride, "dilation": dilation, "groups": groups, "padding": 1}
    y = ndconv.conv(x, w, **params, padding_mode=mode, algorithm="gemm")
    dy = rng.standard_normal(y.shape)
    dx, dw, db = ndconv.conv_grad(dy, x, w, **params, padding_mode=mode, algorithm="gemm")

    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch_mode = {"zeros": "constant"}.get(mode, mode)
    padded = F.pad(tx, (1, 1) * ndim, mode=torch_mode)
    conv = (F.conv1d, F.conv2d, F.conv3d)[ndim - 1]
    ty = conv(padded, tw, stride=stride, dilation=dilation, groups=groups)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(db, dy.sum(axis=(0, *range(2, dy.ndim))), rtol=1e-12)


def test_the_weight_gradient_is_gathered_by_rows():
    # conv_grad's dw is a forward convolution whose kernel is dy: many taps, few positions.
    spec = conv_spec((16, 64, 56, 56), (64, 64, 3, 3), padding=1, dtype=np.dtype(np.float32))
    derived = conv_spec((64, 16, 58, 58), (64, 16, 56, 56), dtype=np.dtype(np.float32))
    assert not tiling(spec).by_rows and tiling(derived).by_rows


def test_concurrent_calls_agree_and_give_back_the_blas_setting(small_tiles):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    problems = [draw(seed) for seed in range(90, 98)]
    expected = [correlate_reference(x, w, spec) for spec, x, w in problems]

    def run(index):
        spec, x, w = problems[index]
        return [correlate_gemm(x, w, spec) for _ in range(5)]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(len(problems))))
    for (spec, _, _), got, want in zip(problems, results, expected):
        rtol, atol = TOLERANCES[spec.dtype.type]
        for each in got:
            np.testing.assert_allclose(each, want, rtol=rtol, atol=atol * 100)
    assert blas_threads() == before
