"""A bank of named 2-D kernels, and loading kernels from files or inline text.

Every kernel is meant for :func:`ndconv.correlate` / :func:`ndconv.conv`, which
do not flip the kernel: ``sobel-x`` responds positively where intensity grows
to the right (increasing column index) and ``sobel-y`` where it grows
downwards (increasing row index). :func:`ndconv.convolve` flips the kernel, so
the derivative kernels change sign there.

Libraries give the same names different scales (a slope-1 ramp gives 2 under
scikit-image's ``sobel``, 8 under ``scipy.ndimage.sobel`` and ``cv2.Sobel``,
32 under ``cv2.Scharr``); each builder states its own. The derivative kernels
default to the integer taps of SciPy and OpenCV, and ``normalize=true`` divides
them so that a slope-1 ramp gives exactly 1.

A kernel is named by a spec string ``name[:params]``: parameters are
``key=value`` pairs separated by commas, and the first may be given by value
alone (``box:5`` is ``box:size=5``).

>>> make_kernel("sobel-x")
array([[-1.,  0.,  1.],
       [-2.,  0.,  2.],
       [-1.,  0.,  1.]])
>>> make_kernel("gaussian:sigma=2").shape
(17, 17)
>>> sorted(KERNELS)[:3]
['box', 'emboss', 'gabor']
"""

from __future__ import annotations

import ast
import inspect
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ._shapes import check_choice, is_integer

__all__ = [
    "KERNELS",
    "MAX_TAPS",
    "KernelInfo",
    "box",
    "emboss",
    "gabor",
    "gaussian",
    "identity",
    "kernel_source",
    "laplacian",
    "load_kernel",
    "load_matrix",
    "make_kernel",
    "prewitt_x",
    "prewitt_y",
    "scharr_x",
    "scharr_y",
    "sharpen",
    "sobel_x",
    "sobel_y",
]

