"""The ``ndconv`` command: argument parsing and reporting around library calls.

Subcommands:

* ``apply``: convolve image files with kernels and write the feature maps;
* ``kernels``: list the kernel bank, or show one kernel;
* ``explain``: walk through a small convolution step by step (text, HTML, GIF);
* ``show``: a figure of an image, kernels and feature maps;
* ``bench``: the benchmarks (``python -m ndconv.bench``).

Each subcommand is one ``add_*`` function below that registers its parser and
its handler; :data:`SUBCOMMANDS` lists them. Every computation is a call into
:mod:`ndconv`, :mod:`ndconv.kernels`, :mod:`ndconv.images` or
:mod:`ndconv.explain`.

Exit status: 0 on success, 2 for usage errors (bad options, unknown kernels,
output names that do not work), 1 for failures (unreadable files, values
that do not fit the output format, existing outputs without ``--force``).
Errors are one line, ``ndconv: error: ...``, on stderr.

>>> main(["kernels", "box:2"])
box:2 (2x2)
[[0.25 0.25]
 [0.25 0.25]]
<BLANKLINE>
...
0
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from . import __version__
from ._shapes import PADDING_MODES, PADDING_STRINGS
from .examples import seed_image, seed_kernel
from .explain import explain
from .images import (
    FORMAT_DTYPES,
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    RangeError,
    feature_map_figure,
    filter_image,
    image_info,
    read_image,
    save_atomically,
    to_dtype,
    write_image,
)
from .kernels import KERNELS, MATRIX_SUFFIXES, kernel_source, load_kernel, load_matrix

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Arguments that parse but do not make sense together: exit status 2."""


# ---------------------------------------------------------------------------
# Argument types
# ---------------------------------------------------------------------------


def _int_list(text: str, minimum: int, what: str) -> int | tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {what} or one per axis separated by commas (e.g. 2 or 2,1); got {text!r}"
        ) from None
    if any(v < minimum for v in values):
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}")
    return values[0] if len(values) == 1 else values


def positive_int(text: str) -> int:
    """``--max-pixels``: one positive int."""
    value = _int_list(text, 1, "a positive int")
    if isinstance(value, tuple):
        raise argparse.ArgumentTypeError(f"expected one positive int; got {text!r}")
    return value


def positive_ints(text: str) -> int | tuple[int, ...]:
    """``--stride``/``--dilation``: ``2`` or ``2,1``."""
    return _int_list(text, 1, "a positive int")


def non_negative_ints(text: str) -> int | tuple[int, ...]:
    """``--output-padding``: ``1`` or ``1,0``."""
    return _int_list(text, 0, "an int >= 0")


def chunk_sizes(text: str) -> str | int | tuple[int, ...]:
    """``--chunks``: ``auto``, ``1024`` or ``512,4096``."""
    return "auto" if text == "auto" else _int_list(text, 1, "auto or a positive int")


def padding(text: str) -> str | int | tuple[int, ...]:
    """``--padding``: ``valid``, ``same``, ``full``, ``N`` or ``N,M``."""
    if text in PADDING_STRINGS:
        return text
    try:
        return _int_list(text, 0, "valid, same, full or an int >= 0")
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected valid, same, full, an int >= 0 or one int per axis (e.g. 1,2); "
            f"got {text!r}"
        ) from None


def _add_conv_options(parser: argparse.ArgumentParser, *, transposed: bool = False) -> None:
    group = parser.add_argument_group("convolution (as ndconv.conv)")
    group.add_argument("--stride", type=positive_ints, default=1, metavar="S",
                       help="step between windows: an int or one per axis, e.g. 2,1 (default 1)")
    group.add_argument("--padding", type=padding, default=0, metavar="P",
                       help="valid, same, full, or an int (or one per axis) of padding on each "
                            "side (default 0 = valid); 'same' pads an even kernel more at the end")
    group.add_argument("--dilation", type=positive_ints, default=1, metavar="D",
                       help="spacing between kernel taps (default 1)")
    group.add_argument("--padding-mode", choices=PADDING_MODES, default="zeros",
                       help="how padded values are made, PyTorch's names (default zeros)")
    if transposed:
        group.add_argument("--transposed", action="store_true",
                           help="trace the transposed convolution (integer padding, zeros)")
        group.add_argument("--output-padding", type=non_negative_ints, default=0, metavar="N",
                           help="extra output elements at the end, with --transposed (default 0)")


