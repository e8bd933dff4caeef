"""The ndconv command end to end, on real image files in a temporary directory."""

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import ndconv
from ndconv import cli
from ndconv.images import read_image, to_dtype, write_image
from ndconv.kernels import make_kernel

pytest.importorskip("PIL")
pytest.importorskip("tifffile")

RNG = np.random.default_rng(0)


@pytest.fixture
def files(tmp_path):
    """Real files of every supported kind, and the arrays they decode to."""
    written = {
        "grey8.png": RNG.integers(0, 256, (24, 30), dtype=np.uint8),
        "grey16.png": RNG.integers(0, 65536, (24, 30), dtype=np.uint16),
        "float32.tif": RNG.standard_normal((24, 30)).astype(np.float32),
        "colour.jpg": RNG.integers(0, 256, (24, 30, 3), dtype=np.uint8),
    }
    for name, array in written.items():
        write_image(tmp_path / name, array)
    return tmp_path


def run(*args, cwd=None):
    """The console script in a subprocess (as a user runs it)."""
    script = shutil.which("ndconv", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "ndconv"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def one_error_line(stderr, *fragments):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ndconv: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def names(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("name", ["grey8.png", "grey16.png", "float32.tif", "colour.jpg"])
@pytest.mark.parametrize(
    ("kernel", "padding", "mode"),
    [("sobel-x", "valid", "valid"), ("gaussian:sigma=1", "same", "same"),
     ("[[0,1,0],[1,-4,1],[0,1,0]]", "full", "full"), ("[[1,0],[0,-1]]", "valid", "valid")],
)
def test_apply_equals_correlate_on_the_decoded_arrays(files, name, kernel, padding, mode):
    before = digest(files / name)
    out = files / "map.npy"
    assert cli.main(["apply", str(files / name), "-k", kernel, "--padding", padding,
                     "-o", str(out)]) == 0
    decoded = read_image(files / name)
    weights = make_kernel(kernel) if kernel[0] != "[" else np.array(eval(kernel), float)
    channels = decoded[..., None] if decoded.ndim == 2 else decoded
    expected = np.stack([ndconv.correlate(channels[..., c], weights, mode=mode)
                         for c in range(channels.shape[-1])], axis=-1)
    result = np.load(out)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, expected.reshape(result.shape), rtol=1e-10, atol=1e-9)
    assert digest(files / name) == before


def test_apply_writes_images_in_the_input_range(files, capsys):
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "sobel-x", "--abs",
                     "--normalize", "-o", str(files / "edges.png")]) == 0
    assert "wrote" in capsys.readouterr().out
    magnitude = np.abs(ndconv.correlate(read_image(files / "grey8.png"), make_kernel("sobel-x")))
    np.testing.assert_array_equal(read_image(files / "edges.png"),
                                  to_dtype(magnitude, "uint8", fit="normalize"))
    # 16-bit grey stays 16-bit; a blur stays within the range, no flag needed.
    assert cli.main(["apply", str(files / "grey16.png"), "-k", "box:3", "-o",
                     str(files / "blur16.png")]) == 0
    blurred = ndconv.correlate(read_image(files / "grey16.png"), make_kernel("box:3"))
    np.testing.assert_array_equal(read_image(files / "blur16.png"), np.rint(blurred))
    # Float TIFF in [0, 1] convention scaled to 8 bits; colour JPEG stays colour.
    assert cli.main(["apply", str(files / "colour.jpg"), "-k", "box:3", "-o",
                     str(files / "blur.jpg")]) == 0
    assert read_image(files / "blur.jpg").shape == (22, 28, 3)
    assert cli.main(["apply", str(files / "float32.tif"), "-k", "identity", "--clip",
                     "--dtype", "uint16", "-o", str(files / "f.tif")]) == 0
    expected = np.rint(np.clip(read_image(files / "float32.tif")[1:-1, 1:-1] * 65535, 0, 65535))
    np.testing.assert_array_equal(read_image(files / "f.tif"), expected)