#: File suffixes :func:`load_matrix` reads: NumPy's binary format, or text.
MATRIX_SUFFIXES = (".npy", ".txt", ".csv")


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def _check_positive(value: float, name: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {name}={value!r}")
    return float(value)


def _check_size(size: int, name: str, *, odd: bool) -> int:
    if size < 1 or (odd and size % 2 == 0):
        expected = "a positive odd int" if odd else "a positive int"
        raise ValueError(f"{name} must be {expected}; got {name}={size}")
    return size


#: Most taps a built kernel may have (a guard against typos like ``gaussian:sigma=1e6``).
MAX_TAPS = 1 << 24


def _check_taps(side: int, ndim: int) -> None:
    if side**ndim > MAX_TAPS:
        raise ValueError(
            f"the kernel would have {side}**{ndim} = {side**ndim} taps, more than "
            f"{MAX_TAPS}; choose a smaller size, sigma or ndim"
        )


def _outer(vectors: list[np.ndarray]) -> np.ndarray:
    """Separable N-D kernel from one 1-D profile per axis."""
    result = vectors[0]
    for vector in vectors[1:]:
        result = np.multiply.outer(result, vector)
    return result


def _derivative(smoothing: list[float], axis: int, normalize: bool) -> np.ndarray:
    """Central difference ``[-1, 0, 1]`` along ``axis``, ``smoothing`` across it."""
    smooth = np.array(smoothing, dtype=np.float64)
    kernel = np.outer(smooth, [-1.0, 0.0, 1.0])
    if normalize:
        # A slope-1 ramp gives 2 per row of the difference, weighted by the smoothing.
        kernel /= 2 * smooth.sum()
    return kernel if axis == 1 else np.ascontiguousarray(kernel.T)


def identity(*, size: int = 3, ndim: int = 2) -> np.ndarray:
    """The identity: 1 at the centre of a ``size``-wide cube of zeros.

    Scale: the output equals the input (with ``padding="same"``).

    Parameters
    ----------
    size : int, default 3
        Side length, a positive odd int.
    ndim : int, default 2
        Number of dimensions.

    Examples
    --------
    >>> identity()
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    """
    _check_size(size, "size", odd=True)
    _check_size(ndim, "ndim", odd=False)
    _check_taps(size, ndim)
    kernel = np.zeros((size,) * ndim)
    kernel[(size // 2,) * ndim] = 1.0
    return kernel


def box(*, size: int = 3, ndim: int = 2) -> np.ndarray:
    """Box (mean) filter: ``size**ndim`` equal weights.

    Scale: sums to 1, so a constant image is unchanged.

    Parameters
    ----------
    size : int, default 3
        Side length, a positive int (even sizes are allowed).
    ndim : int, default 2
        Number of dimensions.

    Examples
    --------
    >>> box(size=2)
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    _check_size(size, "size", odd=False)
    _check_size(ndim, "ndim", odd=False)
    _check_taps(size, ndim)
    return np.full((size,) * ndim, 1.0 / size**ndim)


def gaussian(*, sigma: float = 1.0, truncate: float = 4.0, ndim: int = 2) -> np.ndarray:
    """Gaussian blur with the weights of ``scipy.ndimage.gaussian_filter``.

    Scale: sums to 1. Size: ``2 * int(truncate * sigma + 0.5) + 1`` per axis,
    SciPy's and scikit-image's rule (sigma=2 gives 17). The 1-D profile is
    ``exp(-x**2 / (2 * sigma**2))`` sampled at integer offsets and normalised,
    so the N-D kernel is the outer product of the normalised profiles.

    Parameters
    ----------
    sigma : float, default 1.0
        Standard deviation in pixels, positive.
    truncate : float, default 4.0
        Radius in standard deviations.
    ndim : int, default 2
        Number of dimensions.

    Examples
    --------
    >>> k = gaussian(sigma=0.5)
    >>> k.shape, round(float(k.sum()), 12)
    ((5, 5), 1.0)
    """
    sigma = _check_positive(sigma, "sigma")
    truncate = _check_positive(truncate, "truncate")
    _check_size(ndim, "ndim", odd=False)
    radius = int(truncate * sigma + 0.5)
    _check_taps(2 * radius + 1, ndim)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    profile = np.exp(-0.5 * offsets**2 / sigma**2)
    profile /= profile.sum()
    return _outer([profile] * ndim)


def sobel_x(*, normalize: bool = False) -> np.ndarray:
    """Sobel derivative along x (columns): ``[-1, 0, 1]`` smoothed by ``[1, 2, 1]``.

    Scale: integer taps, as ``scipy.ndimage.sobel(axis=-1)`` and
    ``cv2.Sobel(dx=1)``; a slope-1 ramp gives 8 (scikit-image's ``sobel_v``
    gives 2). ``normalize=True`` divides by 8 so the ramp gives 1.

    Parameters
    ----------
    normalize : bool, default False
        Divide so that the output is the slope in units per pixel.

    Examples
    --------
    >>> sobel_x()
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    """
    return _derivative([1, 2, 1], 1, normalize)


def sobel_y(*, normalize: bool = False) -> np.ndarray:
    """Sobel derivative along y (rows, downwards): the transpose of :func:`sobel_x`.

    Scale: integer taps, a slope-1 ramp gives 8; ``normalize=True`` divides by 8.

    Parameters
    ----------
    normalize : bool, default False
        Divide so that the output is the slope in units per pixel.

    Examples
    --------
    >>> sobel_y()[:, 1]
    array([-2.,  0.,  2.])
    """
    return _derivative([1, 2, 1], 0, normalize)


def prewitt_x(*, normalize: bool = False) -> np.ndarray:
    """Prewitt derivative along x (columns): ``[-1, 0, 1]`` smoothed by ``[1, 1, 1]``.

    Scale: integer taps, as ``scipy.ndimage.prewitt(axis=-1)``; a slope-1 ramp
    gives 6 (scikit-image's ``prewitt_v`` gives 2). ``normalize=True`` divides
    by 6.

    Parameters
    ----------
    normalize : bool, default False
        Divide so that the output is the slope in units per pixel.

    Examples
    --------
    >>> prewitt_x(normalize=True)[0]
    array([-0.16666667,  0.        ,  0.16666667])
    """
    return _derivative([1, 1, 1], 1, normalize)


def prewitt_y(*, normalize: bool = False) -> np.ndarray:
    """Prewitt derivative along y (rows, downwards): the transpose of :func:`prewitt_x`.

    Scale: integer taps, a slope-1 ramp gives 6; ``normalize=True`` divides by 6.

    Parameters
    ----------
    normalize : bool, default False
        Divide so that the output is the slope in units per pixel.

    Examples
    --------
    >>> prewitt_y()[2]
    array([1., 1., 1.])
    """
    return _derivative([1, 1, 1], 0, normalize)


def scharr_x(*, normalize: bool = False) -> np.ndarray:
    """Scharr derivative along x (columns): ``[-1, 0, 1]`` smoothed by ``[3, 10, 3]``.

    Scale: integer taps, as ``cv2.Scharr(dx=1)``; a slope-1 ramp gives 32
    (scikit-image's ``scharr_v`` gives 2). ``normalize=True`` divides by 32.

    Parameters
    ----------
    normalize : bool, default False
        Divide so that the output is the slope in units per pixel.

    Examples
    --------
    >>> scharr_x()[:, 2]
    array([ 3., 10.,  3.])
    """
    return _derivative([3, 10, 3], 1, normalize)


def scharr_y(*, normalize: bool = False) -> np.ndarray:
    """Scharr derivative along y (rows, downwards): the transpose of :func:`scharr_x`.

    Scale: integer taps, a slope-1 ramp gives 32; ``normalize=True`` divides by 32.

    Parameters
    ----------
    normalize : bool, default False
        Divide so that the output is the slope in units per pixel.

    Examples
    --------
    >>> scharr_y()[0]
    array([ -3., -10.,  -3.])
    """
    return _derivative([3, 10, 3], 0, normalize)


def laplacian(*, neighbours: int = 4) -> np.ndarray:
    """Discrete Laplacian with a negative centre.

    Scale: the sign of ``scipy.ndimage.laplace`` and ``cv2.Laplacian(ksize=1)``
    (centre -4); scikit-image's ``laplace`` is the negative (centre +4). Sums
    to 0; ``x**2 + y**2`` gives 4 everywhere.

    Parameters
    ----------
    neighbours : {4, 8}, default 4
        4: ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``; 8 adds the diagonals,
        ``[[1, 1, 1], [1, -8, 1], [1, 1, 1]]`` (then ``x**2 + y**2`` gives 12).

    Examples
    --------
    >>> laplacian()
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    if neighbours not in (4, 8):
        raise ValueError(f"neighbours must be 4 or 8; got neighbours={neighbours}")
    kernel = np.ones((3, 3)) if neighbours == 8 else np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0.0]])
    kernel[1, 1] = -float(neighbours)
    return kernel


def sharpen(*, amount: float = 1.0) -> np.ndarray:
    """Sharpen: the identity minus ``amount`` times the 4-neighbour :func:`laplacian`.

    Scale: sums to 1, so flat regions are unchanged; ``amount=1`` gives the
    classic ``[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]``.

    Parameters
    ----------
    amount : float, default 1.0
        Strength; 0 gives the identity.

    Examples
    --------
    >>> sharpen()
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]])
    """
    if not math.isfinite(amount):
        raise ValueError(f"amount must be a finite number; got amount={amount!r}")
    return identity() - amount * laplacian()


def emboss() -> np.ndarray:
    """Emboss: a diagonal derivative plus the identity, ``[[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]``.

    Scale: sums to 1, so flat regions keep their value; edges rising towards
    the lower right get brighter.

    Examples
    --------
    >>> float(emboss().sum())
    1.0
    """
    return np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])


