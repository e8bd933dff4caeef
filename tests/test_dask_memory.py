"""Out-of-core: filter_file filters an on-disk image several times larger than a memory cap.

A child process runs ``ndconv.dask.filter_file`` on a 610 MiB float32 ``.npy`` and
reports its own peak resident memory (the high-water mark of every page the process
touched, interpreter and libraries included), which must stay under a 200 MiB cap (about
150 MiB measured, of which ~55 MiB is Python, NumPy and dask). The child uses two dask
threads (memory grows with threads x chunk size, so the cap holds on machines with more
cores) and the "numpy" algorithm (the numba runtime alone takes ~100 MiB, which would
leave too little of the cap to show anything).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import ndconv

resource = pytest.importorskip("resource")  # POSIX only

CAP_MIB = 200  # MiB
ROWS, COLS = 8000, 20000  # float32: 610 MiB, three times the cap
BAND = 500

CHILD = """
import json, os, resource, sys
import dask, numpy as np
import ndconv.dask
kernel = np.array(json.loads(sys.argv[3]), np.float32)
with dask.config.set(num_workers=2):
    ndconv.dask.filter_file(sys.argv[1], sys.argv[2], kernel, padding="same",
                            algorithm="numpy", progress=False)
if os.path.exists("/proc/self/status"):
    # Linux: VmHWM is this program's own peak. ru_maxrss would not do: a child started
    # with vfork inherits the peak of the parent's memory at exec (here, pytest's).
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps(kib / 1024))
else:  # macOS: ru_maxrss, in bytes
    print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20))
"""


KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16


def rows(start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the input: cheap to make, different in every row."""
    index = np.arange(start, stop, dtype=np.float32)[:, None]
    return np.sin(index * 0.37 + np.arange(COLS, dtype=np.float32) * 0.011)


def test_peak_memory_stays_under_the_cap_for_an_image_three_times_larger(tmp_path):
    source, target = tmp_path / "big.npy", tmp_path / "out.npy"
    image = np.lib.format.open_memmap(source, mode="w+", dtype=np.float32, shape=(ROWS, COLS))
    for start in range(0, ROWS, BAND):
        image[start : start + BAND] = rows(start, start + BAND)
    image.flush()
    del image
    assert source.stat().st_size > 3 * CAP_MIB * 2**20

    result = subprocess.run([sys.executable, "-c", CHILD, str(source), str(target),
                             json.dumps(KERNEL.tolist())],
                            capture_output=True, text=True, check=True)
    peak_mib = json.loads(result.stdout.strip().splitlines()[-1])
    assert peak_mib < CAP_MIB, f"peak RSS {peak_mib:.0f} MiB exceeds the {CAP_MIB} MiB cap"

    # The result is right at both edges and across the seams between chunks: each band
    # is checked against the correlation of itself and one row of context on each side.
    out = np.load(target, mmap_mode="r")
    assert out.shape == (ROWS, COLS) and out.dtype == np.float32
    for start in (0, 3000, ROWS - BAND):
        lo, hi = max(start - 1, 0), min(start + BAND + 1, ROWS)
        want = ndconv.correlate(rows(lo, hi), KERNEL, "same")[start - lo : start - lo + BAND]
        np.testing.assert_allclose(out[start : start + BAND], want, rtol=1e-5, atol=1e-5)