def test_apply_out_of_range_fails_and_writes_nothing(files, capsys):
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "laplacian",
                     "-o", str(files / "lap.png")]) == 1
    one_error_line(capsys.readouterr().err, "lap.png", "--clip, --normalize or --abs")
    assert not (files / "lap.png").exists()
    assert not [n for n in names(files) if n.startswith(".")]


def test_apply_many_files_and_kernels(files):
    inputs = [files / "grey8.png", files / "colour.jpg"]
    (files / "out").mkdir()
    assert cli.main(["apply", *map(str, inputs), "-k", "sobel-x", "-k", "sobel-y",
                     "--padding", "same", "-o", str(files / "out" / "{stem}.tif")]) == 0
    assert names(files / "out") == ["colour-sobel-x.tif", "colour-sobel-y.tif",
                                    "grey8-sobel-x.tif", "grey8-sobel-y.tif"]
    assert read_image(files / "out" / "colour-sobel-y.tif").shape == (24, 30, 3)
    assert cli.main(["apply", *map(str, inputs), "-k", "sobel-x", "-k", "sobel-y",
                     "--padding", "same", "-o", str(files / "out" / "{stem}.npy")]) == 0
    stacked = np.load(files / "out" / "grey8.npy")
    assert stacked.shape == (2, 24, 30)
    np.testing.assert_allclose(
        stacked[1], ndconv.correlate(read_image(inputs[0]), make_kernel("sobel-y"), mode="same"))


def test_kernel_files_and_labels(files, capsys):
    (files / "a").mkdir()
    (files / "b").mkdir()
    np.save(files / "a" / "k.npy", np.ones((2, 2)))
    np.savetxt(files / "b" / "k.txt", [[1.0, -1.0]])
    assert cli.main(["apply", str(files / "grey8.png"), "-k", str(files / "a" / "k.npy"),
                     "-k", str(files / "b" / "k.txt"), "-k", "box", "-k", "box",
                     "-o", str(files / "m.tif")]) == 0
    assert {"m-k.tif", "m-k-2.tif", "m-box.tif", "m-box-4.tif"} <= set(names(files))
    (files / "bad.txt").write_text("1 x\n")
    assert cli.main(["apply", str(files / "grey8.png"), "-k", str(files / "bad.txt"),
                     "-o", str(files / "bad.tif")]) == 1
    one_error_line(capsys.readouterr().err, "bad.txt: not a matrix of numbers")


def test_apply_strided_dilated_and_padding_modes(files):
    out = files / "s.npy"
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "scharr-y", "--stride", "2,3",
                     "--dilation", "2", "--padding", "2", "--padding-mode", "reflect",
                     "-o", str(out)]) == 0
    x = read_image(files / "grey8.png")
    expected = ndconv.conv(x[None, None], make_kernel("scharr-y")[None, None], stride=(2, 3),
                           dilation=2, padding=2, padding_mode="reflect")[0, 0]
    np.testing.assert_allclose(np.load(out), expected)


def test_existing_outputs_need_force(files, capsys):
    out = files / "e.tif"
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "box:3", "-o", str(out)]) == 0
    before = digest(out)
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "box:5", "-o", str(out)]) == 1
    one_error_line(capsys.readouterr().err, "e.tif already exists", "--force")
    assert digest(out) == before
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "box:5", "-o", str(out),
                     "--force"]) == 0
    assert read_image(out).shape == (20, 26)


def test_outputs_never_replace_inputs(files, capsys):
    source = files / "grey8.png"
    before = digest(source)
    assert cli.main(["apply", str(source), "-k", "box:3", "--force", "-o", str(source)]) == 2
    one_error_line(capsys.readouterr().err, "the output is one of the inputs")
    assert digest(source) == before


def png_bomb(width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("empty.png", b"", "the file is empty"),
        ("text.png", b"not an image\n", "not a PNG, JPEG, TIFF or .npy file"),
        ("bomb.png", png_bomb(30000, 30000), "decompression bomb"),
        ("large.png", png_bomb(10000, 10000), "pixels exceeds the limit"),
        ("missing.png", None, "cannot open"),
    ],
    ids=["empty", "text", "bomb", "large", "missing"],
)
def test_bad_inputs_fail_with_one_line_and_leave_nothing(files, name, content, fragment):
    if content is not None:
        (files / name).write_bytes(content)
    before = names(files)
    result = run("apply", files / name, "-k", "sobel-x", "-o", files / "out.png")
    assert result.returncode == 1
    one_error_line(result.stderr, name, fragment)
    assert names(files) == before