def gabor(
    *,
    theta: float = 0.0,
    sigma: float = 3.0,
    wavelength: float | None = None,
    gamma: float = 1.0,
    phase: float = 0.0,
    truncate: float = 3.0,
) -> np.ndarray:
    """Real Gabor kernel: a cosine wave under a Gaussian envelope (OpenCV's formula).

    ``exp(-(u**2 + gamma**2 * v**2) / (2 * sigma**2)) * cos(2*pi*u / wavelength - phase)``
    with ``u = x cos(theta) + y sin(theta)`` and ``v = -x sin(theta) + y cos(theta)``,
    where ``x`` is the column offset and ``y`` the row offset from the centre
    (rows grow downwards, so ``theta`` turns clockwise on screen). ``theta=0``
    varies along columns and detects vertical stripes; ``theta=90`` is its
    transpose. The taps equal ``cv2.getGaborKernel(size, sigma, radians(theta),
    wavelength, gamma, radians(phase))``.

    Scale: the peak tap is ``cos(phase)`` (1 by default), as OpenCV's; the
    kernel is not normalised and, for ``phase=0``, has a non-zero sum.
    Size: ``2 * int(truncate * sigma / min(gamma, 1) + 0.5) + 1`` per axis.

    Parameters
    ----------
    theta : float, default 0.0
        Direction of the wave, in degrees.
    sigma : float, default 3.0
        Standard deviation of the envelope along the wave, in pixels.
    wavelength : float, optional
        Period of the cosine in pixels; default ``2 * sigma`` (about 1.1
        octaves of bandwidth).
    gamma : float, default 1.0
        Aspect ratio of the envelope (its width across the wave is ``sigma / gamma``).
    phase : float, default 0.0
        Phase offset of the cosine, in degrees: 90 gives an odd, edge-like
        kernel, positive where ``u > 0`` (for ``theta=0`` it responds like
        ``sobel-x``).
    truncate : float, default 3.0
        Radius of the envelope in standard deviations.

    Examples
    --------
    >>> k = gabor(theta=30, sigma=3)
    >>> k.shape, float(k[9, 9])
    ((19, 19), 1.0)
    >>> bool(np.allclose(gabor(theta=90, sigma=2), gabor(theta=0, sigma=2).T))
    True
    """
    sigma = _check_positive(sigma, "sigma")
    gamma = _check_positive(gamma, "gamma")
    truncate = _check_positive(truncate, "truncate")
    wavelength = 2 * sigma if wavelength is None else _check_positive(wavelength, "wavelength")
    for name, value in (("theta", theta), ("phase", phase)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of degrees; got {name}={value!r}")
    radius = int(truncate * sigma / min(gamma, 1.0) + 0.5)
    _check_taps(2 * radius + 1, 2)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    x, y = offsets[np.newaxis, :], offsets[:, np.newaxis]
    angle = math.radians(theta)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    envelope = np.exp(-(u**2 + gamma**2 * v**2) / (2 * sigma**2))
    return envelope * np.cos(2 * math.pi * u / wavelength - math.radians(phase))


# ---------------------------------------------------------------------------
# Registry and spec parsing
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelInfo:
    """One named kernel of the bank: its builder and its parameters.

    Attributes
    ----------
    name : str
        The name used in spec strings, e.g. ``"sobel-x"``.
    build : callable
        The builder; its keyword-only parameters are the kernel's parameters.
    parameters : mapping of str to (type, default)
        Parameter types (``int``, ``float`` or ``bool``) and defaults, in order.

    Examples
    --------
    >>> info = KERNELS["gaussian"]
    >>> {name: default for name, (kind, default) in info.parameters.items()}
    {'sigma': 1.0, 'truncate': 4.0, 'ndim': 2}
    >>> info.summary
    'Gaussian blur with the weights of ``scipy.ndimage.gaussian_filter``.'
    """

    name: str
    build: Callable[..., np.ndarray]

    @property
    def parameters(self) -> Mapping[str, tuple[type, object]]:
        """Each parameter's type and default, in signature order."""
        hints = typing.get_type_hints(self.build)
        result = {}
        for name, parameter in inspect.signature(self.build).parameters.items():
            kind = next(t for t in (bool, int, float) if t in typing.get_args(hints[name])
                        or hints[name] is t)
            result[name] = (kind, parameter.default)
        return MappingProxyType(result)

    @property
    def summary(self) -> str:
        """The first line of the builder's docstring."""
        return (self.build.__doc__ or "").strip().splitlines()[0]

    @property
    def doc(self) -> str:
        """The builder's docstring, dedented."""
        return inspect.cleandoc(self.build.__doc__ or "")


#: The bank: name -> :class:`KernelInfo`. Read-only.
KERNELS: Mapping[str, KernelInfo] = MappingProxyType({
    info.name: info
    for info in (
        KernelInfo("identity", identity),
        KernelInfo("box", box),
        KernelInfo("gaussian", gaussian),
        KernelInfo("sobel-x", sobel_x),
        KernelInfo("sobel-y", sobel_y),
        KernelInfo("prewitt-x", prewitt_x),
        KernelInfo("prewitt-y", prewitt_y),
        KernelInfo("scharr-x", scharr_x),
        KernelInfo("scharr-y", scharr_y),
        KernelInfo("laplacian", laplacian),
        KernelInfo("sharpen", sharpen),
        KernelInfo("emboss", emboss),
        KernelInfo("gabor", gabor),
    )
})

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _parse_value(text: str, kind: type, where: str) -> object:
    """Parse one parameter value of a spec string into ``kind``."""
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        return kind(text)
    except ValueError:
        expected = {bool: "true or false", int: "an int", float: "a number"}[kind]
        raise ValueError(f"{where} must be {expected}; got {text!r}") from None


def _check_value(value: object, kind: type, where: str) -> object:
    """Check a parameter passed as a Python value (not text)."""
    ok = {
        bool: isinstance(value, (bool, np.bool_)),
        int: is_integer(value),
        float: isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_)),
    }[kind]
    if not ok:
        raise TypeError(f"{where} must be {kind.__name__}; got {value!r} ({type(value).__name__})")
    return kind(value)  # type: ignore[operator]


