"""Traces of the sliding window: every step of a convolution, for reading and for teaching.

:func:`explain` runs a convolution on a small single-channel input the way
the definition reads: pad the input, put the kernel on each window in turn,
multiply element-wise, sum. It keeps every step (position, patch, products,
value), so the result can be printed (:meth:`Trace.to_text`), explored in a
browser or a notebook (:meth:`Trace.to_html`), or animated (:meth:`Trace.to_gif`).

The windows come from the same :class:`~ndconv._shapes.ConvSpec` and the same
:func:`~ndconv.algorithms.reference.window` as :func:`ndconv.conv`'s reference
algorithm, so the trace's values are ``conv``'s output.

A transposed convolution is shown as in Dumoulin and Visin's *A guide to
convolution arithmetic* (the conv_arithmetic animations): ``stride - 1``
zeros are inserted between input elements, the result is padded with
``dilation * (k - 1) - padding`` zeros per side (cropped where that is
negative; ``output_padding`` more at the end), and the kernel, rotated by 180
degrees, slides over it with stride 1. That equals
:func:`ndconv.conv_transpose`.

>>> import numpy as np
>>> from ndconv.examples import seed_image, seed_kernel
>>> trace = explain(seed_image(), seed_kernel())
>>> len(trace), trace.output.shape
(9, (3, 3))
>>> step = trace[1]
>>> step.position, step.patch.tolist(), step.products.tolist(), step.value
((0, 1), [[2.0, 0.0], [1.0, 3.0]], [[2.0, 0.0], [0.0, -3.0]], -1.0)
"""

from __future__ import annotations

import html
import json
import math
import os
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import IO

import numpy as np
from numpy.typing import ArrayLike

from ._dtypes import as_array, resolve_dtypes
from ._padding import dilate, pad
from ._shapes import ConvSpec, conv_spec, is_integer, transpose_output_size, transpose_spec
from .algorithms.reference import window
from .images import save_atomically

__all__ = ["MAX_PRODUCTS", "MAX_SHOWN_STEPS", "Step", "Trace", "explain"]

#: Largest trace :func:`explain` builds (output positions times kernel taps):
#: it keeps every product, and it is meant for inputs a person can read.
MAX_PRODUCTS = 1_000_000

#: Most steps the page and the animation show (a 32x32 output).
MAX_SHOWN_STEPS = 1024

# Kinds of grid cell, as stored in Trace.cell_kinds.
INPUT, PADDING, INSERTED = 0, 1, 2


@dataclass(frozen=True, eq=False)
class Step:
    """One position of the kernel: the patch under it and the dot product.

    Attributes
    ----------
    position : tuple of int
        Index of the output element this step computes.
    window : tuple of slice
        Where the kernel lies on :attr:`Trace.grid` (the padded input).
    patch : ndarray
        ``grid[window]``, the values under the kernel's taps.
    products : ndarray
        ``patch * weights``, element-wise.
    value : float
        ``products.sum()``: the output element.
    """

    position: tuple[int, ...]
    window: tuple[slice, ...]
    patch: np.ndarray
    products: np.ndarray
    value: float

    @property
    def cells(self) -> list[tuple[int, ...]]:
        """Grid indices under the kernel's taps, in the kernel's (row-major) order."""
        axes = [range(s.start, s.stop, s.step) for s in self.window]
        return [tuple(index) for index in np.stack(np.meshgrid(*axes, indexing="ij"), -1)
                .reshape(-1, len(axes)).tolist()]


