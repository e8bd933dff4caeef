"""Image files in and out: PNG, JPEG, TIFF and ``.npy``, read safely and written atomically.

Reading decodes to float64 with the stored numbers unchanged (an 8-bit pixel
of 200 reads as 200.0), so what :func:`ndconv.correlate` sees is what the file
holds. :func:`image_info` gives the stored dtype and shape from the header
alone; files are recognised by their first bytes, not their names.

Every failure to read (missing, empty, truncated or corrupt file, unsupported
format or mode, an image larger than ``max_pixels``: a decompression bomb)
raises one :class:`ImageError` whose message starts with the file's name.

Writing goes to a temporary file in the destination's directory that is
renamed over the destination only when complete, so a reader sees the old
file or the new one, and a failure leaves neither a partial file nor a
temporary one. An existing file is replaced only with ``force=True``.

Pillow reads PNG and JPEG (8-bit grey, RGB, RGBA, 16-bit grey; palette, CMYK
and YCbCr images are converted to RGB(A)), tifffile reads TIFF (any of its
numeric dtypes, float32 included). Both come with the ``viz`` extra.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ramp.png"
>>> write_image(path, np.arange(12, dtype=np.uint8).reshape(3, 4))
PosixPath('...ramp.png')
>>> image_info(path).dtype, read_image(path)[1]
(dtype('uint8'), array([4., 5., 6., 7.]))
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

import numpy as np

from ._files import save_atomically
from ._shapes import check_choice
from .api import conv

if TYPE_CHECKING:
    import PIL.Image
    import tifffile
    from matplotlib.figure import Figure

__all__ = [
    "FORMAT_DTYPES",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "ImageError",
    "ImageInfo",
    "RangeError",
    "feature_map_figure",
    "filter_image",
    "image_info",
    "nominal_max",
    "read_image",
    "save_atomically",
    "to_dtype",
    "write_image",
]

#: Default limit on pixels per image: Pillow's ``Image.MAX_IMAGE_PIXELS``
#: (about 89.5 million, a 1 GiB RGB bitmap), applied to every format.
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3

#: Suffix -> format written by :func:`write_image`.
IMAGE_SUFFIXES: Mapping[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".npy": "NPY",
}

#: The dtypes each written format can hold.
FORMAT_DTYPES: Mapping[str, tuple[str, ...]] = {
    "PNG": ("uint8", "uint16"),
    "JPEG": ("uint8",),
    "TIFF": ("uint8", "uint16", "float32", "float64"),
    "NPY": ("uint8", "uint16", "float32", "float64"),
}

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"\x93NUMPY", "NPY"),
)

# Pillow mode -> the mode it is converted to before becoming an array.
_PILLOW_MODES = {
    "1": "L", "L": "L", "LA": "LA", "La": "LA", "PA": "RGBA", "RGB": "RGB", "RGBA": "RGBA",
    "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB",
    "I;16": "I;16", "I;16L": "I;16L", "I;16B": "I;16B", "I;16N": "I;16N", "I": "I", "F": "F",
}
_MODE_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_MODE_DTYPES = {"I": np.dtype(np.int32), "F": np.dtype(np.float32)}


class ImageError(OSError):
    """An image file that cannot be read or written; the message names the file."""


class RangeError(ValueError):
    """Values that do not fit the requested integer dtype (see :func:`to_dtype`)."""


@dataclass(frozen=True)
class ImageInfo:
    """What an image file holds, from its header.

    Attributes
    ----------
    path : pathlib.Path
    format : str
        ``"PNG"``, ``"JPEG"``, ``"TIFF"`` or ``"NPY"``.
    shape : tuple of int
        ``(H, W)`` for one channel, ``(H, W, C)`` otherwise, as :func:`read_image` returns.
    dtype : numpy.dtype
        The stored sample type (``uint8``, ``uint16``, ``float32``...).
    """

    path: Path
    format: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def pixels(self) -> int:
        """Number of pixels (height times width)."""
        return math.prod(self.shape[:2])


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _sniff(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            head = stream.read(8)
    except OSError as error:
        raise ImageError(f"{path}: cannot open ({error.strerror or error})") from None
    if not head:
        raise ImageError(f"{path}: the file is empty")
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    raise ImageError(f"{path}: not a PNG, JPEG, TIFF or .npy file")


def _pillow_target(image: PIL.Image.Image, path: Path) -> str:
    if image.mode == "P":
        return "RGBA" if "transparency" in image.info else "RGB"
    if image.mode not in _PILLOW_MODES:
        raise ImageError(f"{path}: unsupported image mode {image.mode!r}")
    return _PILLOW_MODES[image.mode]


def _pillow_info(image: PIL.Image.Image, target: str, path: Path, kind: str) -> ImageInfo:
    width, height = image.size
    channels = _MODE_CHANNELS.get(target, 1)
    dtype = _MODE_DTYPES.get(target, np.dtype(np.uint16 if target.startswith("I;16") else np.uint8))
    shape = (height, width) if channels == 1 else (height, width, channels)
    return ImageInfo(path, kind, shape, dtype)


def _tiff_layout(series: tifffile.TiffPageSeries, path: Path) -> tuple[tuple[int, ...], str]:
    """Shape (as read_image returns it) and axes of a TIFF series: one 2-D image only."""
    axes, shape = series.axes, tuple(series.shape)
    if axes == "YX":
        return shape, axes
    if axes == "YXS" and shape[2] <= 4:
        return (shape if shape[2] > 1 else shape[:2]), axes
    if axes == "SYX" and shape[0] <= 4:
        return ((shape[1], shape[2], shape[0]) if shape[0] > 1 else shape[1:]), axes
    raise ImageError(
        f"{path}: only single 2-D images with up to 4 channels are supported; "
        f"got a TIFF series of shape {shape} (axes {axes})"
    )


def _check_pixels(info: ImageInfo, max_pixels: int) -> None:
    if info.pixels > max_pixels:
        raise ImageError(
            f"{info.path}: {info.shape[1]}x{info.shape[0]} = {info.pixels} pixels exceeds the "
            f"limit of {max_pixels} (a decompression bomb?); raise max_pixels if it is expected"
        )


def _read(path: Path, max_pixels: int, decode: bool) -> tuple[ImageInfo, np.ndarray | None]:
    """Header (always) and pixels (if ``decode``) of an image file, size-checked first."""
    kind = _sniff(path)
    try:
        if kind == "NPY":
            return _read_npy(path, max_pixels, decode)
        if kind == "TIFF":
            return _read_tiff(path, max_pixels, decode)
        return _read_pillow(path, kind, max_pixels, decode)
    except ImageError:
        raise
    except Exception as error:  # decoders raise a zoo of types on corrupt input
        reason = str(error) or type(error).__name__
        raise ImageError(f"{path}: cannot read {kind} image ({reason})") from None


def _read_npy(path: Path, max_pixels: int, decode: bool) -> tuple[ImageInfo, np.ndarray | None]:
    # The header first: the size it claims is checked before anything is mapped or read.
    with path.open("rb") as stream:
        major, _ = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(stream)
        needed = stream.tell() + math.prod(shape) * dtype.itemsize
    if len(shape) in (2, 3):
        _check_pixels(ImageInfo(path, "NPY", shape, dtype), max_pixels)
    if path.stat().st_size < needed and not dtype.hasobject:
        raise ImageError(f"{path}: the file is truncated ({path.stat().st_size} bytes; its "
                         f"header describes {needed})")
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    if mapped.ndim not in (2, 3) or mapped.dtype.kind not in "biuf" or mapped.size == 0:
        raise ImageError(
            f"{path}: an image array must be non-empty real numbers of shape (H, W) or "
            f"(H, W, C); got shape {mapped.shape} and dtype {mapped.dtype}"
        )
    info = ImageInfo(path, "NPY", mapped.shape, mapped.dtype)
    _check_pixels(info, max_pixels)
    return info, np.array(mapped) if decode else None


def _read_tiff(path: Path, max_pixels: int, decode: bool) -> tuple[ImageInfo, np.ndarray | None]:
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        if not tiff.series:
            raise ImageError(f"{path}: the TIFF file holds no image")
        series = tiff.series[0]
        shape, axes = _tiff_layout(series, path)
        info = ImageInfo(path, "TIFF", shape, np.dtype(series.dtype))
        if info.dtype.kind not in "biuf":
            raise ImageError(f"{path}: unsupported TIFF sample type {info.dtype}")
        _check_pixels(info, max_pixels)
        if not decode:
            return info, None
        data = series.asarray()
    data = np.moveaxis(data, 0, -1) if axes == "SYX" else data
    return info, data.reshape(shape)


def _read_pillow(
    path: Path, kind: str, max_pixels: int, decode: bool
) -> tuple[ImageInfo, np.ndarray | None]:
    from PIL import Image

    with warnings.catch_warnings():
        # Pillow warns above its own limit and raises above twice that; ours is checked
        # below from the header, before anything is decoded.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path, formats=[kind])
        except Image.DecompressionBombError as error:
            raise ImageError(f"{path}: {error} (a decompression bomb?)") from None
    with image:
        target = _pillow_target(image, path)
        info = _pillow_info(image, target, path, kind)
        _check_pixels(info, max_pixels)
        if not decode:
            return info, None
        image.load()
        converted = image if image.mode == target else image.convert(target)
        return info, np.asarray(converted)


def image_info(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """The format, shape and stored dtype of an image file, from its header.

    Parameters
    ----------
    path : str or path-like
    max_pixels : int, default MAX_PIXELS
        Larger images raise :class:`ImageError`.

    Returns
    -------
    ImageInfo

    Raises
    ------
    ImageError
        As for :func:`read_image`, except for damage past the header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rgb.png"
    >>> _ = write_image(path, np.zeros((2, 3, 3), dtype=np.uint8))
    >>> image_info(path).shape
    (2, 3, 3)
    """
    return _read(Path(path), max_pixels, decode=False)[0]


def read_image(
    path: str | os.PathLike, *, alpha: bool = True, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Decode an image file to float64, the stored numbers unchanged.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG, TIFF or ``.npy`` file, recognised by its first bytes.
    alpha : bool, default True
        Keep an alpha channel; ``False`` drops it (grey+alpha becomes grey,
        RGBA becomes RGB).
    max_pixels : int, default MAX_PIXELS
        Refuse larger images from their header, before decoding.

    Returns
    -------
    ndarray of float64, shape (H, W) or (H, W, C)
        Values as stored: 0..255 for 8-bit, 0..65535 for 16-bit, as is for
        floats. :func:`image_info` gives the stored dtype.

    Raises
    ------
    ImageError
        A missing, empty, truncated, corrupt or oversized file, a format
        other than PNG/JPEG/TIFF/``.npy``, a multi-image TIFF, or an
        unsupported mode; the message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "deep.png"
    >>> _ = write_image(path, np.array([[0, 1000, 65535]], dtype=np.uint16))
    >>> read_image(path)
    array([[    0.,  1000., 65535.]])
    """
    _, data = _read(Path(path), max_pixels, decode=True)
    pixels = np.asarray(data, dtype=np.float64)
    if not alpha and pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        pixels = pixels[..., :-1]
        pixels = pixels[..., 0] if pixels.shape[2] == 1 else pixels
    return pixels


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its suffix {suffix!r}; "
            f"expected one of {', '.join(IMAGE_SUFFIXES)}"
        )
    return IMAGE_SUFFIXES[suffix]