def _parse_spec(spec: str) -> tuple[KernelInfo, dict[str, object]]:
    """Split ``name[:params]`` into the bank entry and typed parameters."""
    name, _, arguments = spec.strip().partition(":")
    info = KERNELS[check_choice(name.strip().lower(), tuple(KERNELS), "kernel")]
    parameters = info.parameters
    params: dict[str, object] = {}
    items = [item for item in arguments.split(",") if item.strip()] if arguments else []
    for index, item in enumerate(items):
        key, equals, text = item.partition("=")
        if not equals:
            if index > 0 or not parameters:
                names = ", ".join(parameters) or "none"
                raise ValueError(
                    f"kernel {spec!r}: only the first parameter may be given without a name; "
                    f"write key=value (parameters of {info.name!r}: {names})"
                )
            key, text = next(iter(parameters)), item
        key = check_choice(key.strip(), tuple(parameters), f"parameter of kernel {info.name!r}")
        if key in params:
            raise ValueError(f"kernel {spec!r}: parameter {key!r} is given twice")
        params[key] = _parse_value(text, parameters[key][0], f"{info.name} parameter {key}")
    return info, params


def make_kernel(spec: str, **params: object) -> np.ndarray:
    """Build a kernel of the bank from a spec string ``name[:params]``.

    Parameters
    ----------
    spec : str
        A name of :data:`KERNELS`, optionally followed by ``:`` and
        comma-separated ``key=value`` parameters; the first parameter may be
        given by value alone (``"box:5"``, ``"gaussian:sigma=2"``,
        ``"gabor:theta=30,sigma=3"``). Names are case-insensitive.
    **params
        Parameters as Python values, merged with those in ``spec``.

    Returns
    -------
    ndarray of float64
        A new array; its scale convention is stated by the builder's docstring
        (``help(ndconv.kernels.gaussian)`` or ``ndconv kernels gaussian``).

    Raises
    ------
    ValueError
        Unknown kernel or parameter name (with the closest valid one), a
        parameter given twice, or a value out of range.
    TypeError
        ``spec`` is not a string, or a keyword parameter has the wrong type.

    Examples
    --------
    >>> make_kernel("box:2")
    array([[0.25, 0.25],
           [0.25, 0.25]])
    >>> make_kernel("gaussian", sigma=0.5).shape
    (5, 5)
    >>> make_kernel("gausian:2")
    Traceback (most recent call last):
    ValueError: kernel='gausian' is not valid; expected one of ... (did you mean 'gaussian'?)
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string such as 'gaussian:sigma=2'; got {spec!r}")
    info, parsed = _parse_spec(spec)
    parameters = info.parameters
    for key, value in params.items():
        key = check_choice(key, tuple(parameters), f"parameter of kernel {info.name!r}")
        if key in parsed:
            raise ValueError(f"kernel {spec!r}: parameter {key!r} is given twice")
        parsed[key] = _check_value(value, parameters[key][0], f"{info.name} parameter {key}")
    return info.build(**parsed)


def _as_matrix(data: object, source: str) -> np.ndarray:
    """Check that loaded data is a non-empty finite real array; return it as float64."""
    try:
        array = np.array(data, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{source}: expected a rectangular array of real numbers ({error})"
        ) from None
    if array.ndim == 0 or array.size == 0:
        raise ValueError(f"{source}: expected a non-empty array of at least 1 dim; "
                         f"got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{source}: the matrix contains NaN or infinity")
    return array


def load_matrix(text_or_path: str | Path) -> np.ndarray:
    """Read a matrix from an inline literal, a ``.npy`` file or a text file.

    Parameters
    ----------
    text_or_path : str or path
        An inline matrix such as ``"[[0,1,0],[1,-4,1],[0,1,0]]"`` (nested
        lists of numbers, any number of dims); or the path of a ``.npy`` file
        (read without pickles) or a ``.txt``/``.csv`` file (rows of numbers
        separated by whitespace or commas, read as a 2-D matrix).

    Returns
    -------
    ndarray of float64
        At least 1-D, non-empty and finite.

    Raises
    ------
    ValueError
        Malformed or ragged literals, empty or non-finite matrices, suffixes
        other than ``.npy``, ``.txt`` and ``.csv``.
    OSError
        The file cannot be read (the message names it).

    Examples
    --------
    >>> load_matrix("[[0, 1, 0], [1, -4, 1], [0, 1, 0]]")[1]
    array([ 1., -4.,  1.])
    >>> load_matrix("[[1, 2], [3]]")
    Traceback (most recent call last):
    ValueError: inline matrix: expected a rectangular array of real numbers ...
    """
    if isinstance(text_or_path, str) and text_or_path.lstrip().startswith("["):
        try:
            literal = ast.literal_eval(text_or_path.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(
                f"inline matrix {text_or_path!r} is not a list of numbers such as "
                f"'[[0,1,0],[1,-4,1],[0,1,0]]'"
            ) from None
        return _as_matrix(literal, "inline matrix")
    if not isinstance(text_or_path, (str, Path)):
        raise TypeError(f"text_or_path must be a string or a path; got {text_or_path!r}")
    path = Path(text_or_path)
    suffix = path.suffix.lower()
    if suffix not in MATRIX_SUFFIXES:
        raise ValueError(
            f"{path}: a kernel file must end in {', '.join(MATRIX_SUFFIXES)}; got {suffix!r}"
        )
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            data = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2)
    except OSError as error:
        raise OSError(f"{path}: cannot read the kernel file ({error.strerror or error})") from None
    except ValueError as error:
        raise ValueError(f"{path}: not a matrix of numbers ({error})") from None
    return _as_matrix(data, str(path))


def kernel_source(text: str) -> str:
    """Which form a ``-k`` text is, decided by the text alone: "inline", "file" or "bank".

    A text starting with ``[`` is an inline matrix; one ending in
    ``.npy``/``.txt``/``.csv`` or containing a path separator is a file;
    anything else names a kernel of the bank.

    >>> kernel_source("[[1, 0], [0, -1]]"), kernel_source("k.npy"), kernel_source("box:5")
    ('inline', 'file', 'bank')
    """
    text = text.strip()
    if text.startswith("["):
        return "inline"
    if text.lower().endswith(MATRIX_SUFFIXES) or "/" in text or "\\" in text:
        return "file"
    return "bank"


def load_kernel(text_or_path: str | Path) -> np.ndarray:
    """A kernel from a bank spec, an inline matrix or a file, as the CLI's ``-k`` reads it.

    The form is decided by the text alone (:func:`kernel_source`), never by
    what happens to exist on disk: inline matrices and files (and path
    objects) go to :func:`load_matrix`, anything else is a spec for
    :func:`make_kernel`.

    Parameters
    ----------
    text_or_path : str or path

    Returns
    -------
    ndarray of float64

    Raises
    ------
    ValueError, TypeError, OSError
        As for :func:`make_kernel` and :func:`load_matrix`.

    Examples
    --------
    >>> load_kernel("[[1, 0], [0, -1]]")
    array([[ 1.,  0.],
           [ 0., -1.]])
    >>> load_kernel("laplacian:8")[1, 1]
    np.float64(-8.0)
    """
    if isinstance(text_or_path, str) and kernel_source(text_or_path) == "bank":
        return make_kernel(text_or_path)
    return load_matrix(text_or_path)