@dataclass(frozen=True, eq=False)
class Trace:
    """Every step of one convolution of a single-channel input; iterate it for :class:`Step`.

    Attributes
    ----------
    input, kernel : ndarray
        The arrays :func:`explain` was given (in the compute dtype).
    grid : ndarray
        What the kernel slides over: the padded input; for a transposed
        convolution, the zero-inserted and padded input.
    cell_kinds : ndarray of int8
        Per grid cell: 0 an input element, 1 padding, 2 a zero inserted
        between input elements (transposed only).
    weights : ndarray
        The kernel as it slides: ``kernel``, rotated by 180 degrees for a
        transposed convolution.
    steps : tuple of Step
        In row-major order of the output.
    output : ndarray
        The result; equal to :func:`ndconv.conv` (or ``conv_transpose``).
    transposed : bool
    stride, dilation : tuple of int
        The operation's parameters, one per dim.
    padding : tuple of (int, int)
        Resolved ``(lo, hi)`` padding per dim (for ``transposed``, the
        padding removed from the output, as in ``conv_transpose``).
    padding_mode : str
    output_padding : tuple of int
    """

    input: np.ndarray
    kernel: np.ndarray
    grid: np.ndarray
    cell_kinds: np.ndarray
    weights: np.ndarray
    steps: tuple[Step, ...]
    output: np.ndarray
    transposed: bool
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    padding_mode: str
    output_padding: tuple[int, ...]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int) -> Step:
        return self.steps[index]

    @property
    def slide_stride(self) -> tuple[int, ...]:
        """Step of the kernel over :attr:`grid` (1 for a transposed convolution)."""
        return (1,) * self.grid.ndim if self.transposed else self.stride

    def describe(self) -> str:
        """One sentence naming the operation, its parameters and the shapes.

        Examples
        --------
        >>> import numpy as np
        >>> explain(np.ones((4, 4)), np.ones((3, 3)), padding=1, stride=2).describe()
        'convolution of a 4x4 input with a 3x3 kernel, stride 2, padding 1, dilation 1: 2x2 output'
        """
        name = "transposed convolution" if self.transposed else "convolution"
        parts = [f"stride {_dims(self.stride)}", f"padding {_pads(self.padding)}",
                 f"dilation {_dims(self.dilation)}"]
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode {self.padding_mode!r}")
        if any(self.output_padding):
            parts.append(f"output_padding {_dims(self.output_padding)}")
        return (f"{name} of a {_shape(self.input.shape)} input with a "
                f"{_shape(self.kernel.shape)} kernel, {', '.join(parts)}: "
                f"{_shape(self.output.shape)} output")

    def to_text(self) -> str:
        r"""The walkthrough as plain text: grid, kernel, then every step and the map filling up.

        Returns
        -------
        str

        Examples
        --------
        >>> from ndconv.examples import seed_image, seed_kernel
        >>> text = explain(seed_image(), seed_kernel()).to_text()
        >>> print(text.splitlines()[0])
        convolution of a 4x4 input with a 2x2 kernel, stride 1, padding 0, dilation 1: 3x3 output
        >>> print("\n".join(text.splitlines()[8:17]))
        step 1/9: out[0, 0], window rows 0:2, cols 0:2
          patch    kernel    products
          1  2      1   0     1   0
          0  1      0  -1     0  -1
          out[0, 0] = 1*1 + 2*0 + 0*0 + 1*(-1) = 0
          feature map:
            0  .  .
            .  .  .
            .  .  .
        """
        return _render_text(self)

    def to_html(self, *, title: str | None = None) -> str:
        """One self-contained HTML page to explore the trace (no network, no external files).

        The reader moves the kernel with the arrow keys, a slider, the
        buttons, or the mouse (hover or click an output cell, or drag over
        the input); the patch under the kernel is highlighted, the dot
        product written out and the output cell filled. The page can switch
        to a dilated variant and to the transposed convolution going the
        other way (the same kernel, stride and padding, mapping the output
        back to the input's shape), all computed here by :func:`explain`.

        Parameters
        ----------
        title : str, optional
            The page's heading; default from :meth:`describe`.

        Returns
        -------
        str
            HTML with inline CSS and JavaScript and the data as a JSON island.

        Raises
        ------
        ValueError
            For inputs with more than 2 dims, or more than :data:`MAX_SHOWN_STEPS` steps.

        Examples
        --------
        >>> from ndconv.examples import seed_image, seed_kernel
        >>> page = explain(seed_image(), seed_kernel()).to_html()
        >>> page.startswith("<!DOCTYPE html>"), "http" in page.replace("http-equiv", "")
        (True, False)
        """
        _check_drawable(self)
        variants = [_variant_data(label, trace) for label, trace in _variants(self)]
        data = {"title": title or "ndconv explain", "variants": variants}
        # "</" would end the script element early; JSON allows escaping "/".
        island = json.dumps(data, allow_nan=False).replace("</", "<\\/").replace("<!--", "<\\!--")
        page = resources.files("ndconv") / "explain_page"
        return Template((page / "page.html").read_text(encoding="utf-8")).substitute(
            title=html.escape(data["title"]),
            style=(page / "page.css").read_text(encoding="utf-8"),
            script=(page / "page.js").read_text(encoding="utf-8"),
            data=island,
        )

    def _repr_html_(self) -> str:
        # An iframe keeps the page's ids, styles and script apart from the notebook's.
        if self.grid.ndim > 2 or len(self) > MAX_SHOWN_STEPS:
            summary = self.to_text() if len(self) <= 64 else (
                f"{self.describe()}; {len(self)} steps (print to_text() to see them)")
            return f"<pre>{html.escape(summary)}</pre>"
        rows = self.grid.shape[0] if self.grid.ndim == 2 else 1
        height = 420 + 40 * min(rows, 12)
        return (f'<iframe srcdoc="{html.escape(self.to_html(), quote=True)}" '
                f'style="width: 100%; height: {height}px; border: 0" '
                f'sandbox="allow-scripts" title="ndconv explain"></iframe>')

    def to_gif(
        self, path: str | os.PathLike, *, force: bool = False, duration: int = 700
    ) -> Path:
        """Write the walkthrough as an animated GIF, one frame per step (needs Pillow).

        Parameters
        ----------
        path : str or path-like
        force : bool, default False
            Replace an existing file.
        duration : int, default 700
            Milliseconds per frame.

        Returns
        -------
        pathlib.Path
            ``path``, written atomically.

        Raises
        ------
        ValueError
            For inputs with more than 2 dims, more than :data:`MAX_SHOWN_STEPS`
            steps, or ``duration`` below 1.
        FileExistsError, OSError
            As for :func:`ndconv.images.save_atomically`.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from ndconv.examples import seed_image, seed_kernel
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "seed.gif"
        >>> explain(seed_image(), seed_kernel()).to_gif(target).stat().st_size > 0
        True
        """
        _check_drawable(self)
        if not (isinstance(duration, int) and duration >= 1):
            raise ValueError(f"duration must be a positive int (milliseconds); got {duration!r}")
        frames = _gif_frames(self)

        def write(stream: IO[bytes]) -> None:
            frames[0].save(stream, format="GIF", save_all=True, append_images=frames[1:],
                           duration=duration, loop=0)

        return save_atomically(path, write, force=force)