def _conv_options(args: argparse.Namespace) -> dict[str, object]:
    return {"stride": args.stride, "padding": args.padding, "dilation": args.dilation,
            "padding_mode": args.padding_mode}


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedKernel:
    """A kernel from ``-k`` and the label used in file names and titles."""

    label: str
    weights: np.ndarray


def _kernels(texts: Sequence[str]) -> list[NamedKernel]:
    """Load every ``-k``: a bad name or inline matrix is a usage error, a bad file a failure."""
    kernels: list[NamedKernel] = []
    for index, text in enumerate(texts, start=1):
        source = kernel_source(text)
        try:
            weights = load_kernel(text)
        except (ValueError, TypeError) as error:
            if source == "file":
                raise
            raise UsageError(f"-k {text}: {error}") from None
        if source == "inline":
            label = f"k{index}"
        elif source == "file":
            label = Path(text).stem
        else:
            label = re.sub(r"[^A-Za-z0-9._=-]+", "-", text.strip()).strip("-")
        if any(k.label == label for k in kernels):
            label = f"{label}-{index}"  # two kernels files with one name, or a repeated -k
        kernels.append(NamedKernel(label, weights))
    return kernels


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


def _check_new(path: Path, force: bool, inputs: Sequence[Path] = ()) -> None:
    """Fail early for outputs that would overwrite an input or an existing file."""
    if any(path.resolve() == source.resolve() for source in inputs):
        raise UsageError(f"{path}: the output is one of the inputs; inputs are never modified")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; use --force to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: the directory {path.parent} does not exist")


