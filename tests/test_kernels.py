"""The kernel bank against SciPy and OpenCV, the spec parser, and kernel loading."""

import math

import numpy as np
import pytest
from scipy import ndimage

import ndconv
from ndconv.kernels import KERNELS, load_kernel, load_matrix, make_kernel

RAMP = np.add.outer(np.arange(9.0), np.zeros(9))  # grows by 1 per row


def centre(a):
    return a[4, 4]


def test_every_kernel_builds_float64_with_defaults():
    for name in KERNELS:
        k = make_kernel(name)
        assert k.dtype == np.float64 and k.ndim == 2 and np.isfinite(k).all(), name


@pytest.mark.parametrize(
    ("name", "scipy_filter", "ramp_value"),
    [("sobel", ndimage.sobel, 8.0), ("prewitt", ndimage.prewitt, 6.0)],
)
def test_derivatives_match_scipy_and_state_their_scale(name, scipy_filter, ramp_value):
    image = np.random.default_rng(0).standard_normal((7, 8))
    for axis, suffix in ((1, "x"), (0, "y")):
        ours = ndconv.correlate(image, make_kernel(f"{name}-{suffix}"), mode="same")
        theirs = scipy_filter(image, axis=axis, mode="constant")
        np.testing.assert_allclose(ours, theirs, atol=1e-12)
    ramp_y = ndconv.correlate(RAMP, make_kernel(f"{name}-y"), mode="same")
    assert centre(ramp_y) == pytest.approx(ramp_value)
    unit = make_kernel(f"{name}-y:normalize=true")
    assert centre(ndconv.correlate(RAMP, unit, mode="same")) == pytest.approx(1.0)
    ramp_x = ndconv.correlate(RAMP.T, make_kernel(f"{name}-x"), mode="same")
    assert centre(ramp_x) == pytest.approx(ramp_value)


def test_scharr_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    image = np.random.default_rng(1).standard_normal((9, 9))
    ours = ndconv.correlate(image, make_kernel("scharr-x"), mode="same")
    theirs = cv2.Scharr(image, cv2.CV_64F, 1, 0, borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    ramp = centre(ndconv.correlate(RAMP, make_kernel("scharr-y:normalize=yes"), mode="same"))
    assert ramp == pytest.approx(1.0)


def test_laplacian_has_scipys_sign():
    image = np.random.default_rng(2).standard_normal((6, 7))
    ours = ndconv.correlate(image, make_kernel("laplacian"), mode="same")
    np.testing.assert_allclose(ours, ndimage.laplace(image, mode="constant"), atol=1e-12)
    assert make_kernel("laplacian:neighbours=8").sum() == 0


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.3])
def test_gaussian_equals_scipys_weights_and_size(sigma):
    k = make_kernel(f"gaussian:sigma={sigma}")
    radius = int(4.0 * sigma + 0.5)
    assert k.shape == (2 * radius + 1,) * 2
    impulse = np.zeros(k.shape)
    impulse[radius, radius] = 1.0
    np.testing.assert_allclose(k, ndimage.gaussian_filter(impulse, sigma, mode="constant"),
                               atol=1e-15)
    assert k.sum() == pytest.approx(1.0)
    assert make_kernel("gaussian:2").shape == (17, 17)


def test_gaussian_n_d_and_truncate():
    k = make_kernel("gaussian:sigma=1,truncate=2,ndim=3")
    assert k.shape == (5, 5, 5) and k.sum() == pytest.approx(1.0)


def test_gabor_equals_opencv():
    cv2 = pytest.importorskip("cv2")
    for theta, gamma, phase, wavelength in [(30, 1.0, 0, 6.0), (120, 0.7, 90, 4.0)]:
        ours = make_kernel(
            f"gabor:theta={theta},sigma=3,gamma={gamma},phase={phase},wavelength={wavelength}"
        )
        theirs = cv2.getGaborKernel(ours.shape, 3, math.radians(theta), wavelength, gamma,
                                    math.radians(phase), ktype=cv2.CV_64F)
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_box_identity_sharpen_emboss():
    assert make_kernel("box:5").shape == (5, 5)
    assert make_kernel("box:5").sum() == pytest.approx(1.0)
    image = np.random.default_rng(3).standard_normal((6, 6))
    np.testing.assert_allclose(
        ndconv.correlate(image, make_kernel("identity:5"), mode="same"), image, atol=1e-12
    )
    flat = np.full((5, 5), 7.0)
    for name in ("sharpen", "sharpen:amount=2.5", "emboss"):
        np.testing.assert_allclose(ndconv.correlate(flat, make_kernel(name)), 7.0)
    np.testing.assert_array_equal(make_kernel("sharpen:0"), make_kernel("identity"))