def explain(
    x: ArrayLike,
    k: ArrayLike,
    *,
    stride: int | Sequence[int] = 1,
    padding: int | str | Sequence[int] | Sequence[tuple[int, int]] = 0,
    dilation: int | Sequence[int] = 1,
    padding_mode: str = "zeros",
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
) -> Trace:
    """Trace a convolution of one single-channel input with one kernel, step by step.

    Parameters
    ----------
    x : array_like
        The input, with no batch or channel axis (a 4x4 image is ``(4, 4)``).
    k : array_like
        The kernel, with as many dims as ``x``.
    stride, padding, dilation, padding_mode
        As for :func:`ndconv.conv` (``padding="same"`` puts an even kernel's
        extra padding at the end).
    transposed : bool, default False
        Trace :func:`ndconv.conv_transpose` instead (integer padding only,
        zero padding mode), shown as a stride-1 convolution of the
        zero-inserted input with the rotated kernel.
    output_padding : int or sequence of int, default 0
        Only with ``transposed=True``, as for :func:`ndconv.conv_transpose`.

    Returns
    -------
    Trace
        Iterable of :class:`Step`; ``trace.output`` equals
        ``ndconv.conv(x[None], k[None, None], ...)[0]`` (or ``conv_transpose``).

    Raises
    ------
    TypeError, ValueError
        As for :func:`ndconv.conv`/``conv_transpose``; complex or non-numeric
        arrays, ``x`` and ``k`` of different ranks, ``padding_mode`` with
        ``transposed``, and traces of more than :data:`MAX_PRODUCTS` products.

    Examples
    --------
    >>> import numpy as np
    >>> trace = explain(np.arange(5.0), np.array([1.0, -1.0]), stride=2)
    >>> [(s.position, s.value) for s in trace]
    [((0,), -1.0), ((1,), -1.0)]
    >>> explain(np.array([1.0, 2.0]), np.array([1.0, 10.0, 100.0]), stride=2,
    ...         transposed=True).output
    array([  1.,  10., 102.,  20., 200.])
    """
    x_, k_ = as_array(x, "x"), as_array(k, "k")
    compute, _ = resolve_dtypes({"x": x_, "k": k_}, allow_complex=False)
    if x_.ndim != k_.ndim or x_.ndim == 0:
        raise ValueError(
            f"x and k must have the same number of dims (at least 1, no batch or channel axis); "
            f"got x.shape={x_.shape} and k.shape={k_.shape}"
        )
    if transposed and padding_mode != "zeros":
        raise ValueError(
            f"a transposed convolution pads with zeros only; got padding_mode={padding_mode!r}"
        )
    x_, k_ = x_.astype(compute), k_.astype(compute)
    if transposed:
        spec = transpose_spec((1, *x_.shape), (1, 1, *k_.shape), stride=stride, padding=padding,
                              output_padding=output_padding, dilation=dilation)
        out_spatial = spec.in_spatial  # the forward spec's input is the transposed output
    else:
        if not (is_integer(output_padding) and output_padding == 0):
            raise ValueError(
                f"output_padding only applies with transposed=True; "
                f"got output_padding={output_padding!r}"
            )
        spec = conv_spec((1, *x_.shape), (1, 1, *k_.shape), stride=stride, padding=padding,
                         dilation=dilation, padding_mode=padding_mode)
        out_spatial = spec.out_spatial
    products_total = math.prod(out_spatial) * k_.size
    if products_total > MAX_PRODUCTS:
        raise ValueError(
            f"explain keeps every product and is meant for small inputs: this trace would "
            f"hold {products_total} products (limit {MAX_PRODUCTS}); crop x or use ndconv.conv"
        )
    if transposed:
        grid, kinds = _inserted_grid(x_, spec.stride, spec.dilation, spec.kernel, spec.padding,
                                     out_spatial)
        weights = k_[(slice(None, None, -1),) * k_.ndim]
        extra = tuple(n - _transposed_size(m, spec, axis, 0)
                      for axis, (n, m) in enumerate(zip(out_spatial, x_.shape)))
    else:
        grid = pad(x_, spec.padding, spec.padding_mode)
        kinds = np.pad(np.zeros(x_.shape, np.int8), spec.padding, constant_values=PADDING)
        weights, extra = k_, (0,) * k_.ndim
    slide = conv_spec((1, 1, *grid.shape), (1, 1, *k_.shape),
                      stride=1 if transposed else spec.stride, dilation=spec.dilation)
    steps = []
    output = np.zeros(slide.out_spatial, dtype=compute)
    for position in np.ndindex(*slide.out_spatial):
        where = window(position, slide)
        patch = grid[where]
        products = patch * weights
        output[position] = np.sum(products)  # the reference algorithm's dot product
        steps.append(Step(position, where, patch, products, float(output[position])))
    return Trace(
        input=x_, kernel=k_, grid=grid, cell_kinds=kinds, weights=weights, steps=tuple(steps),
        output=output, transposed=transposed, stride=spec.stride, dilation=spec.dilation,
        padding=spec.padding, padding_mode=spec.padding_mode, output_padding=extra,
    )