def _check_writable(array: np.ndarray, kind: str, path: Path) -> None:
    allowed = FORMAT_DTYPES[kind]
    if array.dtype.name not in allowed:
        raise TypeError(
            f"{kind} cannot store {array.dtype} (writing {path}); expected one of "
            f"{', '.join(allowed)}: convert with ndconv.images.to_dtype"
        )
    if kind == "NPY":
        return
    channels = 1 if array.ndim == 2 else array.shape[2] if array.ndim == 3 else 0
    limit = {"PNG": 4 if array.dtype == np.uint8 else 1, "JPEG": 3, "TIFF": 4}[kind]
    if not 1 <= channels <= limit or (kind == "JPEG" and channels == 2):
        raise ValueError(
            f"{kind} cannot store an array of shape {array.shape} and dtype {array.dtype} "
            f"(writing {path}); expected (H, W) or (H, W, C) with C up to {limit}"
            + (" (16-bit PNG is grey only; use TIFF for 16-bit colour)" if kind == "PNG" else "")
        )
    if 0 in array.shape:
        raise ValueError(f"cannot write an empty image of shape {array.shape} to {path}")


def _writer(array: np.ndarray, kind: str) -> Callable[[IO[bytes]], None]:
    if kind == "NPY":
        return lambda stream: np.save(stream, array, allow_pickle=False)
    if kind == "TIFF":
        import tifffile

        channels = 1 if array.ndim == 2 else array.shape[2]
        data = array[..., 0] if channels == 1 and array.ndim == 3 else array
        options: dict[str, object] = {"photometric": "rgb" if channels >= 3 else "minisblack"}
        if channels in (2, 4):
            options.update(planarconfig="contig", extrasamples=["unassalpha"])
        return lambda stream: tifffile.imwrite(stream, data, **options)

    from PIL import Image

    data = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
    image = Image.fromarray(np.ascontiguousarray(data))
    options = {"quality": 95} if kind == "JPEG" else {}
    return lambda stream: image.save(stream, format=kind, **options)