@pytest.mark.parametrize("name", ["grey8.png", "colour.jpg", "float32.tif"])
def test_truncated_inputs(files, capsys, name):
    data = (files / name).read_bytes()
    (files / f"cut-{name}").write_bytes(data[: len(data) // 2])
    before = names(files)
    assert cli.main(["apply", str(files / f"cut-{name}"), "-k", "box:3",
                     "-o", str(files / "out.npy")]) == 1
    one_error_line(capsys.readouterr().err, f"cut-{name}", "cannot read")
    assert names(files) == before


def write_damaged(directory, name):
    """A damaged or unsupported input file, made from scratch or from a good one."""
    import tifffile

    path = directory / name
    if name == "corrupt.png":  # bytes flipped inside the compressed data: its checksum fails
        data = bytearray((directory / "grey8.png").read_bytes())
        middle = len(data) // 2
        data[middle : middle + 16] = bytes(255 - b for b in data[middle : middle + 16])
        path.write_bytes(bytes(data))
    elif name == "complex.tif":
        tifffile.imwrite(path, np.zeros((4, 5), np.complex64))
    elif name == "six-channels.tif":
        tifffile.imwrite(path, np.zeros((4, 5, 6), np.uint8), photometric="minisblack",
                         planarconfig="contig")
    elif name == "bomb.npy":  # a header claiming 10^10 pixels and no data
        with path.open("wb") as stream:
            np.lib.format.write_array_header_1_0(
                stream, {"descr": "<f4", "fortran_order": False, "shape": (100000, 100000)})
    else:  # "cut.npy": a whole header, half the pixels
        np.save(path, np.zeros((30, 40), np.float32))
        path.write_bytes(path.read_bytes()[:-2400])


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("corrupt.png", "cannot read PNG image"),
        ("complex.tif", "unsupported TIFF sample type complex64"),
        ("six-channels.tif", "only single 2-D images with up to 4 channels are supported"),
        ("bomb.npy", "(a decompression bomb?)"),
        ("cut.npy", "the file is truncated"),
    ],
)
def test_damaged_and_unsupported_inputs_leave_every_file_as_it_was(files, capsys, name, fragment):
    write_damaged(files, name)
    before = {path.name: digest(path) for path in files.iterdir()}
    # A good input first: nothing may be written for it either.
    assert cli.main(["apply", str(files / "grey8.png"), str(files / name), "-k", "box:3",
                     "-o", str(files / "{stem}-out.tif")]) == 1
    one_error_line(capsys.readouterr().err, name, fragment)
    assert {path.name: digest(path) for path in files.iterdir()} == before


def test_a_failed_write_leaves_no_partial_file(files, capsys, monkeypatch):
    def broken_writer(array, kind):
        def write(stream):
            stream.write(b"half an image")
            raise OSError("No space left on device")
        return write

    monkeypatch.setattr("ndconv.images._writer", broken_writer)
    before = names(files)
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "box:3",
                     "-o", str(files / "out.tif")]) == 1
    one_error_line(capsys.readouterr().err, "No space left on device")
    assert names(files) == before


