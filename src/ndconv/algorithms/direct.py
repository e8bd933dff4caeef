"""Direct convolution compiled with numba, one kernel generated per kernel shape.

The loop is the reference's, reordered for the hardware: each parallel task
owns one output row (all leading output indices fixed), and the innermost loop
runs along that row, so consecutive outputs use consecutive inputs and LLVM
vectorises it. The kernel taps of the trailing kernel axes are unrolled into
one expression with the weights held in registers, so every output element is
loaded and stored once per input channel instead of once per tap; this is what
makes a 3x3 filter run near memory speed. Taps beyond the unroll budget stay
runtime loops.

Kernels are generated as Python source (the unrolling needs the kernel shape
at compile time) and compiled on first use. Compiled kernels live in
:data:`_COMPILED`, keyed by what the source depends on; when the cache
directory (:mod:`ndconv._cache`) is writable the source is also written there,
so numba can cache the machine code across processes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import sys
import threading
from collections.abc import Callable

import numpy as np

from .._cache import cache_dir, write_atomically
from .._padding import pad
from .._shapes import ConvSpec
from .._threads import kernel_threads
from .costs import DEFAULT_MACHINE, MachineModel, direct_cost

#: Most taps unrolled into one expression; larger kernels loop over leading axes.
UNROLL_TAPS = 64
#: Output elements per parallel task along the last axis (long 1-D rows still split).
ROW_BLOCK = 4096
#: dtypes the compiled kernels accept (numba has no longdouble).
SUPPORTED_DTYPES = frozenset(
    np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128)
)

# The compiled-kernel cache: (kernel shape, unit last stride) -> numba dispatcher, and
# the (kernel shape, unit last stride, dtype) combinations that have run (so are compiled).
_COMPILED: dict[tuple[tuple[int, ...], bool], Callable[..., None]] = {}
_READY: set[tuple[tuple[int, ...], bool, str]] = set()
_COMPILE_LOCK = threading.Lock()
# numba's fallback "workqueue" threading layer aborts the process when two Python
# threads run parallel kernels at once (numba issues #8563, #9288); with OpenMP or
# TBB concurrent calls are safe. Calls are serialised unless a safe layer is known.
_RUN_LOCK = threading.Lock()
_SAFE_LAYERS = frozenset({"omp", "tbb"})
_CACHE_FORMAT = "cache format 1: module ndconv_kernel_<sha256 of this file>"


def unrolled_axes(kernel: tuple[int, ...]) -> int:
    """How many trailing kernel axes are unrolled within the tap budget.

    >>> unrolled_axes((3, 3)), unrolled_axes((3, 3, 3)), unrolled_axes((9, 9))
    (2, 3, 1)
    >>> unrolled_axes((4, 4, 4)), unrolled_axes((99,))
    (3, 0)
    """
    count, taps = 0, 1
    for size in reversed(kernel):
        if taps * size > UNROLL_TAPS:
            break
        taps *= size
        count += 1
    return count


@functools.lru_cache(maxsize=1024)
def kernel_source(kernel: tuple[int, ...], unit_stride: bool) -> str:
    """Python source of the compiled kernel for one kernel shape.

    The generated function ``correlate(xp, w, out, stride, dilation, groups, block)``
    writes the correlation of the padded input ``xp`` with ``w`` into ``out``;
    each parallel task computes ``block`` elements of one output row.
    """
    ndim = len(kernel)
    looped = ndim - unrolled_axes(kernel)  # leading kernel axes looped at runtime
    last = ndim - 1
    # Every tap reads its own row view, already offset and strided, so the
    # innermost loop indexes with plain ``j``: numba then needs no wraparound
    # check and LLVM vectorises. (``row[j + offset]`` with a runtime offset, or a
    # loop over ``range(start, stop)``, would not vectorise.)
    step = "" if unit_stride else ":s_last"
    lines = [
        "def correlate(xp, w, out, stride, dilation, groups, block):",
        "    batch = out.shape[0]",
        "    channels_out = out.shape[1]",
        *(f"    o{a} = out.shape[{a + 2}]" for a in range(ndim)),
        *(f"    s{a} = stride[{a}]" for a in range(ndim)),
        *(f"    d{a} = dilation[{a}]" for a in range(ndim)),
        "    s_last = stride[-1]",
        "    per_group_in = w.shape[1]",
        "    per_group_out = channels_out // groups",
        "    rows = batch * channels_out" + "".join(f" * o{a}" for a in range(last)),
        f"    blocks = (o{last} + block - 1) // block",
        "    for task in prange(rows * blocks):",
        "        start = (task % blocks) * block",
        f"        stop = min(start + block, o{last})",
        "        r = task // blocks",
    ]
    for a in reversed(range(last)):
        lines += [f"        p{a} = r % o{a}", f"        r //= o{a}"]
    lines += [
        "        oc = r % channels_out",
        "        n = r // channels_out",
        "        first = (oc // per_group_out) * per_group_in",
        "        orow = out[(n, oc" + "".join(f", p{a}" for a in range(last)) + ")][start:stop]",
        "        first_input = start * s_last",
    ]
    if looped:
        lines += ["        for j in range(stop - start):", "            orow[j] = 0"]
    lines += ["        for c in range(per_group_in):", "            ci = first + c"]
    indent = "            "
    for a in range(min(looped, last)):
        lines.append(f"{indent}for t{a} in range({kernel[a]}):")
        indent += "    "

    def tap_name(a: int, taps: tuple[int, ...]) -> str:
        # Looped axes are runtime loop variables; unrolled ones are constants.
        return f"t{a}" if a < looped else str(taps[a - looped])

    def view(taps: tuple[int, ...]) -> str:
        rows = "".join(f", p{a} * s{a} + {tap_name(a, taps)} * d{a}" for a in range(last))
        offset = f"first_input + {tap_name(last, taps)} * d{last}"
        return f"xp[(n, ci{rows})][{offset}:{step}]"

    def weight(taps: tuple[int, ...]) -> str:
        return "w[(oc, c" + "".join(f", {tap_name(a, taps)}" for a in range(ndim)) + ")]"

    if looped == ndim:
        # Nothing unrolled: the last kernel axis is a runtime loop too.
        lines += [
            f"{indent}for t{last} in range({kernel[last]}):",
            f"{indent}    weight = {weight(())}",
            f"{indent}    row = {view(())}",
            f"{indent}    for j in range(stop - start):",
            f"{indent}        orow[j] += weight * row[j]",
        ]
        return "\n".join(lines) + "\n"
    taps_list = [tuple(t) for t in np.ndindex(*kernel[looped:])]
    for i, taps in enumerate(taps_list):
        lines += [f"{indent}w{i} = {weight(taps)}", f"{indent}x{i} = {view(taps)}"]
    terms = " + ".join(f"w{i} * x{i}[j]" for i in range(len(taps_list)))
    if looped:
        lines += [f"{indent}for j in range(stop - start):", f"{indent}    orow[j] += {terms}"]
        return "\n".join(lines) + "\n"
    # With every tap unrolled, the first channel writes the row instead of adding
    # to a zeroed one: one pass over the output less.
    lines += [
        f"{indent}if c == 0:",
        f"{indent}    for j in range(stop - start):",
        f"{indent}        orow[j] = {terms}",
        f"{indent}else:",
        f"{indent}    for j in range(stop - start):",
        f"{indent}        orow[j] += {terms}",
    ]
    return "\n".join(lines) + "\n"


def _compile(source: str) -> Callable[..., None]:
    """Compile generated source; through a cached module file when possible."""
    from numba import njit, prange

    directory = cache_dir("direct")
    if directory is None:
        namespace: dict[str, object] = {"prange": prange}
        exec(compile(source, "<ndconv.direct>", "exec"), namespace)
        return njit(parallel=True)(namespace["correlate"])  # type: ignore[no-any-return]
    path = directory / _module_path(source)
    if not path.exists():
        write_atomically(path, _module_source(source))
    name = f"ndconv_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    # numba's cache loader finds the function's module by name.
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.correlate  # type: ignore[no-any-return]


def compiled_kernel(kernel: tuple[int, ...], unit_stride: bool) -> Callable[..., None]:
    """The compiled kernel for a kernel shape, compiling it on first use."""
    key = (kernel, unit_stride)
    with _COMPILE_LOCK:
        if key not in _COMPILED:
            _COMPILED[key] = _compile(kernel_source(kernel, unit_stride))
        return _COMPILED[key]


@functools.lru_cache(maxsize=1024)
def _module_path(source: str) -> str:
    return f"kernel_{hashlib.sha256(_module_source(source).encode()).hexdigest()[:20]}.py"


def _module_source(source: str) -> str:
    # The tag changes whenever the way kernels are named or loaded changes, so a
    # new layout never meets numba cache entries pickled under an old one.
    return (
        f"# ndconv direct kernel, {_CACHE_FORMAT}\nfrom numba import njit, prange\n\n\n"
        f"@njit(parallel=True, cache=True)\n{source}"
    )


def setup_seconds(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """One-time cost before the kernel for ``spec`` can run: compile or cache load."""
    unit_stride = spec.stride[-1] == 1
    if (spec.kernel, unit_stride, str(spec.dtype)) in _READY:
        return 0.0
    directory = cache_dir("direct")
    source = kernel_source(spec.kernel, unit_stride)
    if directory is not None and (directory / _module_path(source)).exists():
        return machine.cached_load_seconds
    return machine.compile_seconds


def estimated_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Estimated seconds per call: running time plus a share of any compilation."""
    return direct_cost(spec, machine) + setup_seconds(spec, machine) / machine.expected_reuse


