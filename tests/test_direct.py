"""The compiled direct algorithm (ndconv.algorithms.direct): every code path of the generator."""

import numpy as np
import pytest

from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS
from ndconv.algorithms.direct import (
    UNROLL_TAPS,
    compiled_kernel,
    correlate_direct,
    kernel_source,
    supports_direct,
    unrolled_axes,
)

# Kernel shapes that reach each branch: all taps unrolled, leading axes looped, nothing unrolled.
BRANCHES = {
    "all unrolled": (3, 3),
    "leading axis looped": (3, 5, 5),
    "nothing unrolled": (UNROLL_TAPS + 3,),
}


@pytest.mark.parametrize("kernel", list(BRANCHES.values()), ids=list(BRANCHES))
@pytest.mark.parametrize("stride", [1, 2])
def test_each_generator_branch_matches_the_reference(kernel, stride):
    rng = np.random.default_rng(len(kernel) * 10 + stride)
    ndim = len(kernel)
    size = tuple(2 * k + 3 for k in kernel)
    spec = conv_spec((2, 4, *size), (6, 2, *kernel), stride=stride, dilation=(2,) * ndim,
                     groups=2, padding=1, padding_mode="reflect")
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    reduction = 2 * int(np.prod(kernel))
    np.testing.assert_allclose(correlate_direct(x, w, spec),
                               ALGORITHMS["numpy"].run(x, w, spec), rtol=1e-11,
                               atol=1e-13 * reduction)


def test_long_rows_are_split_into_blocks():
    # One channel, one row of 10 000 outputs: several parallel blocks must tile the row exactly.
    rng = np.random.default_rng(0)
    spec = conv_spec((1, 1, 10_002), (1, 1, 3))
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    np.testing.assert_allclose(correlate_direct(x, w, spec), ALGORITHMS["numpy"].run(x, w, spec),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_dtypes_are_kept(dtype):
    spec = conv_spec((1, 1, 6), (1, 1, 3), dtype=np.dtype(dtype))
    x = np.arange(6).astype(dtype).reshape(1, 1, 6)
    if np.iscomplexobj(x):
        x = x * (1 + 2j)
    w = np.array([[[1, 0, -1]]], dtype=dtype)
    out = correlate_direct(x, w, spec)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ALGORITHMS["reference"].run(x, w, spec))


def test_longdouble_is_not_supported():
    assert not supports_direct(conv_spec((1, 1, 6), (1, 1, 3), dtype=np.dtype(np.longdouble)))
    assert supports_direct(conv_spec((1, 1, 6), (1, 1, 3), dtype=np.dtype(np.float32)))


def test_unrolled_taps_stay_within_budget():
    for kernel in [(3, 3), (7, 7), (8, 8), (9, 9), (4, 4, 4), (2, 70), (200,)]:
        count = unrolled_axes(kernel)
        assert int(np.prod(kernel[len(kernel) - count:])) <= UNROLL_TAPS


def test_generated_source_reads_each_tap_from_its_own_row_view():
    source = kernel_source((3, 3), unit_stride=True)
    assert source.count("x8 = row2[") == 1 and "x9" not in source
    assert "inner[j] = w0 * x0[j] +" in source


def test_compiled_kernels_are_reused():
    assert compiled_kernel((2, 2), True) is compiled_kernel((2, 2), True)


def test_kernels_compile_without_a_writable_cache(tmp_path, monkeypatch):
    # A directory below a regular file cannot be created, even by root.
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NDCONV_CACHE_DIR", str(blocker / "cache"))
    from ndconv._cache import cache_dir
    from ndconv.algorithms import direct

    assert cache_dir("direct") is None
    monkeypatch.setattr(direct, "_COMPILED", {})
    spec = conv_spec((1, 1, 5), (1, 1, 2))
    out = correlate_direct(np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 2)), spec)
    np.testing.assert_array_equal(out, [[[1.0, 3.0, 5.0, 7.0]]])


def test_concurrent_calls_from_threads_equal_serial_calls():
    # Shared weights, several Python threads at once: no abort, the same numbers.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    spec = conv_spec((2, 2, 64, 64), (3, 2, 3, 3), padding=1)
    w = rng.standard_normal(spec.weight_shape)
    inputs = [rng.standard_normal(spec.input_shape) for _ in range(8)]
    serial = [correlate_direct(x, w, spec) for x in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda x: correlate_direct(x, w, spec), inputs))
    for got, want in zip(threaded, serial):
        np.testing.assert_array_equal(got, want)


def test_threads_do_not_abort_under_numbas_workqueue_layer():
    # The fallback layer aborts the whole process on concurrent parallel launches unless
    # ndconv serialises them; run it in a child process so an abort fails only this test.
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np
        from concurrent.futures import ThreadPoolExecutor
        from ndconv._shapes import conv_spec
        from ndconv.algorithms.direct import correlate_direct
        spec = conv_spec((2, 2, 128, 128), (3, 2, 3, 3), padding=1)
        w = np.ones(spec.weight_shape)
        inputs = [np.full(spec.input_shape, float(i)) for i in range(16)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            outs = list(pool.map(lambda x: correlate_direct(x, w, spec), inputs))
        assert all(o[0, 0, 5, 5] == 18 * i for i, o in enumerate(outs))
        import numba
        print(numba.threading_layer())
    """)
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "workqueue"


@pytest.mark.parametrize("kernel", list(BRANCHES.values()), ids=list(BRANCHES))
@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 3)])
def test_zero_padding_inside_the_kernel_matches_the_reference(kernel, stride, dilation):
    # Uneven padding, wider than the kernel on some sides, so whole rows and row
    # borders fall in the padding and the interior of a row can be empty.
    rng = np.random.default_rng(sum(kernel) + stride)
    ndim = len(kernel)
    size = tuple(k * dilation for k in kernel)
    pads = [(k + 1, 1) if a % 2 == 0 else (0, k + 2) for a, k in enumerate(kernel)]
    spec = conv_spec((2, 2, *size), (3, 2, *kernel), stride=stride, dilation=dilation,
                     padding=pads[:ndim])
    x, w = rng.standard_normal(spec.input_shape), rng.standard_normal(spec.weight_shape)
    np.testing.assert_allclose(correlate_direct(x, w, spec),
                               ALGORITHMS["numpy"].run(x, w, spec), rtol=1e-11, atol=1e-11)
