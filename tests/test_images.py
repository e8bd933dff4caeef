"""Reading and writing image files: round trips, conversions, damaged files, atomic writes."""

import os
import struct
import zlib

import numpy as np
import pytest

import ndconv
from ndconv import _files, images
from ndconv.images import (
    ImageError,
    RangeError,
    filter_image,
    image_info,
    read_image,
    save_atomically,
    to_dtype,
    write_image,
)

Image = pytest.importorskip("PIL.Image")
tifffile = pytest.importorskip("tifffile")

RNG = np.random.default_rng(0)


def png_header_only(width, height):
    """A PNG whose header claims width x height pixels, with almost no data (a bomb)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def npy_header_only(shape, dtype="<f4"):
    """A .npy file whose header claims ``shape``, with no pixel data (a bomb, or truncated)."""
    import io

    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        stream, {"descr": dtype, "fortran_order": False, "shape": shape})
    return stream.getvalue()


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("name", "array"),
    [
        ("grey8.png", RNG.integers(0, 256, (7, 9), dtype=np.uint8)),
        ("rgb8.png", RNG.integers(0, 256, (7, 9, 3), dtype=np.uint8)),
        ("rgba8.png", RNG.integers(0, 256, (7, 9, 4), dtype=np.uint8)),
        ("grey16.png", RNG.integers(0, 65536, (7, 9), dtype=np.uint16)),
        ("grey8.tif", RNG.integers(0, 256, (7, 9), dtype=np.uint8)),
        ("rgb16.tif", RNG.integers(0, 65536, (7, 9, 3), dtype=np.uint16)),
        ("float32.tif", RNG.standard_normal((7, 9)).astype(np.float32)),
        ("float64.tiff", RNG.standard_normal((7, 9, 2))),
        ("any.npy", RNG.standard_normal((7, 9, 5))),
    ],
)
def test_lossless_round_trips(tmp_path, name, array):
    path = write_image(tmp_path / name, array)
    info = image_info(path)
    assert info.dtype == array.dtype and info.shape == array.shape
    decoded = read_image(path)
    assert decoded.dtype == np.float64
    np.testing.assert_array_equal(decoded, array.astype(np.float64))
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert leftovers(tmp_path) == []


def test_jpeg_colour_is_close_and_uint8(tmp_path):
    smooth = np.add.outer(np.arange(16), np.arange(16)).astype(np.uint8) * 4
    rgb = np.stack([smooth, smooth[::-1], smooth.T], axis=-1)
    path = write_image(tmp_path / "c.jpg", rgb)
    info = image_info(path)
    assert (info.format, info.shape, info.dtype) == ("JPEG", (16, 16, 3), np.uint8)
    assert np.abs(read_image(path) - rgb).mean() < 3


def test_alpha_can_be_dropped(tmp_path):
    rgba = RNG.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", rgba)
    np.testing.assert_array_equal(read_image(path, alpha=False), rgba[..., :3])
    grey_alpha = write_image(tmp_path / "la.tif", rgba[..., :2])
    np.testing.assert_array_equal(read_image(grey_alpha, alpha=False), rgba[..., 0])


def test_pillow_modes_are_converted_explicitly(tmp_path):
    palette = Image.fromarray(RNG.integers(0, 4, (5, 6), dtype=np.uint8), mode="L").convert("P")
    palette.save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").shape == (5, 6, 3)
    Image.new("1", (6, 5), 1).save(tmp_path / "bits.png")
    assert image_info(tmp_path / "bits.png").dtype == np.uint8
    np.testing.assert_array_equal(read_image(tmp_path / "bits.png"), 255.0)
    Image.new("CMYK", (6, 5), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert read_image(tmp_path / "cmyk.jpg").shape == (5, 6, 3)


def test_planar_tiff_is_read_channels_last(tmp_path):
    planes = RNG.integers(0, 65536, (3, 5, 6), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", planes, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_image(tmp_path / "planar.tif"), np.moveaxis(planes, 0, -1))


def test_format_comes_from_content_not_name(tmp_path):
    write_image(tmp_path / "really.png", np.zeros((2, 2), np.uint8))
    os.replace(tmp_path / "really.png", tmp_path / "named.tif")
    assert image_info(tmp_path / "named.tif").format == "PNG"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"bad\.img: the file is empty"),
        (b"hello, world\n", r"bad\.img: not a PNG, JPEG, TIFF or \.npy file"),
        (b"GIF89a" + b"\x00" * 20, r"bad\.img: not a PNG, JPEG, TIFF or \.npy file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 10, r"bad\.img: cannot read PNG image"),
        (b"II*\x00" + b"\xff" * 4, r"bad\.img: (cannot read TIFF image|the TIFF file holds no)"),
        (png_header_only(20000, 20000), r"bad\.img: .*decompression bomb"),
        (png_header_only(10000, 10000), r"bad\.img: 10000x10000 = 100000000 pixels exceeds"),
        (npy_header_only((100000, 100000)), r"bad\.img: 100000x100000 = 10000000000 pixels "
                                            r"exceeds the limit .* \(a decompression bomb\?\)"),
        (npy_header_only((30, 40)), r"bad\.img: the file is truncated \(128 bytes; its header "
                                    r"describes 4928\)"),
    ],
)
def test_unreadable_files_raise_one_error_naming_the_file(tmp_path, content, match):
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=match):
        read_image(path)


@pytest.mark.parametrize("name", ["t.png", "t.jpg", "t.tif"])
def test_truncated_files(tmp_path, name):
    noise = RNG.integers(0, 256, (64, 64), dtype=np.uint8)
    full = write_image(tmp_path / name, noise).read_bytes()
    path = tmp_path / f"cut-{name}"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ImageError, match=rf"cut-{name}: cannot read"):
        read_image(path)


def test_missing_file_and_limits(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.png: cannot open \(No such file"):
        read_image(tmp_path / "nope.png")
    for name in ("big.tif", "big.npy", "big.png"):
        write_image(tmp_path / name, np.zeros((20, 30), np.uint8))
        with pytest.raises(ImageError, match=rf"{name}: 30x20 = 600 pixels exceeds the limit"):
            image_info(tmp_path / name, max_pixels=599)
        assert read_image(tmp_path / name, max_pixels=600).shape == (20, 30)


def test_npy_inputs_must_look_like_images(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4, 5)))
    with pytest.raises(ImageError, match=r"cube\.npy: an image array .* shape \(2, 3, 4, 5\)"):
        read_image(tmp_path / "cube.npy")
    np.save(tmp_path / "obj.npy", np.array([[None]], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match=r"obj\.npy: cannot read NPY image"):
        read_image(tmp_path / "obj.npy")
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((5, 6, 7), np.uint8))
    with pytest.raises(ImageError, match=r"stack\.tif: only single 2-D images"):
        read_image(tmp_path / "stack.tif")


def test_existing_files_are_kept_unless_forced(tmp_path):
    path = write_image(tmp_path / "x.png", np.zeros((2, 2), np.uint8))
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        write_image(path, np.ones((2, 2), np.uint8))
    assert path.read_bytes() == before
    write_image(path, np.ones((2, 2), np.uint8), force=True)
    np.testing.assert_array_equal(read_image(path), 1.0)
    assert leftovers(tmp_path) == []


def test_failed_writes_leave_nothing(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"old")

    def half_then_fail(stream):
        stream.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_atomically(path, half_then_fail, force=True)
    assert path.read_bytes() == b"old"
    with pytest.raises(OSError, match="disk full"):
        save_atomically(tmp_path / "new.bin", half_then_fail)
    assert not (tmp_path / "new.bin").exists()
    assert leftovers(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="directory does not exist"):
        save_atomically(tmp_path / "no" / "x.bin", half_then_fail)


def test_unwritable_directory_names_the_output(tmp_path, monkeypatch):
    def refuse(**_):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.png.tmp"))

    # Simulated: the tests may run as root, who can write into read-only directories.
    monkeypatch.setattr(_files.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"cannot create a file in .* \(Permission denied\)"
                                              r": '.*x\.png'"):
        write_image(tmp_path / "x.png", np.zeros((2, 2), np.uint8))


def test_forced_replace_keeps_the_mode(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"old")
    path.chmod(0o600)
    save_atomically(path, lambda stream: stream.write(b"new"), force=True)
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("name", "array", "error", "match"),
    [
        ("x.gif", np.zeros((2, 2), np.uint8), ValueError, r"cannot tell the format.*'\.gif'"),
        ("x.png", np.zeros((2, 2)), TypeError, r"PNG cannot store float64"),
        ("x.jpg", np.zeros((2, 2), np.uint16), TypeError, r"JPEG cannot store uint16"),
        ("x.png", np.zeros((2, 2, 3), np.uint16), ValueError, r"16-bit PNG is grey only"),
        ("x.jpg", np.zeros((2, 2, 4), np.uint8), ValueError, r"C up to 3"),
        ("x.tif", np.zeros((2, 2, 5), np.float32), ValueError, r"C up to 4"),
        ("x.png", np.zeros((0, 2), np.uint8), ValueError, r"empty image"),
        ("x.npy", np.zeros(2, np.int64), TypeError, r"NPY cannot store int64"),
    ],
)
def test_write_rejects_what_the_format_cannot_hold(tmp_path, name, array, error, match):
    with pytest.raises(error, match=match):
        write_image(tmp_path / name, array)
    assert list(tmp_path.iterdir()) == []


def test_to_dtype_rules():
    maps = np.array([-2.0, 0.0, 100.4, 300.0])
    np.testing.assert_array_equal(to_dtype(maps, "uint8", fit="clip"), [0, 0, 100, 255])
    np.testing.assert_array_equal(to_dtype(maps, "uint16", fit="normalize"),
                                  np.rint((maps + 2) / 302 * 65535))
    np.testing.assert_array_equal(
        to_dtype(np.array([0.0, 255.0]), "uint16", source_dtype="uint8"), [0, 65535])
    np.testing.assert_array_equal(
        to_dtype(np.array([0.0, 65535.0]), "uint8", source_dtype="uint16"), [0, 255])
    np.testing.assert_array_equal(to_dtype(maps, "float32"), maps.astype(np.float32))
    np.testing.assert_array_equal(to_dtype(maps, "float64", source_dtype="uint8", fit="clip"),
                                  [0, 0, 100.4, 255])
    np.testing.assert_array_equal(to_dtype(maps, "float64", fit="normalize"),
                                  (maps + 2) / 302)
    np.testing.assert_array_equal(to_dtype(np.full(3, 5.0), "uint8", fit="normalize"), 0)
    with pytest.raises(RangeError, match=r"values span \[-2, 300\] once scaled for uint8"):
        to_dtype(maps, "uint8")
    with pytest.raises(RangeError, match=r"1 values are NaN or infinite; uint8 cannot"):
        to_dtype(np.array([1.0, np.nan]), "uint8", fit="clip")
    with pytest.raises(ValueError, match=r"dtype='int8' is not valid"):
        to_dtype(maps, "int8")
    with pytest.raises(ValueError, match=r"dtype='pixels' is not valid"):
        to_dtype(maps, "pixels")
    with pytest.raises(ValueError, match=r"fit='stretch' is not valid"):
        to_dtype(maps, "uint8", fit="stretch")


def test_filter_image_is_correlate_per_channel():
    rgb = RNG.standard_normal((9, 11, 3))
    kernel = RNG.standard_normal((3, 2))
    out = filter_image(rgb, kernel, padding="full")
    for c in range(3):
        np.testing.assert_allclose(out[..., c], ndconv.correlate(rgb[..., c], kernel, mode="full"),
                                   atol=1e-12)
    strided = filter_image(rgb[..., 0], kernel, stride=2, dilation=(1, 2), padding_mode="reflect",
                           padding=1)
    expected = ndconv.conv(rgb[None, None, ..., 0], kernel[None, None], stride=2, dilation=(1, 2),
                           padding_mode="reflect", padding=1)[0, 0]
    np.testing.assert_allclose(strided, expected, atol=1e-12)
    with pytest.raises(ValueError, match=r"pixels must have shape \(H, W\) or \(H, W, C\)"):
        filter_image(np.zeros(5), kernel)


def test_feature_map_figure_draws_colour_and_signed_maps():
    pytest.importorskip("matplotlib")
    rgb = RNG.random((8, 8, 3))
    kernels = {"a": np.ones((2, 2)), "b": np.array([[1.0, -1.0]])}
    maps = {label: filter_image(rgb, k) for label, k in kernels.items()}
    figure = images.feature_map_figure(rgb, kernels, maps)
    assert len(figure.axes) == 6  # colour maps get no colour bar