def _transposed_size(size: int, spec: ConvSpec, axis: int, output_padding: int) -> int:
    """Length along ``axis`` of a transposed convolution of ``size`` elements with ``spec``."""
    return transpose_output_size(size, spec.kernel[axis], stride=spec.stride[axis],
                                 dilation=spec.dilation[axis], padding=spec.padding[axis],
                                 output_padding=output_padding)


def _inserted_grid(
    x: np.ndarray,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    kernel: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    out_spatial: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """The zero-inserted, padded input of a transposed convolution, and its cell kinds."""
    inserted = dilate(x, stride)
    kinds = np.full(inserted.shape, INSERTED, np.int8)
    kinds[tuple(slice(None, None, s) for s in stride)] = INPUT
    for axis, (d, kk, (lo, _), out) in enumerate(zip(dilation, kernel, padding, out_spatial)):
        # A stride-1 slide of the dilated kernel over this grid gives `out` positions.
        before = d * (kk - 1) - lo
        after = out + d * (kk - 1) - inserted.shape[axis] - before
        pads = [(0, 0)] * inserted.ndim
        pads[axis] = (max(before, 0), max(after, 0))
        inserted = np.pad(inserted, pads)
        kinds = np.pad(kinds, pads, constant_values=PADDING)
        crop = [slice(None)] * inserted.ndim
        crop[axis] = slice(max(-before, 0), inserted.shape[axis] - max(-after, 0))
        inserted, kinds = inserted[tuple(crop)], kinds[tuple(crop)]
    return inserted, kinds


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------


def _number(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def _term(value: float) -> str:
    text = _number(value)
    return f"({text})" if text.startswith("-") else text


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


def _dims(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _pads(pairs: Sequence[tuple[int, int]]) -> str:
    if len(set(pairs)) == 1 and pairs[0][0] == pairs[0][1]:
        return str(pairs[0][0])
    return str(tuple(pairs))


def _rows(matrix: np.ndarray, shown: np.ndarray | None = None) -> list[str]:
    """Right-aligned rows of a 1-D or 2-D array; cells where ``shown`` is False print '.'."""
    matrix = np.atleast_2d(matrix)
    mask = np.ones(matrix.shape, bool) if shown is None else np.atleast_2d(shown)
    cells = [[_number(v) if m else "." for v, m in zip(row, mrow)]
             for row, mrow in zip(matrix.tolist(), mask.tolist())]
    width = max(len(cell) for row in cells for cell in row)
    return ["  ".join(cell.rjust(width) for cell in row) for row in cells]


def _side_by_side(blocks: Sequence[tuple[str, list[str]]]) -> list[str]:
    widths = [max(len(title), *(len(line) for line in lines)) for title, lines in blocks]
    height = max(len(lines) for _, lines in blocks)
    out = ["    ".join(title.ljust(w) for (title, _), w in zip(blocks, widths)).rstrip()]
    for i in range(height):
        out.append("    ".join((lines[i] if i < len(lines) else "").ljust(w)
                               for (_, lines), w in zip(blocks, widths)).rstrip())
    return out


def _window_text(where: tuple[slice, ...]) -> str:
    names = ("rows", "cols") if len(where) == 2 else tuple(f"axis {i}" for i in range(len(where)))
    parts = []
    for name, s in zip(names, where):
        step = f":{s.step}" if s.step != 1 else ""
        parts.append(f"{name} {s.start}:{s.stop}{step}")
    return ", ".join(parts)


def _render_text(trace: Trace) -> str:
    planar = trace.grid.ndim <= 2
    lines = [trace.describe()]
    if trace.transposed:
        lines.append("shown as a stride-1 convolution of the zero-inserted, padded input "
                     "(inserted zeros and padding are the 0s around the input values) "
                     "with the kernel rotated by 180 degrees")
    grid_title = "grid the kernel slides over" if trace.transposed or any(
        lo or hi for lo, hi in trace.padding) else "input"
    if planar:
        lines.append("")
        lines.extend(_side_by_side([(f"{grid_title} ({_shape(trace.grid.shape)}):",
                                     _rows(trace.grid)),
                                    (f"kernel ({_shape(trace.weights.shape)}):",
                                     _rows(trace.weights))]))
    shown = np.zeros(trace.output.shape, bool)
    for number, step in enumerate(trace, start=1):
        position = ", ".join(str(i) for i in step.position)
        terms = " + ".join(f"{_term(p)}*{_term(w)}" for p, w in
                           zip(step.patch.ravel().tolist(), trace.weights.ravel().tolist()))
        lines.append("")
        lines.append(f"step {number}/{len(trace)}: out[{position}], "
                     f"window {_window_text(step.window)}")
        if planar:
            lines.extend("  " + line for line in _side_by_side(
                [("patch", _rows(step.patch)), ("kernel", _rows(trace.weights)),
                 ("products", _rows(step.products))]))
        lines.append(f"  out[{position}] = {terms} = {_number(step.value)}")
        shown[step.position] = True
        if planar:
            lines.append("  feature map:")
            lines.extend("    " + line for line in _rows(trace.output, shown))
    lines.append("")
    lines.append(f"feature map ({_shape(trace.output.shape)}):")
    lines.extend(_rows(trace.output) if planar else str(trace.output).splitlines())
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------


def _check_drawable(trace: Trace) -> None:
    if trace.grid.ndim > 2:
        raise ValueError(
            f"the page and the animation show 1-D and 2-D traces; this one is "
            f"{trace.grid.ndim}-D (use to_text)"
        )
    if len(trace) > MAX_SHOWN_STEPS:
        raise ValueError(
            f"the page and the animation show at most {MAX_SHOWN_STEPS} steps; this trace "
            f"has {len(trace)} (crop the input, or use to_text)"
        )


def _variants(trace: Trace) -> list[tuple[str, Trace]]:
    """The trace, a (un)dilated variant and the transposed operation going the other way."""
    name = "transposed convolution" if trace.transposed else "convolution"
    variants = [(name, trace)]
    common = {"stride": trace.stride, "padding": trace.padding}
    dilation = 2 if all(d == 1 for d in trace.dilation) else 1
    try:
        if trace.transposed:
            variants.append((f"{name}, dilation {dilation}", explain(
                trace.input, trace.kernel, dilation=dilation, transposed=True, **common)))
        else:
            variants.append((f"{name}, dilation {dilation}", explain(
                trace.input, trace.kernel, dilation=dilation, padding_mode=trace.padding_mode,
                **common)))
    except ValueError:
        pass  # the dilated kernel does not fit this input: no such variant
    if trace.transposed:
        back = explain(trace.output, trace.kernel, dilation=trace.dilation, **common)
        variants.append(("convolution back (same kernel, stride, padding)", back))
    else:
        # The output_padding that gives back the input's shape, where one exists.
        spec = conv_spec((1, *trace.input.shape), (1, 1, *trace.kernel.shape),
                         stride=trace.stride, padding=trace.padding, dilation=trace.dilation)
        extra = tuple(n - _transposed_size(m, spec, axis, 0) for axis, (n, m)
                      in enumerate(zip(trace.input.shape, trace.output.shape)))
        fits = all(0 <= e < max(s, d) for e, s, d in zip(extra, trace.stride, trace.dilation))
        back = explain(trace.output, trace.kernel, dilation=trace.dilation, transposed=True,
                       output_padding=extra if fits else 0, **common)
        variants.append(("transposed convolution back (same kernel, stride, padding)", back))
    return variants


def _as_planar(array: np.ndarray) -> np.ndarray:
    return array.reshape(1, -1) if array.ndim == 1 else array


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _variant_data(label: str, trace: Trace) -> dict[str, object]:
    """The JSON the page draws one variant from; every number comes from the trace."""
    lift = (lambda index: (0, *index)) if trace.grid.ndim == 1 else tuple
    weights = trace.weights.ravel().tolist()
    steps = []
    for step in trace:
        patch = step.patch.ravel().tolist()
        steps.append({
            "name": f"out[{', '.join(str(i) for i in step.position)}]",
            "position": list(lift(step.position)),
            "cells": [list(lift(cell)) for cell in step.cells],
            "products": [_json_number(p) for p in step.products.ravel().tolist()],
            "terms": " + ".join(f"{_term(p)}\u00d7{_term(w)}" for p, w in zip(patch, weights)),
            "value": _json_number(step.value),
            "text": _number(step.value),
        })

    def numbers(a: np.ndarray) -> list[list[float | None]]:
        return [[_json_number(v) for v in row] for row in _as_planar(a).tolist()]

    def texts(a: np.ndarray) -> list[list[str]]:
        return [[_number(v) for v in row] for row in _as_planar(a).tolist()]

    return {
        "label": label,
        "description": trace.describe(),
        "transposed": trace.transposed,
        "grid": texts(trace.grid),
        "kinds": _as_planar(trace.cell_kinds).tolist(),
        "kernel": texts(trace.weights),
        "kernelValues": numbers(trace.weights),
        "outputShape": list(_as_planar(trace.output).shape),
        "steps": steps,
    }


# ---------------------------------------------------------------------------
# GIF
# ---------------------------------------------------------------------------

_CELL, _GAP, _MARGIN = 44, 36, 16
_COLOURS = {INPUT: (255, 255, 255), PADDING: (226, 226, 226), INSERTED: (242, 236, 214)}


def _gif_frames(trace: Trace) -> list:
    """One Pillow image per step: grid with the patch outlined, kernel, output so far."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=10)
    grid, kinds = _as_planar(trace.grid), _as_planar(trace.cell_kinds)
    weights, output = _as_planar(trace.weights), _as_planar(trace.output)
    panels = [grid.shape, weights.shape, output.shape]
    lefts, x = [], _MARGIN
    for _, cols in panels:
        lefts.append(x)
        x += cols * _CELL + _GAP
    width = x - _GAP + _MARGIN
    top = _MARGIN + 24
    height = top + max(rows for rows, _ in panels) * _CELL + 70
    lift = (lambda index: (0, *index)) if trace.grid.ndim == 1 else tuple

    def cell_box(left: int, row: int, col: int) -> tuple[int, int, int, int]:
        return (left + col * _CELL, top + row * _CELL,
                left + (col + 1) * _CELL, top + (row + 1) * _CELL)

    frames = []
    for number, step in enumerate(trace, start=1):
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        titles = ("grid" if trace.transposed else "input", "kernel" + (
            " (rotated)" if trace.transposed else ""), "output")
        for left, title in zip(lefts, titles):
            draw.text((left, _MARGIN), title, fill="black", font=font)
        patch_cells = {lift(cell): i for i, cell in enumerate(step.cells)}
        weights_flat = weights.ravel().tolist()
        for (row, col), value in np.ndenumerate(grid):
            box = cell_box(lefts[0], row, col)
            inside = (row, col) in patch_cells
            draw.rectangle(box, fill=(255, 214, 102) if inside else _COLOURS[kinds[row, col]],
                           outline="grey")
            # Padding and inserted zeros keep grey digits inside the highlighted patch.
            ink = "black" if kinds[row, col] == INPUT else (110, 110, 110)
            draw.text((box[0] + 4, box[1] + 4), _number(value), fill=ink, font=font)
            if inside:
                weight = _number(weights_flat[patch_cells[(row, col)]])
                draw.text((box[0] + 4, box[3] - 14), f"x{weight}", fill=(120, 60, 0), font=small)
        for (row, col), value in np.ndenumerate(weights):
            box = cell_box(lefts[1], row, col)
            draw.rectangle(box, fill=(255, 236, 179), outline="grey")
            draw.text((box[0] + 4, box[1] + 4), _number(value), fill="black", font=font)
        current = lift(step.position)
        done = {lift(s.position) for s in trace.steps[:number]}
        for (row, col), value in np.ndenumerate(output):
            box = cell_box(lefts[2], row, col)
            is_current = (row, col) == current
            draw.rectangle(box, fill=(255, 214, 102) if is_current else "white",
                           outline="black" if is_current else "grey",
                           width=3 if is_current else 1)
            if (row, col) in done:
                draw.text((box[0] + 4, box[1] + 4), _number(value), fill="black", font=font)
        position = ", ".join(str(i) for i in step.position)
        terms = " + ".join(f"{_term(p)}*{_term(w)}"
                           for p, w in zip(step.patch.ravel().tolist(), weights_flat))
        equation = f"step {number}/{len(trace)}: out[{position}] = {terms} = {_number(step.value)}"
        lines = textwrap.wrap(equation, width=max(20, width // 8), max_lines=3)
        for i, line in enumerate(lines):
            draw.text((_MARGIN, height - 64 + 18 * i), line, fill="black", font=font)
        frames.append(image.convert("P", palette=Image.Palette.ADAPTIVE))
    return frames