def write_image(
    path: str | os.PathLike, array: np.ndarray, *, force: bool = False
) -> Path:
    """Write an array as PNG, JPEG, TIFF or ``.npy`` (by suffix), atomically.

    The array is stored with its own dtype; use :func:`to_dtype` to convert
    feature maps first.

    Parameters
    ----------
    path : str or path-like
        Ends in ``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff`` or ``.npy``.
    array : ndarray, shape (H, W) or (H, W, C)
        PNG: uint8 with 1-4 channels, or uint16 grey. JPEG: uint8 grey or RGB.
        TIFF: uint8, uint16, float32 or float64 with 1-4 channels. ``.npy``:
        those dtypes, any shape.
    force : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        Unknown suffix, or a shape the format cannot store.
    TypeError
        A dtype the format cannot store.
    FileExistsError, OSError
        As for :func:`save_atomically`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "map.tif"
    >>> _ = write_image(path, np.full((2, 2), -0.5, dtype=np.float32))
    >>> read_image(path)
    array([[-0.5, -0.5],
           [-0.5, -0.5]])
    """
    path = Path(path)
    array = np.asarray(array)
    kind = _format_of(path)
    _check_writable(array, kind, path)
    return save_atomically(path, _writer(array, kind), force=force)


# ---------------------------------------------------------------------------
# Values: from feature maps to storable numbers
# ---------------------------------------------------------------------------


