"""Compiling generated numba source, with the machine code kept on disk.

The compiled algorithms write their kernels as Python source: the direct
kernels because unrolling needs the kernel shape at compile time, the small
kernel so that it shares this one cache. When the cache directory
(:mod:`ndconv._cache`) is writable, the source goes into a module file named
by its hash and is imported from there with ``cache=True``, so numba keeps the
machine code beside it and a later process only loads it. Without a cache
directory the source is compiled in memory.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from collections.abc import Callable

from .._cache import cache_dir, write_atomically

# The tag changes whenever the way kernels are named or loaded changes, so a new
# layout never meets numba cache entries pickled under an old one.
_CACHE_FORMAT = "cache format 1: module ndconv_kernel_<sha256 of this file>"
_DIRECTORY = "direct"


def _options(parallel: bool) -> str:
    # A serial kernel releases the GIL, so Python threads can run it side by side.
    return "parallel=True" if parallel else "nogil=True"


def _module_source(source: str, parallel: bool) -> str:
    return (
        f"# ndconv compiled kernel, {_CACHE_FORMAT}\n"
        "import numpy as np\nfrom numba import njit, prange\n\n\n"
        f"@njit({_options(parallel)}, cache=True)\n{source}"
    )


@functools.lru_cache(maxsize=1024)
def _module_name(source: str, parallel: bool) -> str:
    digest = hashlib.sha256(_module_source(source, parallel).encode()).hexdigest()[:20]
    return f"kernel_{digest}"


def is_cached(source: str, parallel: bool) -> bool:
    """Whether an earlier process left this kernel's module (and machine code) on disk."""
    directory = cache_dir(_DIRECTORY)
    return directory is not None and (directory / f"{_module_name(source, parallel)}.py").exists()


def compile_source(
    source: str, parallel: bool, function: str = "correlate"
) -> Callable[..., None]:
    """The numba dispatcher of ``function``, the one function ``source`` defines.

    Compilation itself happens on the first call, for the argument types of
    that call (or is loaded from disk).
    """
    import numpy as np
    from numba import njit, prange

    directory = cache_dir(_DIRECTORY)
    if directory is None:
        namespace: dict[str, object] = {"np": np, "prange": prange}
        exec(compile(source, "<ndconv kernel>", "exec"), namespace)
        options = {"parallel": True} if parallel else {"nogil": True}
        return njit(**options)(namespace[function])  # type: ignore[no-any-return]
    stem = _module_name(source, parallel)
    path = directory / f"{stem}.py"
    if not path.exists():
        write_atomically(path, _module_source(source, parallel))
    name = f"ndconv_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    # numba's cache loader finds the function's module by name.
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return getattr(module, function)  # type: ignore[no-any-return]