def test_a_bad_second_input_fails_before_anything_is_written(files, capsys):
    (files / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    before = names(files)
    assert cli.main(["apply", str(files / "grey8.png"), str(files / "bad.png"), "-k", "box:3",
                     "-o", str(files / "{stem}-out.tif")]) == 1
    one_error_line(capsys.readouterr().err, "bad.png")
    assert names(files) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["apply", "a.png", "-k", "sobl-x", "-o", "b.png"], "did you mean 'sobel-x'"),
        (["apply", "a.png", "-k", "[[1,2],[3]]", "-o", "b.png"], "rectangular"),
        (["apply", "a.png", "-o", "b.png"], "the following arguments are required: -k"),
        (["apply", "a.png", "-k", "box", "-o", "b.png", "--padding", "sme"], "--padding"),
        (["apply", "a.png", "-k", "box", "-o", "b.png", "--stride", "0"], "--stride"),
        (["apply", "a.png", "-k", "box", "-o", "b.png", "--normalize", "--clip"],
         "not allowed with argument"),
        (["apply", "a.png", "c.png", "-k", "box", "-o", "b.png"], "several inputs need {stem}"),
        (["apply", "a.png", "-k", "box", "-o", "b.bmp"], "the suffix must be one of"),
        (["apply", "a.png", "-k", "box", "-o", "b.png", "--dtype", "float32"],
         "PNG stores uint8, uint16"),
        (["apply", "a.png", "-k", "box", "-o", "{nope}.png"], "only {stem} and {kernel}"),
        (["explain", "--image", "[[1,2],[3,4]]", "-k", "[1,2]"], "same number of dims"),
        (["show", "a.png", "-k", "box", "-o", "f.jpg"], "a figure is written as"),
        (["kernels", "gausian"], "did you mean 'gaussian'"),
        (["frobnicate"], "invalid choice"),
        ([], "usage: ndconv"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, args, fragment, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(args) == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("command", ["apply", "kernels", "explain", "show", "bench"])
def test_every_subcommand_has_help(capsys, command):
    assert cli.main([command, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_console_script_end_to_end(files):
    out = files / "edges.png"
    result = run("apply", "grey8.png", "-k", "sobel-y", "--abs", "--clip", "-o", out.name,
                 cwd=files)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert result.stdout == "wrote edges.png (22x28, uint8)\n"
    assert run("--help").returncode == 0
    assert run("apply").returncode == 2
    assert run("--version").stdout.strip() == f"ndconv {ndconv.__version__}"


def test_kernels_lists_the_bank(capsys):
    assert cli.main(["kernels"]) == 0
    out = capsys.readouterr().out
    for name in ("sobel-x", "sobel-y", "prewitt-x", "scharr-y", "laplacian", "gaussian", "box",
                 "sharpen", "emboss", "gabor", "identity"):
        assert f"\n{name}" in "\n" + out
    assert "[[-1.  0.  1.]" in out and "(the centre 5x5 of 19x19)" in out
    assert cli.main(["kernels", "gaussian:sigma=2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gaussian:sigma=2 (17x17)") and "Scale: sums to 1" in out


def test_explain_default_is_the_seed_walkthrough(capsys):
    assert cli.main(["explain"]) == 0
    out = capsys.readouterr().out
    assert "out[0, 0] = 1*1 + 2*0 + 0*0 + 1*(-1) = 0" in out
    assert "out[2, 2] = 0*1 + 1*0 + 2*0 + 3*(-1) = -3" in out
    assert out.rstrip().endswith("2  -1  -3")


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "ndconv", "explain", "--stride", "2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "stride 2" in result.stdout and "2x2 output" in result.stdout


def test_explain_writes_html_and_gif(files, capsys):
    html, gif = files / "seed.html", files / "seed.gif"
    assert cli.main(["explain", "--padding", "1", "--html", str(html), "--gif", str(gif)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {html}", f"wrote {gif}"]
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert gif.read_bytes()[:6] == b"GIF89a"
    assert cli.main(["explain", "--html", str(html)]) == 1
    one_error_line(capsys.readouterr().err, "seed.html already exists")


def test_explain_inputs(files, capsys):
    write_image(files / "tiny.png", np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert cli.main(["explain", "--image", str(files / "tiny.png"), "-k", "box:2"]) == 0
    assert "out[1, 2] = 6*0.25 + 7*0.25 + 10*0.25 + 11*0.25 = 8.5" in capsys.readouterr().out
    assert cli.main(["explain", "--image", "[1,2,3,4]", "-k", "[1,-1]", "--transposed",
                     "--stride", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("transposed convolution of a 4 input")
    assert cli.main(["explain", "--image", str(files / "colour.jpg")]) == 1
    one_error_line(capsys.readouterr().err, "single-channel image")
    assert cli.main(["explain", "--output-padding", "1"]) == 1
    one_error_line(capsys.readouterr().err, "output_padding only applies with transposed")


def test_show_draws_a_figure(files, capsys):
    pytest.importorskip("matplotlib")
    figure = files / "fig.png"
    assert cli.main(["show", str(files / "colour.jpg"), "-k", "sobel-x", "-k", "laplacian",
                     "--padding", "same", "-o", str(figure)]) == 0
    from PIL import Image

    with Image.open(figure) as image:
        assert image.format == "PNG" and image.size[1] > image.size[0] / 2
    assert cli.main(["show", str(files / "colour.jpg"), "-k", "box", "-o", str(figure)]) == 1


def test_bench_arguments_are_forwarded(capsys):
    assert cli.main(["bench", "--quick", "--cases", "no-such-case"]) == 2
    assert "no-such-case" in capsys.readouterr().err + "no-such-case"


def test_docs_examples_run_in_order(tmp_path):
    docs = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    blocks = re.findall(r"```(sh|python)\n(.*?)```", docs.read_text(), re.S)
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "ndconv").exists():
        pytest.skip("the ndconv console script is not installed beside this Python")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for language, code in blocks:
        if code.startswith("pip install"):
            continue
        command = (["bash", "-euo", "pipefail", "-c", code] if language == "sh"
                   else [sys.executable, "-c", code])
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"{code}\n{result.stdout}\n{result.stderr}"
    assert {"edges-x.tif", "edges-sobel-x.png", "edges-sobel-y.png", "blur.png", "laplace.png",
            "small-disc.npy", "small-colour.npy", "explain.html", "explain.gif",
            "figure.png"} <= {p.name for p in tmp_path.iterdir()}


# ---- apply --chunks (Dask) ----------------------------------------------------------------


def test_apply_chunks_equals_apply_in_memory(tmp_path):
    pytest.importorskip("dask")
    image = RNG.standard_normal((70, 53, 3)).astype(np.float32)
    write_image(tmp_path / "big.tif", image)
    options = ["--padding", "same", "--stride", "2", "--padding-mode", "reflect", "--abs"]
    assert cli.main(["apply", str(tmp_path / "big.tif"), "-k", "sobel-x", "-k", "box:4",
                     *options, "--chunks", "16,20,3", "-o", str(tmp_path / "c.npy")]) == 0
    assert cli.main(["apply", str(tmp_path / "big.tif"), "-k", "sobel-x", "-k", "box:4",
                     *options, "-o", str(tmp_path / "m-{kernel}.npy")]) == 0
    for label in ("sobel-x", "box-4"):
        chunked, whole = np.load(tmp_path / f"c-{label}.npy"), np.load(tmp_path / f"m-{label}.npy")
        assert chunked.dtype == np.float64 and chunked.shape == whole.shape == (35, 27, 3)
        np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6)
    assert cli.main(["apply", str(tmp_path / "big.tif"), "-k", "laplacian", "--chunks", "auto",
                     "-o", str(tmp_path / "lap.tif")]) == 0
    import tifffile

    assert tifffile.imread(tmp_path / "lap.tif").dtype == np.float32


@pytest.mark.parametrize(("extra", "message"), [
    (["-o", "{dir}/o.png"], "--chunks writes raw feature maps"),
    (["--normalize", "-o", "{dir}/o.npy"], "--normalize and --clip need the whole map"),
    (["--dtype", "uint8", "-o", "{dir}/o.tif"], "--chunks stores float32 or float64"),
])
def test_apply_chunks_usage_errors(files, capsys, extra, message):
    extra = [e.format(dir=files) for e in extra]
    assert cli.main(["apply", str(files / "float32.tif"), "-k", "box:3", "--chunks", "8",
                     *extra]) == 2
    one_error_line(capsys.readouterr().err, message)
    assert cli.main(["apply", str(files / "grey8.png"), "-k", "box:3", "--chunks", "8",
                     "-o", str(files / "o.npy")]) == 2
    one_error_line(capsys.readouterr().err, "--chunks reads .npy and uncompressed .tif")
    assert not (files / "o.npy").exists()