def nominal_max(dtype: np.dtype | str) -> float:
    """Value of full intensity: the largest integer for integer dtypes, 1 for floats.

    >>> nominal_max("uint8"), nominal_max("uint16"), nominal_max("float32")
    (255.0, 65535.0, 1.0)
    """
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0


def to_dtype(
    values: np.ndarray,
    dtype: np.dtype | str,
    *,
    source_dtype: np.dtype | str | None = None,
    fit: Literal["error", "clip", "normalize"] = "error",
) -> np.ndarray:
    """Convert a feature map to a storable dtype, never wrapping or clipping silently.

    Float targets hold the raw values. Integer targets hold them rescaled
    from the source's nominal range to the target's (0..255 for uint8,
    0..65535 for uint16, 0..1 for floats: a uint8 image's map written as
    uint16 is multiplied by 257, a float image's map written as uint8 by
    255), then rounded.

    Parameters
    ----------
    values : ndarray
        The feature map (any shape).
    dtype : {"uint8", "uint16", "float32", "float64"}
        Target dtype.
    source_dtype : dtype, optional
        The dtype the input image was stored in; default: no rescaling.
    fit : {"error", "clip", "normalize"}, default "error"
        What to do with the range. "error": integer targets raise
        :class:`RangeError` for values outside ``0..max``. "clip": clip to
        ``0..max`` of the target (for float targets, to the source's nominal
        range). "normalize": map the finite minimum..maximum linearly onto
        ``0..max`` (``0..1`` for float targets); a constant map becomes 0.

    Returns
    -------
    ndarray of ``dtype``

    Raises
    ------
    RangeError
        NaN or infinity headed for an integer dtype, or values out of range
        with ``fit="error"``.
    ValueError
        Unknown ``dtype`` or ``fit``.

    Examples
    --------
    >>> to_dtype(np.array([0.0, 100.4, 255.0]), "uint8")
    array([  0, 100, 255], dtype=uint8)
    >>> to_dtype(np.array([-4.0, 0.0, 4.0]), "uint8", fit="normalize")
    array([  0, 128, 255], dtype=uint8)
    >>> to_dtype(np.array([0.5]), "uint8", source_dtype="float32")
    array([128], dtype=uint8)
    >>> to_dtype(np.array([-1.0, 300.0]), "uint8")
    Traceback (most recent call last):
    ndconv.images.RangeError: values span [-1, 300] once scaled for uint8, outside [0, 255]
    """
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    target = np.dtype(check_choice(name, FORMAT_DTYPES["TIFF"], "dtype"))
    fit = check_choice(fit, ("error", "clip", "normalize"), "fit")  # type: ignore[assignment]
    values = np.asarray(values, dtype=np.float64)
    is_integer = target.kind == "u"
    top = nominal_max(target)
    finite = values[np.isfinite(values)]
    if is_integer and finite.size != values.size:
        raise RangeError(f"{values.size - finite.size} values are NaN or infinite; "
                         f"{target} cannot store them")
    if fit == "normalize":
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        spread = high - low
        scaled = (values - low) / spread * top if spread > 0 else np.zeros_like(values)
    elif is_integer:
        source_top = nominal_max(source_dtype) if source_dtype is not None else top
        scaled = values * (top / source_top)
    else:
        scaled = values
    if fit == "clip":
        ceiling = top if is_integer or source_dtype is None else nominal_max(source_dtype)
        scaled = np.clip(scaled, 0.0, ceiling)
    if not is_integer:
        return scaled.astype(target)
    rounded = np.rint(scaled)
    if rounded.size and (rounded.min() < 0 or rounded.max() > top):
        raise RangeError(
            f"values span [{scaled.min():g}, {scaled.max():g}] once scaled for {target}, "
            f"outside [0, {top:g}]"
        )
    return rounded.astype(target)