def _run_guard() -> threading.Lock | contextlib.nullcontext[None]:
    """The lock to hold around a parallel kernel, or a no-op where concurrency is safe."""
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet: the layer is not chosen
        return _RUN_LOCK
    return contextlib.nullcontext() if layer in _SAFE_LAYERS else _RUN_LOCK


def supports_direct(spec: ConvSpec) -> bool:
    """Whether the compiled direct kernels handle ``spec`` (dtype numba can compile)."""
    return spec.dtype in SUPPORTED_DTYPES


def correlate_direct(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` by compiled, row-vectorised direct loops.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> correlate_direct(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0, 0]
    array([-5., -5., -5.])
    """
    dtype = np.result_type(x, w)
    out = np.empty((spec.batch, spec.out_channels, *spec.out_spatial), dtype=dtype)
    padded = np.ascontiguousarray(pad(x, spec.padding, spec.padding_mode))
    unit_stride = spec.stride[-1] == 1
    kernel = compiled_kernel(spec.kernel, unit_stride)
    import numba

    # numba's thread count belongs to the calling thread: apply the setting per launch.
    numba.set_num_threads(kernel_threads())
    with _run_guard():
        kernel(
            padded,
            np.ascontiguousarray(w),
            out,
            np.array(spec.stride, dtype=np.int64),
            np.array(spec.dilation, dtype=np.int64),
            spec.groups,
            ROW_BLOCK,
        )
    _READY.add((spec.kernel, unit_stride, str(dtype)))
    return out
