"""How much scratch memory one convolution may allocate beyond its output.

One process-wide setting, like the thread count in ``_threads``: algorithms
that need a buffer (the column matrix of GEMM, FFT spectra, a padded copy)
either tile their work so the buffer stays under it or are not chosen. It
bounds scratch space, not the output, whose size the caller decides.

The default is a quarter of the machine's physical memory, at most 1 GiB,
so a laptop and a 2-core CI runner both keep room for the arrays themselves.

>>> previous = get_workspace_limit()
>>> set_workspace_limit(64 * 2**20)
>>> get_workspace_limit()
67108864
>>> set_workspace_limit(previous)
"""

from __future__ import annotations

import os
import threading

from ._shapes import check_int

_LOCK = threading.Lock()

#: The smallest limit accepted: below this no algorithm can tile usefully.
MINIMUM_WORKSPACE_BYTES = 1 << 20


def _default_limit() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a small machine
        physical = 4 << 30
    return max(MINIMUM_WORKSPACE_BYTES, min(1 << 30, physical // 4))


_setting = {"bytes": _default_limit()}


def get_workspace_limit() -> int:
    """Bytes of scratch memory one convolution may allocate beyond its output."""
    return _setting["bytes"]


def set_workspace_limit(limit: int) -> None:
    """Let each convolution allocate at most ``limit`` bytes of scratch memory from now on.

    Algorithms that can tile (GEMM's column buffer) work in pieces that fit;
    the others are left out by ``algorithm="auto"`` when they would need more.

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