@contextlib.contextmanager
def _progress(total: int, unit: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr, shown only on a terminal and only for work over a second."""
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, disable=None, delay=1.0, leave=False,
              file=sys.stderr) as bar:
        yield lambda: bar.update(1)


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    # tifffile logs its own warnings about damaged files; the CLI reports one line instead.
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


# ---------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------

APPLY_EPILOG = """\
OUTPUT may contain {stem} (the input's name without suffix) and {kernel} (the
kernel's label); several inputs need {stem}. With several kernels, .npy
outputs stack the maps along a first axis, other formats get one file per
kernel ("-{kernel}" is added before the suffix unless OUTPUT has {kernel}).

Values: .npy (float64) and .tif (float32) hold the raw feature map. PNG (8-bit,
or 16-bit for 16-bit grey inputs) and JPEG (8-bit) rescale from the input's
range (0-255, 0-65535, or 0-1 for float images) to theirs; values outside it
are an error unless --clip or --normalize is given.

examples:
  ndconv apply photo.png -k sobel-x -o edges.tif
  ndconv apply photo.png -k sobel-x -k sobel-y --abs --normalize -o edges.png
  ndconv apply scans/*.tif -k gaussian:sigma=2 --padding same -o 'out/{stem}.tif'
  ndconv apply cells.png -k '[[0,1,0],[1,-4,1],[0,1,0]]' --clip -o lap.png
  ndconv apply scene.tif -k gaussian:sigma=2 --padding same --chunks 4096 -o smooth.tif

--chunks streams an image larger than memory: it is read a region at a time
(.npy or uncompressed TIFF), filtered chunk by chunk with Dask and written as
it goes, so memory holds a few chunks, never the image.
"""


def _template(text: str, *, stem: str, kernel: str) -> Path:
    try:
        return Path(text.format(stem=stem, kernel=kernel))
    except (KeyError, IndexError, ValueError):
        raise UsageError(
            f"-o {text}: only {{stem}} and {{kernel}} may appear in braces"
        ) from None


def _output_dtype(kind: str, chosen: str | None, source: np.dtype, grey: bool) -> str:
    """``--dtype``, or the default for the format and the input."""
    if chosen is not None:
        return chosen
    if kind in ("NPY", "TIFF"):
        return "float64" if kind == "NPY" else "float32"
    return "uint16" if kind == "PNG" and source == np.uint16 and grey else "uint8"


@dataclass(frozen=True)
class _Job:
    source: Path
    target: Path
    kernels: tuple[NamedKernel, ...]  # several: stacked along a first axis (.npy only)


def _plan_apply(args: argparse.Namespace, kernels: list[NamedKernel]) -> list[_Job]:
    sources = [Path(p) for p in args.inputs]
    if len(sources) > 1 and "{stem}" not in args.output:
        raise UsageError("several inputs need {stem} in -o, e.g. -o 'out/{stem}.png'")
    suffix = Path(args.output.replace("{stem}", "x").replace("{kernel}", "k")).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UsageError(f"-o {args.output}: the suffix must be one of {', '.join(IMAGE_SUFFIXES)}")
    kind = IMAGE_SUFFIXES[suffix]
    if args.dtype is not None and args.dtype not in FORMAT_DTYPES[kind]:
        raise UsageError(f"--dtype {args.dtype}: {kind} stores {', '.join(FORMAT_DTYPES[kind])}")
    if args.chunks is not None:
        _check_chunked(args, sources, kind)
    # Chunked runs write each map as it streams, so maps are never stacked.
    stack = (len(kernels) > 1 and kind == "NPY" and "{kernel}" not in args.output
             and args.chunks is None)
    pattern = args.output
    if len(kernels) > 1 and not stack and "{kernel}" not in pattern:
        cut = len(pattern) - len(suffix)
        pattern = pattern[:cut] + "-{kernel}" + pattern[cut:]
    jobs = []
    for source in sources:
        groups = [tuple(kernels)] if stack else [(k,) for k in kernels]
        for group in groups:
            target = _template(pattern, stem=source.stem, kernel=group[0].label)
            jobs.append(_Job(source, target, group))
    targets = [job.target for job in jobs]
    if len(set(targets)) < len(targets):
        raise UsageError(f"-o {args.output} gives the same output name twice; "
                         f"use {{stem}} and {{kernel}} to tell them apart")
    for target in targets:
        _check_new(target, args.force, sources)
    return jobs


def _check_chunked(args: argparse.Namespace, sources: Sequence[Path], kind: str) -> None:
    """What ``--chunks`` can stream: raw .npy/.tif files, raw float feature maps."""
    if kind not in ("NPY", "TIFF"):
        raise UsageError("--chunks writes raw feature maps: -o must end in .npy or .tif")
    for source in sources:
        if source.suffix.lower() not in (".npy", ".tif", ".tiff"):
            raise UsageError(f"{source}: --chunks reads .npy and uncompressed .tif files only "
                             f"(they can be read a region at a time)")
    if args.normalize or args.clip:
        raise UsageError("--normalize and --clip need the whole map's range; with --chunks "
                         "the maps are written raw (float32 or float64)")
    if args.dtype not in (None, "float32", "float64"):
        raise UsageError(f"--dtype {args.dtype}: --chunks stores float32 or float64")


def _run_apply_chunked(args: argparse.Namespace, jobs: Sequence[_Job]) -> int:
    """``apply --chunks``: each map streamed file to file by :func:`ndconv.dask.filter_file`."""
    from .dask import filter_file

    for job in jobs:
        (kernel,) = job.kernels
        kind = IMAGE_SUFFIXES[job.target.suffix.lower()]
        filter_file(job.source, job.target, kernel.weights, **_conv_options(args),
                    dtype=args.dtype or ("float64" if kind == "NPY" else "float32"),
                    absolute=args.abs, chunks=None if args.chunks == "auto" else args.chunks,
                    progress=sys.stderr.isatty(), force=args.force)
        print(f"wrote {job.target}")
    return 0


def _run_apply(args: argparse.Namespace) -> int:
    kernels = _kernels(args.kernel)
    jobs = _plan_apply(args, kernels)
    if args.chunks is not None:
        return _run_apply_chunked(args, jobs)
    fit = "normalize" if args.normalize else "clip" if args.clip else "error"
    # Headers first: a missing, damaged or oversized input fails before anything is written.
    infos = {job.source: image_info(job.source, max_pixels=args.max_pixels) for job in jobs}
    if len(infos) > 1:  # and damage inside the pixel data of a later input, decoded once here
        for source in infos:
            read_image(source, alpha=False, max_pixels=args.max_pixels)
    with _progress(sum(len(job.kernels) for job in jobs), "map") as advance:
        for job in jobs:
            info = infos[job.source]
            pixels = read_image(job.source, alpha=False, max_pixels=args.max_pixels)
            maps = []
            for kernel in job.kernels:
                values = filter_image(pixels, kernel.weights, **_conv_options(args))
                maps.append(np.abs(values) if args.abs else values)
                advance()
            kind = IMAGE_SUFFIXES[job.target.suffix.lower()]
            dtype = _output_dtype(kind, args.dtype, info.dtype, grey=pixels.ndim == 2)
            if len({m.shape for m in maps}) > 1:
                raise ValueError(
                    f"{job.target}: the kernels give maps of different shapes "
                    f"({', '.join(_shape(m.shape) for m in maps)}) that cannot be stacked; "
                    f"use --padding same or put {{kernel}} in -o")
            result = np.stack(maps) if len(maps) > 1 else maps[0]
            try:
                stored = to_dtype(result, dtype, source_dtype=info.dtype, fit=fit)
            except RangeError as error:
                raise RangeError(f"{job.target}: {error}; use --clip, --normalize or --abs, "
                                 f"or write .tif or .npy") from None
            write_image(job.target, stored, force=args.force)
            print(f"wrote {job.target} ({_shape(stored.shape)}, {stored.dtype})")
    return 0


def add_apply(subparsers: argparse._SubParsersAction) -> None:
    """``ndconv apply``: convolve image files with kernels, write the feature maps."""
    parser = subparsers.add_parser(
        "apply", help="convolve images with kernels and write the feature maps",
        description="Correlate each channel of each INPUT with each kernel (ndconv.conv: "
                    "the kernel is not flipped) and write the feature maps.",
        epilog=APPLY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="PNG, JPEG, TIFF or .npy image (grey or colour)")
    parser.add_argument("-k", "--kernel", action="append", required=True, metavar="KERNEL",
                        help="a bank name with parameters (sobel-x, gaussian:sigma=2, box:5; "
                             "see 'ndconv kernels'), a .npy/.txt/.csv file, or an inline matrix "
                             "'[[0,1,0],[1,-4,1],[0,1,0]]'; repeat for several")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                        help="output file: .png, .jpg, .tif or .npy (see below)")
    _add_conv_options(parser)
    values = parser.add_argument_group("output values")
    fitting = values.add_mutually_exclusive_group()
    fitting.add_argument("--normalize", action="store_true",
                         help="stretch each output's minimum..maximum to the full range")
    fitting.add_argument("--clip", action="store_true",
                         help="clip to the output's range instead of failing")
    values.add_argument("--abs", action="store_true",
                        help="take absolute values first (edge strength of either sign)")
    values.add_argument("--dtype", choices=sorted({d for ds in FORMAT_DTYPES.values() for d in ds}),
                        help="stored dtype (default: float64 .npy, float32 .tif, uint8 or the "
                             "input's uint16 for PNG, uint8 JPEG)")
    parser.add_argument("--max-pixels", type=positive_int, default=MAX_PIXELS, metavar="N",
                        help=f"refuse larger images (default {MAX_PIXELS}, Pillow's limit)")
    parser.add_argument("--chunks", type=chunk_sizes, metavar="N[,M...]|auto",
                        help="stream images larger than memory chunk by chunk with Dask "
                             "(the 'dask' extra): .npy or uncompressed .tif in and out, "
                             "raw float maps; 'auto' reads bands of whole rows")
    parser.add_argument("--force", action="store_true", help="replace existing outputs")
    parser.set_defaults(run=_run_apply)


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------


def _preview(matrix: np.ndarray, limit: int = 7) -> str:
    """The matrix with 3 decimals; its central 5x5 if it is larger than ``limit``."""
    shown, note = matrix, ""
    if max(matrix.shape) > limit:
        shown = matrix[tuple(slice(max(n // 2 - 2, 0), n // 2 + 3) for n in matrix.shape)]
        note = f"\n(the centre {_shape(shown.shape)} of {_shape(matrix.shape)})"
    with np.printoptions(precision=3, suppress=True, linewidth=100):
        return np.array2string(shown) + note


def _run_kernels(args: argparse.Namespace) -> int:
    if args.spec is not None:
        try:
            matrix = load_kernel(args.spec)
        except (ValueError, TypeError) as error:
            raise UsageError(str(error)) from None
        with np.printoptions(precision=4, suppress=True, linewidth=120, threshold=10_000):
            print(f"{args.spec} ({_shape(matrix.shape)})")
            print(matrix)
        name = args.spec.partition(":")[0].strip().lower()
        if name in KERNELS:
            print()
            print(KERNELS[name].doc.split("\nExamples\n")[0].rstrip())
        return 0
    for name, info in KERNELS.items():
        parameters = ", ".join(f"{key}={default}" for key, (_, default) in info.parameters.items())
        print(f"{name}" + (f":{parameters}" if parameters else ""))
        print(f"  {info.summary}")
        matrix = info.build()
        print(f"  {_shape(matrix.shape)}:")
        print("\n".join("    " + line for line in _preview(matrix).splitlines()))
        print()
    print("Details and scale conventions: ndconv kernels NAME (e.g. ndconv kernels gaussian:2).")
    return 0


def add_kernels(subparsers: argparse._SubParsersAction) -> None:
    """``ndconv kernels``: list the bank, or show one kernel in full."""
    parser = subparsers.add_parser(
        "kernels", help="list the kernel bank with previews",
        description="List the built-in kernels with their parameters and a preview, or show "
                    "one kernel (with parameters) in full with its documentation.")
    parser.add_argument("spec", nargs="?", metavar="KERNEL",
                        help="e.g. gaussian:sigma=2, or an inline matrix or file to inspect")
    parser.set_defaults(run=_run_kernels)


# ---------------------------------------------------------------------------
# explain
# ---------------------------------------------------------------------------


def _explain_input(text: str | None) -> np.ndarray:
    if text is None:
        return seed_image()
    if kernel_source(text) == "inline" or text.lower().endswith(MATRIX_SUFFIXES):
        try:
            return load_matrix(text)
        except (ValueError, TypeError) as error:
            raise UsageError(f"--image {text}: {error}") from None
    pixels = read_image(text, alpha=False)
    if pixels.ndim != 2:
        raise ValueError(f"{text}: explain takes a single-channel image; got shape {pixels.shape}")
    return pixels


def _write_text(path: Path, text: str, force: bool) -> None:
    def write(stream: IO[bytes]) -> None:
        stream.write(text.encode("utf-8"))

    save_atomically(path, write, force=force)


def _run_explain(args: argparse.Namespace) -> int:
    image = _explain_input(args.image)
    kernel = seed_kernel() if args.kernel is None else _kernels([args.kernel])[0].weights
    if image.ndim != kernel.ndim:
        raise UsageError(f"the input is {image.ndim}-D and the kernel {kernel.ndim}-D; "
                         f"they need the same number of dims")
    targets = [Path(p) for p in (args.html, args.gif) if p is not None]
    for target in targets:
        _check_new(target, args.force)
    trace = explain(image, kernel, transposed=args.transposed,
                    output_padding=args.output_padding, **_conv_options(args))
    if not targets:
        print(trace.to_text())
    if args.html is not None:
        _write_text(Path(args.html), trace.to_html(), args.force)
        print(f"wrote {args.html}")
    if args.gif is not None:
        trace.to_gif(args.gif, force=args.force)
        print(f"wrote {args.gif}")
    return 0


def add_explain(subparsers: argparse._SubParsersAction) -> None:
    """``ndconv explain``: every step of a small convolution, as text, HTML or GIF."""
    parser = subparsers.add_parser(
        "explain", help="walk through a small convolution step by step",
        description="Slide a kernel over a small input and show each step: the window's "
                    "position, the patch, the element-wise products, their sum, and the "
                    "feature map filling up. Default: the seed's 4x4 image and 2x2 kernel.",
        epilog="examples:\n"
               "  ndconv explain\n"
               "  ndconv explain --image '[[1,2,3],[4,5,6],[7,8,9]]' -k box:2 --padding 1\n"
               "  ndconv explain --stride 2 --padding 1 --transposed --html seed.html\n"
               "  ndconv explain -k '[[1,0],[0,-1]]' --dilation 2 --padding 1 --gif seed.gif",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", metavar="IMAGE",
                        help="a small grey image file, a .npy/.txt/.csv matrix, or an inline "
                             "matrix such as '[[1,2],[3,4]]'")
    parser.add_argument("-k", "--kernel", metavar="KERNEL",
                        help="as for 'ndconv apply' (default: the seed's [[1,0],[0,-1]])")
    _add_conv_options(parser, transposed=True)
    parser.add_argument("--html", metavar="FILE",
                        help="write an interactive, self-contained HTML page instead of text")
    parser.add_argument("--gif", metavar="FILE", help="write an animated GIF instead of text")
    parser.add_argument("--force", action="store_true", help="replace existing files")
    parser.set_defaults(run=_run_explain)


# ---------------------------------------------------------------------------
# show
# ---------------------------------------------------------------------------

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _run_show(args: argparse.Namespace) -> int:
    kernels = _kernels(args.kernel)
    target = Path(args.output)
    if target.suffix.lower() not in FIGURE_SUFFIXES:
        raise UsageError(f"-o {args.output}: a figure is written as "
                         f"{', '.join(FIGURE_SUFFIXES)}")
    _check_new(target, args.force, [Path(args.input)])
    try:
        import matplotlib  # noqa: F401 - only to report a missing extra clearly
    except ImportError:
        raise ImportError("ndconv show needs matplotlib: pip install 'ndconv[viz]'") from None
    pixels = read_image(args.input, alpha=False)
    maps = {}
    with _progress(len(kernels), "map") as advance:
        for kernel in kernels:
            maps[kernel.label] = filter_image(pixels, kernel.weights, **_conv_options(args))
            advance()
    figure = feature_map_figure(pixels, {k.label: k.weights for k in kernels}, maps)

    def write(stream: IO[bytes]) -> None:
        figure.savefig(stream, format=target.suffix.lower()[1:], dpi=100)

    save_atomically(target, write, force=args.force)
    print(f"wrote {target}")
    return 0


def add_show(subparsers: argparse._SubParsersAction) -> None:
    """``ndconv show``: a figure of the input, each kernel and its feature map."""
    parser = subparsers.add_parser(
        "show", help="draw the input, kernels and feature maps side by side (needs matplotlib)",
        description="Draw a figure with one row per kernel: the input, the kernel and its "
                    "feature map (matplotlib, the 'viz' extra).",
        epilog="example:\n  ndconv show photo.png -k sobel-x -k sobel-y -k laplacian -o fig.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="INPUT", help="PNG, JPEG, TIFF or .npy image")
    parser.add_argument("-k", "--kernel", action="append", required=True, metavar="KERNEL",
                        help="as for 'ndconv apply'; repeat for several")
    parser.add_argument("-o", "--output", required=True, metavar="FIGURE",
                        help=f"the figure: {', '.join(FIGURE_SUFFIXES)}")
    _add_conv_options(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing figure")
    parser.set_defaults(run=_run_show)


# ---------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import format_report, run_demo

    if not Path(args.output).is_dir():
        raise UsageError(f"--output must be an existing directory; got {args.output!r}")
    print(format_report(run_demo(quick=args.quick, output_dir=args.output, seed=args.seed)))
    return 0


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    """``ndconv demo``: train a small CNN on the bundled 8x8 digits and draw its kernels."""
    parser = subparsers.add_parser(
        "demo", help="train a small CNN on scikit-learn's digits and draw what it learned",
        description="Train a small CNN (ndconv.nn, ndconv's own forward and backward passes) "
                    "on scikit-learn's bundled 8x8 digits, report the held-out accuracy and "
                    "write ndconv-demo.png: the learned first-layer kernels, their feature "
                    "maps, and Sobel edges of a photo. Needs the 'demo' extra.",
        epilog="example:\n  ndconv demo --quick --output /tmp",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few epochs only: a smoke test that runs in seconds")
    parser.add_argument("--output", default=".", metavar="DIR",
                        help="directory for the figure (default: the current directory)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(run=_run_demo)


# ---------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------


def _run_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    try:
        return bench_main(args.forwarded)
    except SystemExit as stop:  # its own argparse: --help (0), usage errors (2)
        return _exit_status(stop)


def add_bench(subparsers: argparse._SubParsersAction) -> None:
    """``ndconv bench ...``: every argument goes to ``python -m ndconv.bench``."""
    parser = subparsers.add_parser(
        "bench", add_help=False,
        help="time ndconv against its peers (ndconv bench --help for options)")
    parser.set_defaults(run=_run_bench, forward=True)


#: The subcommands, in the order ``ndconv --help`` lists them. To add one,
#: write an ``add_*`` function that registers a parser with ``run=handler``
#: and append it here.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_demo, add_apply, add_kernels, add_explain, add_show, add_bench,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``ndconv`` argument parser with every subcommand of :data:`SUBCOMMANDS`.

    Examples
    --------
    >>> build_parser().parse_args(["apply", "a.png", "-k", "sobel-x", "-o", "b.png"]).stride
    1
    """
    parser = argparse.ArgumentParser(
        prog="ndconv", description="Convolution as deep learning defines it, on NumPy arrays "
                                   "and image files.")
    parser.add_argument("--version", action="version", version=f"ndconv {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def _exit_status(stop: SystemExit) -> int:
    return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2


def _fail(message: str, status: int) -> int:
    print(f"ndconv: error: {' '.join(message.split())}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ndconv`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 1 failure, 2 usage error.

    Examples
    --------
    >>> main(["kernels", "sobel-z"])
    2
    """
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "forward", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:  # argparse exits for --help (0) and usage errors (2)
        return _exit_status(stop)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "forward", False):
        args.forwarded = extra
    try:
        with _quiet_logger("tifffile"):
            return args.run(args)
    except UsageError as error:
        return _fail(str(error), 2)
    except BrokenPipeError:
        # The reader went away (``ndconv kernels | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except FileExistsError as error:
        message = str(error) if error.filename is None else f"{error.filename} already exists"
        return _fail(f"{message}; use --force to replace it" if "--force" not in message
                     else message, 1)
    except (OSError, ValueError, TypeError, ImportError, MemoryError) as error:
        return _fail(str(error) or type(error).__name__, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