def test_spec_parsing_keywords_and_case():
    np.testing.assert_array_equal(make_kernel(" Sobel-X "), make_kernel("sobel-x"))
    np.testing.assert_array_equal(make_kernel("box", size=4), make_kernel("box:4"))
    np.testing.assert_array_equal(make_kernel("gaussian:sigma=1", truncate=2.0),
                                  make_kernel("gaussian:sigma=1,truncate=2"))


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("sobel", ValueError, r"kernel='sobel' is not valid.*did you mean 'sobel-[xy]'"),
        ("gausian", ValueError, r"did you mean 'gaussian'"),
        ("gaussian:sigam=2", ValueError, r"parameter of kernel 'gaussian'='sigam'.*'sigma'"),
        ("gaussian:sigma=two", ValueError, r"gaussian parameter sigma must be a number; got 'two'"),
        ("gaussian:sigma=0", ValueError, r"sigma must be a positive finite number; got sigma=0.0"),
        ("gaussian:sigma=nan", ValueError, r"sigma must be a positive finite"),
        ("box:2.5", ValueError, r"box parameter size must be an int; got '2.5'"),
        ("box:0", ValueError, r"size must be a positive int; got size=0"),
        ("identity:4", ValueError, r"size must be a positive odd int; got size=4"),
        ("box:size=3,size=4", ValueError, r"parameter 'size' is given twice"),
        ("gaussian:sigma=1,2", ValueError, r"only the first parameter may be given without"),
        ("emboss:3", ValueError, r"only the first parameter.*parameters of 'emboss': none"),
        ("sobel-x:normalize=maybe", ValueError, r"must be true or false; got 'maybe'"),
        ("laplacian:neighbours=6", ValueError, r"neighbours must be 4 or 8; got neighbours=6"),
        ("gaussian:sigma=1e6", ValueError, r"8000001\*\*2 = .* taps, more than 16777216"),
        ("box:size=3,ndim=40", ValueError, r"3\*\*40 = .* taps"),
        ("gabor:sigma=3,gamma=1e-6", ValueError, r"taps, more than"),
    ],
)
def test_bad_specs_name_the_problem(spec, error, match):
    with pytest.raises(error, match=match):
        make_kernel(spec)


def test_bad_keyword_parameters():
    with pytest.raises(TypeError, match=r"box parameter size must be int; got 2.0 \(float\)"):
        make_kernel("box", size=2.0)
    with pytest.raises(ValueError, match="given twice"):
        make_kernel("box:3", size=3)
    with pytest.raises(TypeError, match="spec must be a string"):
        make_kernel(3)


def test_registry_is_read_only_and_documents_scale():
    with pytest.raises(TypeError):
        KERNELS["mine"] = KERNELS["box"]
    for name, info in KERNELS.items():
        assert "Scale:" in info.doc, name
        assert info.summary, name
    assert [n for n, _ in KERNELS["gabor"].parameters.items()][:2] == ["theta", "sigma"]
    assert KERNELS["gabor"].parameters["wavelength"] == (float, None)


def test_load_matrix_inline_npy_txt_csv(tmp_path):
    expected = np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(load_matrix("[[0,1,0],[1,-4,1],[0,1,0]]"), expected)
    np.save(tmp_path / "k.npy", expected.astype(np.float32))
    np.savetxt(tmp_path / "k.txt", expected)
    np.savetxt(tmp_path / "k.csv", expected, delimiter=",")
    for name in ("k.npy", "k.txt", "k.csv"):
        loaded = load_kernel(str(tmp_path / name))
        assert loaded.dtype == np.float64
        np.testing.assert_array_equal(loaded, expected)
    np.savetxt(tmp_path / "row.txt", [1.0, 2.0, 3.0])  # one value per line
    assert load_matrix(tmp_path / "row.txt").shape == (3, 1)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[1, 2], [3]]", r"inline matrix: expected a rectangular array"),
        ("[[1, 2], [3, x]]", r"is not a list of numbers"),
        ("[]", r"expected a non-empty array"),
        ("[[1, inf]]", r"is not a list of numbers"),
        ("[[1e999, 0]]", r"NaN or infinity"),
        ("[['a', 'b']]", r"expected a rectangular array of real numbers"),
    ],
)
def test_bad_inline_matrices(text, match):
    with pytest.raises(ValueError, match=match):
        load_kernel(text)


def test_bad_kernel_files(tmp_path):
    with pytest.raises(OSError, match=r"missing\.npy: cannot read the kernel file"):
        load_kernel(str(tmp_path / "missing.npy"))
    (tmp_path / "bad.txt").write_text("1 2\n3 x\n")
    with pytest.raises(ValueError, match=r"bad\.txt: not a matrix of numbers"):
        load_kernel(str(tmp_path / "bad.txt"))
    (tmp_path / "k.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"must end in \.npy, \.txt, \.csv; got '\.png'"):
        load_matrix(tmp_path / "k.png")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npy: not a matrix"):
        load_kernel(str(tmp_path / "obj.npy"))


def test_load_kernel_decides_by_text_not_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sobel-x").write_text("1 2\n")
    np.testing.assert_array_equal(load_kernel("sobel-x"), make_kernel("sobel-x"))
