"""Thread control (ndconv._threads)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import ndconv


@pytest.fixture
def restore_threads():
    previous = ndconv.get_num_threads()
    yield
    ndconv.set_num_threads(previous)


def test_results_do_not_depend_on_the_thread_count(restore_threads):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 40, 300)), rng.standard_normal((3, 2, 3, 3))
    ndconv.set_num_threads(1)
    one = [ndconv.conv(x, w, algorithm=a) for a in ("direct", "fft")]
    ndconv.set_num_threads(2)
    two = [ndconv.conv(x, w, algorithm=a) for a in ("direct", "fft")]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_the_kernels_run_with_the_setting(restore_threads):
    import numba

    ndconv.set_num_threads(1)
    ndconv.conv(np.ones((1, 1, 16, 16)), np.ones((1, 1, 3, 3)), algorithm="direct")
    assert numba.get_num_threads() == 1


@pytest.mark.parametrize(("value", "error", "pattern"), [
    (0, ValueError, "threads must be positive; got threads=0"),
    (2.0, TypeError, r"threads must be an int; got 2.0 \(float\)"),
    (10_000, ValueError, r"threads=10000 exceeds numba's pool of \d+ threads"),
])
def test_bad_thread_counts_are_rejected(value, error, pattern):
    with pytest.raises(error, match=pattern):
        ndconv.set_num_threads(value)


@pytest.mark.parametrize("variable", ["NUMBA_NUM_THREADS", "OMP_NUM_THREADS"])
def test_the_default_comes_from_the_environment(variable):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}
    env[variable] = "1"
    script = "import ndconv; print(ndconv.get_num_threads())"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "1"