# ---------------------------------------------------------------------------
# Convolution of images, and a figure
# ---------------------------------------------------------------------------


def filter_image(
    pixels: np.ndarray,
    kernel: np.ndarray,
    *,
    stride: int | Sequence[int] = 1,
    padding: int | str | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Correlate each channel of an image with one 2-D kernel (:func:`ndconv.conv`).

    Parameters
    ----------
    pixels : ndarray, shape (H, W) or (H, W, C)
        Channels last, as :func:`read_image` returns.
    kernel : ndarray, shape (kH, kW)
    stride, padding, dilation, padding_mode
        As for :func:`ndconv.conv`. ``padding="same"`` puts an even kernel's
        extra padding at the end, as ``conv`` does (``correlate(mode="same")``
        puts it at the start).

    Returns
    -------
    ndarray of float64, shape (H', W') or (H', W', C)

    Raises
    ------
    ValueError, TypeError
        As for :func:`ndconv.conv`, and for pixels that are not 2-D or 3-D.

    Examples
    --------
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> filter_image(image, np.array([[1.0, 0.0], [0.0, -1.0]]))
    array([[-5., -5., -5.],
           [-5., -5., -5.],
           [-5., -5., -5.]])
    >>> filter_image(np.ones((5, 5, 3)), np.ones((3, 3)), padding="same").shape
    (5, 5, 3)
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if pixels.ndim not in (2, 3):
        raise ValueError(f"pixels must have shape (H, W) or (H, W, C); got shape {pixels.shape}")
    # Channels become the batch axis: one single-channel convolution per channel.
    channels = pixels[np.newaxis] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    out = conv(
        channels[:, np.newaxis], kernel[np.newaxis, np.newaxis], stride=stride,
        padding=padding, dilation=dilation, padding_mode=padding_mode,  # type: ignore[arg-type]
    )[:, 0]
    return out[0] if pixels.ndim == 2 else np.moveaxis(out, 0, -1)


def _display(values: np.ndarray) -> tuple[np.ndarray, dict[str, object]]:
    """An array ready for ``imshow`` and its colour options."""
    if values.ndim == 3:
        shown = values[..., :3] if values.shape[2] >= 3 else values[..., 0]
        if shown.ndim == 3:
            low, high = float(np.nanmin(shown)), float(np.nanmax(shown))
            return (shown - low) / (high - low) if high > low else np.zeros_like(shown), {}
        values = shown
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if low < 0 < high:
        # Signed maps (edges, Laplacian): zero is the neutral colour.
        bound = max(-low, high)
        return values, {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    return values, {"cmap": "gray"}


def feature_map_figure(
    image: np.ndarray, kernels: Mapping[str, np.ndarray], maps: Mapping[str, np.ndarray]
) -> Figure:
    """A figure with one row per kernel: the input, the kernel and its feature map.

    Needs matplotlib (the ``viz`` extra); uses no pyplot state. Colour maps
    are shown per channel, stretched to the full range together; signed
    single-channel maps use a diverging colour map centred on zero.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    kernels : mapping of str to ndarray
        Label -> 2-D kernel.
    maps : mapping of str to ndarray
        Label -> feature map, with the same labels as ``kernels``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from ndconv.kernels import make_kernel
    >>> image = np.add.outer(np.arange(8.0), np.arange(8.0))
    >>> kernel = make_kernel("sobel-x")
    >>> fig = feature_map_figure(image, {"sobel-x": kernel},
    ...                          {"sobel-x": filter_image(image, kernel)})
    >>> len(fig.axes)  # input, kernel, feature map and its colour bar
    4
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.2 * len(kernels)), layout="constrained")
    axes = figure.subplots(len(kernels), 3, squeeze=False)
    for row, (label, kernel) in zip(axes, kernels.items()):
        shown, options = _display(image)
        row[0].imshow(shown, **options)
        row[0].set_title(f"input {image.shape}")
        bound = float(np.abs(kernel).max()) or 1.0
        row[1].imshow(kernel, cmap="RdBu_r", vmin=-bound, vmax=bound)
        if kernel.size <= 49:
            for (i, j), weight in np.ndenumerate(kernel):
                ink = "white" if abs(weight) > 0.6 * bound else "black"
                row[1].text(j, i, f"{weight:.3g}", ha="center", va="center", fontsize=8,
                            color=ink)
        row[1].set_title(f"kernel {label}")
        shown, options = _display(maps[label])
        picture = row[2].imshow(shown, **options)
        if shown.ndim == 2:
            figure.colorbar(picture, ax=row[2], shrink=0.8)
        row[2].set_title(f"feature map {maps[label].shape}")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    return figure
