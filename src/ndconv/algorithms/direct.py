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
at compile time) and compiled on first use through :mod:`._jit`, which keeps
the machine code on disk across processes. Compiled kernels live in
:data:`_COMPILED`, keyed by what the source depends on.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable

import numpy as np

from .._padding import pad
from .._shapes import ConvSpec
from .._threads import kernel_threads
from ._jit import compile_source, is_cached
from .costs import DEFAULT_MACHINE, MachineModel

#: Most taps unrolled into one expression; larger kernels loop over leading axes.
UNROLL_TAPS = 64
#: Most taps summed in one pass over an output row: with more, weights and row pointers
#: spill out of the 16 vector registers of AVX2 (5x5 went from 12.5 to 9.3 ms at 4096^2).
TAP_GROUP = 13
#: Output elements per parallel task along the last axis (long 1-D rows still split).
ROW_BLOCK = 4096
#: dtypes the compiled kernels accept (numba has no longdouble).
SUPPORTED_DTYPES = frozenset(
    np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128)
)

# The compiled-kernel cache: (kernel shape, unit last stride) -> numba dispatcher, and
# the (kernel shape, unit last stride, dtype) combinations that have run (so are compiled).
_COMPILED: dict[tuple[tuple[int, ...], bool], Callable[..., None]] = {}
_READY: set[tuple[tuple[int, ...], bool, np.dtype]] = set()
_COMPILE_LOCK = threading.Lock()
# numba's fallback "workqueue" threading layer aborts the process when two Python
# threads run parallel kernels at once (numba issues #8563, #9288); with OpenMP or
# TBB concurrent calls are safe. Calls are serialised unless a safe layer is known.
_RUN_LOCK = threading.Lock()
_SAFE_LAYERS = frozenset({"omp", "tbb"})


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

    The generated function ``correlate(x, w, out, stride, dilation, lo, groups,
    block, zero)`` writes the correlation of ``x``, zero-padded by ``lo`` in
    front of each spatial axis (and implicitly behind it), with ``w`` into
    ``out``; each parallel task computes ``block`` elements of one output row.
    ``zero`` is a row of zeros at least as long as an input row.

    Zero padding never makes a padded copy of the input: a tap whose input row
    lies in the padding reads the ``zero`` row instead, and along the last
    axis each output row splits into an interior, where every tap falls inside
    the input and the unrolled sum vectorises, and short borders summed with
    bounds checks.
    """
    ndim = len(kernel)
    looped = ndim - unrolled_axes(kernel)  # leading kernel axes looped at runtime
    last = ndim - 1
    step = "" if unit_stride else ":s_last"
    lines = [
        "def correlate(x, w, out, stride, dilation, lo, groups, block, zero):",
        "    batch = out.shape[0]",
        "    channels_out = out.shape[1]",
        *(f"    o{a} = out.shape[{a + 2}]" for a in range(ndim)),
        *(f"    n{a} = x.shape[{a + 2}]" for a in range(ndim)),
        *(f"    s{a} = stride[{a}]" for a in range(ndim)),
        *(f"    d{a} = dilation[{a}]" for a in range(ndim)),
        *(f"    l{a} = lo[{a}]" for a in range(ndim)),
        f"    s_last = s{last}",
        "    per_group_in = w.shape[1]",
        "    per_group_out = channels_out // groups",
        "    rows = batch * channels_out" + "".join(f" * o{a}" for a in range(last)),
        f"    blocks = (o{last} + block - 1) // block",
        # Interior of a row: outputs whose every last-axis tap lies inside the input.
        f"    inner_first = min((l{last} + s{last} - 1) // s{last}, o{last})",
        f"    inner_end = (n{last} - 1 - {kernel[last] - 1} * d{last} + l{last}) // s{last} + 1",
        f"    inner_end = max(min(inner_end, o{last}), inner_first)",
        "    for task in prange(rows * blocks):",
        "        start = (task % blocks) * block",
        f"        stop = min(start + block, o{last})",
        "        first_j = min(max(start, inner_first), stop)",
        "        end_j = max(min(stop, inner_end), first_j)",
        "        r = task // blocks",
    ]
    for a in reversed(range(last)):
        lines += [f"        p{a} = r % o{a}", f"        r //= o{a}"]
    lines += [
        "        oc = r % channels_out",
        "        n = r // channels_out",
        "        first = (oc // per_group_out) * per_group_in",
        "        orow = out[(n, oc" + "".join(f", p{a}" for a in range(last)) + ")]",
        "        inner = orow[first_j:end_j]",
        f"        column = first_j * s{last} - l{last}",
    ]
    if looped:
        lines += ["        for j in range(start, stop):", "            orow[j] = 0"]
    lines += ["        for c in range(per_group_in):", "            ci = first + c"]
    indent = "            "
    for a in range(min(looped, last)):
        # A looped leading tap whose input row is padding contributes nothing.
        lines += [
            f"{indent}for t{a} in range({kernel[a]}):",
            f"{indent}    i{a} = p{a} * s{a} + t{a} * d{a} - l{a}",
            f"{indent}    if i{a} < 0 or i{a} >= n{a}:",
            f"{indent}        continue",
        ]
        indent += "    "

    def weight(taps: tuple[int, ...]) -> str:
        names = [f"t{a}" if a < looped else str(taps[a - looped]) for a in range(ndim)]
        return "w[(oc, c" + "".join(f", {name}" for name in names) + ")]"

    def border_loops(body: list[str]) -> list[str]:
        # The outputs before and after the interior, each tap checked against the row.
        result = []
        for bounds in ("start, first_j", "end_j, stop"):
            result += [f"{indent}for j in range({bounds}):", f"{indent}    acc = zero[0]"]
            result += [f"{indent}    {line}" for line in body]
        return result

    if looped == ndim:
        # Nothing unrolled: the last kernel axis is a runtime loop too.
        row = "x[(n, ci" + "".join(f", i{a}" for a in range(last)) + ")]"
        lines += [
            f"{indent}row = {row}",
            f"{indent}for t{last} in range({kernel[last]}):",
            f"{indent}    weight = {weight(())}",
            f"{indent}    view = row[column + t{last} * d{last}:{step}]",
            f"{indent}    for j in range(end_j - first_j):",
            f"{indent}        inner[j] += weight * view[j]",
        ]
        lines += border_loops([
            f"for t{last} in range({kernel[last]}):",
            f"    i = j * s{last} + t{last} * d{last} - l{last}",
            f"    if i >= 0 and i < n{last}:",
            f"        acc += {weight(())} * row[i]",
            "orow[j] += acc",
        ])
        return "\n".join(lines) + "\n"
    taps_list = [tuple(t) for t in np.ndindex(*kernel[looped:])]
    # One row per combination of unrolled leading taps; the zero row where it is padding.
    row_names: dict[tuple[int, ...], str] = {}
    for taps in taps_list:
        leading = taps[:-1]
        if leading in row_names:
            continue
        name = f"row{len(row_names)}"
        row_names[leading] = name
        indices = [f"i{a}" if a < looped else f"q{a}_{leading[a - looped]}" for a in range(last)]
        for a in range(looped, last):
            t = leading[a - looped]
            lines.append(f"{indent}q{a}_{t} = p{a} * s{a} + {t} * d{a} - l{a}")
        checks = " and ".join(f"{i} >= 0 and {i} < n{a}" for a, i in enumerate(indices)
                              if a >= looped)
        element = "x[(n, ci" + "".join(f", {i}" for i in indices) + ")]"
        lines.append(f"{indent}{name} = {element} if {checks} else zero" if checks
                     else f"{indent}{name} = {element}")
    # Every tap reads its own view, already offset and strided, so the inner loop
    # indexes with plain ``j``: numba needs no wraparound check and LLVM vectorises.
    for i, taps in enumerate(taps_list):
        offset = f"column + {taps[-1]} * d{last}"
        lines += [f"{indent}w{i} = {weight(taps)}",
                  f"{indent}x{i} = {row_names[taps[:-1]]}[{offset}:{step}]"]
    # Taps summed per pass over the row: more weights and row pointers than the
    # registers hold would spill inside the vector loop.
    groups_of_taps = [range(g, min(g + TAP_GROUP, len(taps_list)))
                      for g in range(0, len(taps_list), TAP_GROUP)]
    terms_per_pass = [" + ".join(f"w{i} * x{i}[j]" for i in group) for group in groups_of_taps]
    terms = terms_per_pass[0]
    border = [f"base = j * s{last} - l{last}"]
    for i, taps in enumerate(taps_list):
        border += [
            f"i = base + {taps[-1]} * d{last}",
            f"if i >= 0 and i < n{last}:",
            f"    acc += w{i} * {row_names[taps[:-1]]}[i]",
        ]
    later_passes = [
        line for more in terms_per_pass[1:]
        for line in (f"{indent}for j in range(end_j - first_j):", f"{indent}    inner[j] += {more}")
    ]
    if looped:
        lines += [f"{indent}for j in range(end_j - first_j):", f"{indent}    inner[j] += {terms}"]
        lines += later_passes
        lines += border_loops([*border, "orow[j] += acc"])
        return "\n".join(lines) + "\n"
    # With every tap unrolled, the first channel writes the row instead of adding
    # to a zeroed one: one pass over the output less.
    lines += [
        f"{indent}if c == 0:",
        f"{indent}    for j in range(end_j - first_j):",
        f"{indent}        inner[j] = {terms}",
        f"{indent}else:",
        f"{indent}    for j in range(end_j - first_j):",
        f"{indent}        inner[j] += {terms}",
        *later_passes,
    ]
    lines += border_loops(
        [*border, "if c == 0:", "    orow[j] = acc", "else:", "    orow[j] += acc"]
    )
    return "\n".join(lines) + "\n"


def compiled_kernel(kernel: tuple[int, ...], unit_stride: bool) -> Callable[..., None]:
    """The compiled kernel for a kernel shape, compiling it on first use."""
    key = (kernel, unit_stride)
    with _COMPILE_LOCK:
        if key not in _COMPILED:
            _COMPILED[key] = compile_source(kernel_source(kernel, unit_stride), parallel=True)
        return _COMPILED[key]


def setup_seconds(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """One-time cost before the kernel for ``spec`` can run: compile or cache load."""
    unit_stride = spec.stride[-1] == 1
    if (spec.kernel, unit_stride, spec.dtype) in _READY:
        return 0.0
    if is_cached(kernel_source(spec.kernel, unit_stride), parallel=True):
        return machine.cached_load_seconds
    return machine.compile_seconds


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


def correlate_direct(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` by compiled, row-vectorised direct loops.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`.
    Zero padding is applied inside the kernel (copied first when a weight is
    not finite, so that it meets the zeros); the other padding modes are
    copied first.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> correlate_direct(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0, 0]
    array([-5., -5., -5.])
    """
    dtype = np.result_type(x, w)
    if out is None:
        out = np.empty((spec.batch, spec.out_channels, *spec.out_spatial), dtype=dtype)
    # The kernel skips taps that fall on zero padding, which is exact unless a weight is
    # NaN or Inf: NaN * 0 and Inf * 0 are NaN, so then the zeros are copied in.
    padded = any(lo or hi for lo, hi in spec.padding)
    if spec.padding_mode == "zeros" and (not padded or np.isfinite(w).all()):
        source, lo = np.ascontiguousarray(x), [lo for lo, _ in spec.padding]
    else:
        source, lo = np.ascontiguousarray(pad(x, spec.padding, spec.padding_mode)), [0] * spec.ndim
    unit_stride = spec.stride[-1] == 1
    kernel = compiled_kernel(spec.kernel, unit_stride)
    import numba

    # numba's thread count belongs to the calling thread: apply the setting per launch.
    numba.set_num_threads(kernel_threads())
    with _run_guard():
        kernel(
            source,
            np.ascontiguousarray(w),
            out,
            np.array(spec.stride, dtype=np.int64),
            np.array(spec.dilation, dtype=np.int64),
            np.array(lo, dtype=np.int64),
            spec.groups,
            ROW_BLOCK,
            np.zeros(max(source.shape[-1], 1), dtype=dtype),
        )
    _READY.add((spec.kernel, unit_stride, dtype))
    return out
