"""Concurrent calls from Python threads give the results of serial calls.

Several threads share one weight array and call every entry point with every
algorithm on several shapes at once. The plan and spec caches and the compiled-kernel tables
start empty, so the first calls plan, load or compile kernels and fill the caches at the same
time; a subprocess repeats that with an empty on-disk kernel cache, so kernels are really
compiled concurrently. Results must match serial calls made afterwards (to rounding: "auto"
may choose another algorithm once kernels are ready, and BLAS may block sums differently).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ndconv
from ndconv import planner
from ndconv._shapes import _memoized
from ndconv.algorithms import ALGORITHMS, direct, fft, small

THREADS = 8


def _shared(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# Arrays shared by every thread (checked unchanged afterwards). Kernel shapes are ones the
# suite compiles for "direct" anyway. Not read-only: numba compiles a second specialisation
# of every kernel for read-only arrays, seconds each.
X2, W2 = _shared((2, 4, 20, 20), 0), _shared((6, 2, 3, 3), 1)
X1, W1 = _shared((1, 2, 600), 2), _shared((3, 2, 67), 3)
DY2 = _shared((2, 6, 10, 10), 4)
SHARED = (X2, W2, X1, W1, DY2)


def _calls():
    calls = []
    for name in ["auto", *sorted(set(ALGORITHMS) - {"winograd"})]:
        calls += [
            (f"conv2d-{name}", lambda a=name: ndconv.conv(
                X2, W2, padding=1, stride=2, groups=2, algorithm=a)),
            (f"conv1d-{name}", lambda a=name: ndconv.conv(X1, W1, padding="same", algorithm=a)),
            (f"transpose-{name}", lambda a=name: ndconv.conv_transpose(
                DY2, W2, stride=2, padding=1, output_padding=1, groups=2, algorithm=a)),
        ]
        if name != "direct":  # direct's weight gradient compiles a kernel per output shape
            calls.append((f"grad-{name}", lambda a=name: ndconv.conv_grad(
                DY2, X2, W2, padding=1, stride=2, groups=2, algorithm=a)))
    calls.append(("correlate", lambda: ndconv.correlate(X2[0, 0], W2[0, 0], "full")))
    # Winograd computes 3x3 stride-1 convolutions only.
    calls += [
        ("conv2d-s1-winograd", lambda: ndconv.conv(X2, W2, padding=1, groups=2,
                                                   algorithm="winograd")),
        ("transpose-s1-winograd", lambda: ndconv.conv_transpose(DY2, W2, padding=1, groups=2,
                                                                algorithm="winograd")),
    ]
    return calls


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.fixture
def empty_caches(monkeypatch):
    """Plans, specs and compiled-kernel tables as in a fresh process (restored afterwards)."""
    monkeypatch.setattr(planner, "_PLANS", {})
    monkeypatch.setattr(direct, "_COMPILED", {})
    monkeypatch.setattr(direct, "_READY", set())
    monkeypatch.setattr(small, "_KERNEL", [])
    monkeypatch.setattr(small, "_READY", set())
    for cached in (_memoized, planner._nothing_to_sum, fft.tile_outputs):
        cached.cache_clear()


def test_concurrent_first_calls_equal_serial_calls(empty_caches):
    calls = _calls()
    before = [a.copy() for a in SHARED]
    with ThreadPoolExecutor(THREADS) as pool:
        # Every call four times, interleaved, so the same first call races with itself.
        futures = [(label, pool.submit(call)) for _ in range(4) for label, call in calls]
        concurrent = [(label, future.result()) for label, future in futures]
    serial = {label: call() for label, call in calls}
    for label, result in concurrent:
        for got, want in zip(_as_tuple(result), _as_tuple(serial[label])):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=label)
    for array, copy in zip(SHARED, before):
        np.testing.assert_array_equal(array, copy)


def test_a_thread_count_change_meanwhile_changes_no_result():
    previous = ndconv.get_num_threads()
    expected = ndconv.conv(X2, W2, padding=1, groups=2, algorithm="direct")

    def call(i):
        if i % 5 == 0:
            ndconv.set_num_threads(1 if i % 2 else previous)
        return ndconv.conv(X2, W2, padding=1, groups=2, algorithm="direct")

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(call, range(40)))
    finally:
        ndconv.set_num_threads(previous)
    for result in results:
        np.testing.assert_array_equal(result, expected)


CHILD = textwrap.dedent("""
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import ndconv
    from ndconv.algorithms import ALGORITHMS

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 3, 40, 40)), rng.standard_normal((4, 3, 2, 3))
    names = [n for n in ("direct", "small", "gemm", "auto") if n in ALGORITHMS]
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(ndconv.conv, x, w, padding=1, algorithm=n)
                   for _ in range(4) for n in names]
        results = [f.result() for f in futures]
    want = ndconv.conv(x, w, padding=1, algorithm="reference")
    for result in results:
        np.testing.assert_allclose(result, want, rtol=1e-12, atol=1e-12)
    print("ok", len(results))
""")


def test_kernels_compiled_concurrently_in_a_fresh_process(tmp_path):
    # An empty kernel cache: the first calls of every thread compile, write and load the
    # same kernel modules at once.
    env = {**os.environ, "NDCONV_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
