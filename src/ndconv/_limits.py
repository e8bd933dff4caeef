"""How much scratch memory one convolution may allocate beyond its output.

One process-wide setting, like the thread count in ``_threads``: algorithms
that need a buffer (the column matrix of GEMM, FFT spectra, a padded copy)
either tile their work so the buffer stays under it or are not chosen. It
bounds scratch space, not the output, whose size the caller decides.

The default is a quarter of the machine's physical memory, at most 1 GiB,
so a laptop and a 2-core CI runner both keep room for the arrays themselves.
The planner enforces it (:func:`ndconv.planner.plan_spec`): ``"auto"`` leaves
out algorithms that need more, and a request that cannot fit raises
``MemoryError`` before anything is allocated. The output is bounded by the
machine instead: :func:`check_result_fits` refuses a result larger than
physical memory, also before any work.

>>> previous = get_workspace_limit()
>>> set_workspace_limit(64 * 2**20)
>>> get_workspace_limit()
67108864
>>> set_workspace_limit(previous)
"""

from __future__ import annotations

import functools
import math
import os
import threading

import numpy as np

from ._shapes import check_int

_LOCK = threading.Lock()

#: The smallest limit accepted: below this no algorithm can tile usefully.
MINIMUM_WORKSPACE_BYTES = 1 << 20


@functools.lru_cache(maxsize=1)
def physical_memory() -> int:
    """Bytes of physical memory on this machine (4 GiB where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a small machine
        return 4 << 30


def format_bytes(count: int) -> str:
    """``count`` bytes for people, in powers of 1024.

    >>> format_bytes(3 * 2**30 // 2), format_bytes(512), format_bytes(2**70)
    ('1.5 GiB', '512 B', '1024.0 EiB')
    """
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} EiB"


def check_result_fits(shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Raise ``MemoryError`` naming the shape and bytes if a result cannot fit in memory.

    Nothing is allocated: this runs on shapes, before any work, so a typo in a
    padding or a stride that would ask for terabytes fails at once.

    >>> check_result_fits((1, 1, 2**40, 2**40), np.dtype(np.float32))
    Traceback (most recent call last):
    MemoryError: the result would have shape (1, 1, 1099511627776, 1099511627776) and dtype ...
    """
    needed = math.prod(shape) * dtype.itemsize
    if needed > physical_memory():
        raise MemoryError(
            f"the result would have shape {shape} and dtype {dtype}: {needed} bytes "
            f"({format_bytes(needed)}), more than this machine's physical memory "
            f"({format_bytes(physical_memory())}); check the shapes and the padding, or "
            f"compute it in chunks with ndconv.dask"
        )


_setting = {"bytes": max(MINIMUM_WORKSPACE_BYTES, min(1 << 30, physical_memory() // 4))}


def get_workspace_limit() -> int:
    """Bytes of scratch memory one convolution may allocate beyond its output."""
    return _setting["bytes"]


def set_workspace_limit(limit: int) -> None:
    """Let each convolution allocate at most ``limit`` bytes of scratch memory from now on.

    Algorithms that can tile (GEMM's column buffer) work in pieces that fit;
    the others are left out by ``algorithm="auto"`` when they would need more,
    and requesting one by name then raises ``MemoryError`` naming the bytes
    it needs.

    Parameters
    ----------
    limit : int
        Bytes, at least 1 MiB.

    Raises
    ------
    TypeError, ValueError
        For a non-integer or a limit below 1 MiB.

    Examples
    --------
    >>> import ndconv
    >>> previous = ndconv.get_workspace_limit()
    >>> ndconv.set_workspace_limit(256 * 2**20)
    >>> ndconv.get_workspace_limit()
    268435456
    >>> ndconv.set_workspace_limit(previous)
    """
    value = check_int(limit, "limit", minimum=MINIMUM_WORKSPACE_BYTES)
    with _LOCK:
        _setting["bytes"] = value
