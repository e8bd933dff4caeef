"""explain(): traces equal conv/conv_transpose, the seed's hand-computed steps, renderers."""

import itertools
import json
import re

import numpy as np
import pytest

import ndconv
from ndconv.examples import seed_image, seed_kernel
from ndconv.explain import MAX_PRODUCTS, Trace, _variants, explain

# The seed's feature map, by hand: out[i, j] = image[i, j] - image[i+1, j+1].
SEED_MAP = [[0, -1, -2],
            [-1, 1, 2],
            [2, -1, -3]]


def test_seed_example_matches_hand_computed_values():
    trace = explain(seed_image(), seed_kernel())
    assert isinstance(trace, Trace) and len(trace) == 9
    assert trace.output.tolist() == SEED_MAP
    np.testing.assert_allclose(trace.output, ndconv.correlate(seed_image(), seed_kernel()),
                               atol=1e-12)
    image = seed_image()
    for step in trace:
        i, j = step.position
        np.testing.assert_array_equal(step.patch, image[i:i + 2, j:j + 2])
        np.testing.assert_array_equal(step.products, image[i:i + 2, j:j + 2] * seed_kernel())
        assert step.value == image[i, j] - image[i + 1, j + 1] == SEED_MAP[i][j]
    last = trace[-1]
    assert last.position == (2, 2)
    assert last.patch.tolist() == [[0, 1], [2, 3]]
    assert last.products.tolist() == [[0, 0], [0, -3]]
    assert last.cells == [(2, 2), (2, 3), (3, 2), (3, 3)]
    assert [s.position for s in trace] == list(itertools.product(range(3), range(3)))


def integer_valued(shape, seed):
    return np.random.default_rng(seed).integers(-4, 5, shape).astype(np.float64)


CASES = [
    ((5, 6), (2, 3)),
    ((7, 7), (3, 3)),
    ((6,), (3,)),
    ((4, 5, 3), (2, 2, 2)),
]


@pytest.mark.parametrize(("x_shape", "k_shape"), CASES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", [0, 1, "same", "full"])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "circular"])
def test_trace_equals_conv(x_shape, k_shape, stride, padding, dilation, padding_mode):
    x, k = integer_valued(x_shape, 1), integer_valued(k_shape, 2)
    options = {"stride": stride, "padding": padding, "dilation": dilation,
               "padding_mode": padding_mode}
    try:
        expected = ndconv.conv(x[None], k[None, None], **options)[0]
    except ValueError:
        with pytest.raises(ValueError):
            explain(x, k, **options)
        return
    trace = explain(x, k, **options)
    # The reference algorithm does the same arithmetic: equal to the last bit. Whatever
    # algorithm conv picks agrees to rounding.
    reference = ndconv.conv(x[None], k[None, None], algorithm="reference", **options)[0]
    np.testing.assert_array_equal(trace.output, reference)
    assert [s.value for s in trace] == reference.ravel().tolist()
    np.testing.assert_allclose(trace.output, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("x_shape", "k_shape"), CASES)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
def test_transposed_trace_equals_conv_transpose(x_shape, k_shape, stride, padding, dilation):
    x, k = integer_valued(x_shape, 3), integer_valued(k_shape, 4)
    for output_padding in range(max(stride, dilation)):
        options = {"stride": stride, "padding": padding, "dilation": dilation,
                   "output_padding": output_padding}
        try:
            expected = ndconv.conv_transpose(x[None], k[None, None], **options)[0]
        except ValueError:
            continue
        trace = explain(x, k, transposed=True, **options)
        np.testing.assert_allclose(trace.output, expected, rtol=1e-12, atol=1e-12)
        assert trace.output_padding == (output_padding,) * x.ndim
        # Padding and inserted zeros are zeros; without padding every input value is on the grid.
        assert not trace.grid[trace.cell_kinds != 0].any()
        if padding == 0:
            np.testing.assert_array_equal(trace.grid[trace.cell_kinds == 0], x.ravel())


def test_transposed_grid_is_the_conv_arithmetic_picture():
    # 2x2 input, 3x3 kernel, stride 2, no padding: one zero between inputs, 2 around.
    trace = explain(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((3, 3)), stride=2,
                    transposed=True)
    assert trace.grid.shape == (7, 7)
    assert trace.grid[2:5, 2:5].tolist() == [[1, 0, 2], [0, 0, 0], [3, 0, 4]]
    assert trace.cell_kinds[2, 3] == 2 and trace.cell_kinds[0, 0] == 1
    assert trace.slide_stride == (1, 1)
    np.testing.assert_array_equal(trace.weights, np.ones((3, 3)))


def test_random_floats_match_conv_closely():
    rng = np.random.default_rng(5)
    x, k = rng.standard_normal((9, 8)), rng.standard_normal((3, 3))
    np.testing.assert_allclose(explain(x, k, padding=1).output,
                               ndconv.correlate(x, k, mode="same"), rtol=1e-12, atol=1e-12)
    x32, k32 = x.astype(np.float32), k.astype(np.float32)
    trace = explain(x32, k32)
    assert trace.output.dtype == np.float32
    np.testing.assert_allclose(trace.output, ndconv.correlate(x32, k32), rtol=1e-5, atol=1e-5)


def test_text_walkthrough():
    text = explain(seed_image(), seed_kernel()).to_text()
    assert text.startswith("convolution of a 4x4 input with a 2x2 kernel")
    for (i, j), value in np.ndenumerate(np.array(SEED_MAP)):
        assert re.search(rf"out\[{i}, {j}\] = .* = {value}\n", text), (i, j)
    assert "out[0, 1] = 2*1 + 0*0 + 1*0 + 3*(-1) = -1" in text
    assert text.count("step ") == 9
    assert text.rstrip().endswith(" 2  -1  -3")
    padded = explain(seed_image(), seed_kernel(), padding=1, stride=2).to_text()
    assert "grid the kernel slides over (6x6)" in padded
    transposed = explain(seed_image(), seed_kernel(), transposed=True).to_text()
    assert "kernel rotated by 180 degrees" in transposed
    volume = explain(np.ones((3, 3, 3)), np.ones((2, 2, 2))).to_text()
    assert "out[1, 1, 1] = " in volume and volume.count("step ") == 8


def test_html_is_self_contained_and_carries_the_trace():
    trace = explain(seed_image(), seed_kernel(), padding=1)
    page = trace.to_html(title="</script><b>seed</b>")
    assert page.startswith("<!DOCTYPE html>")
    assert "&lt;/script&gt;&lt;b&gt;seed" in page
    for external in ("<script src", "<link", "http://", "https://", "@import", "url("):
        assert external not in page
    island = re.search(r'<script type="application/json" id="ndconv-data">(.*?)</script>',
                       page, re.S).group(1)
    data = json.loads(island)
    assert data["title"] == "</script><b>seed</b>"
    labels = [v["label"] for v in data["variants"]]
    assert labels[0] == "convolution" and any("transposed" in label for label in labels)
    first = data["variants"][0]
    assert first["outputShape"] == [5, 5]
    assert [s["value"] for s in first["steps"]] == [s.value for s in trace]
    assert first["steps"][0]["cells"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert first["kinds"][0][0] == 1 and first["kinds"][1][1] == 0
    back = next(v for v in data["variants"] if v["transposed"])
    expected = ndconv.conv_transpose(trace.output[None], seed_kernel()[None, None], padding=1)[0]
    assert back["outputShape"] == list(expected.shape) == [4, 4]
    assert [s["value"] for s in back["steps"]] == expected.ravel().tolist()


def test_html_variants_go_back_to_the_input_shape():
    x = np.arange(49.0).reshape(7, 7)
    trace = explain(x, np.ones((3, 3)), stride=2, padding=1)
    back = dict(_variants(trace))
    transposed = next(t for label, t in back.items() if "transposed" in label)
    assert transposed.output.shape == x.shape
    assert any("dilation 2" in label for label in back)


def test_one_dimensional_page_and_nan_values():
    trace = explain(np.array([1.0, np.nan, 3.0, 4.0]), np.array([1.0, 1.0]))
    data = json.loads(re.search(r'id="ndconv-data">(.*?)</script>', trace.to_html(), re.S)[1])
    steps = data["variants"][0]["steps"]
    assert data["variants"][0]["outputShape"] == [1, 3]
    assert [s["value"] for s in steps] == [None, None, 7.0]
    assert [s["text"] for s in steps] == ["nan", "nan", "7"]


def test_repr_html_is_an_isolated_frame():
    html = explain(seed_image(), seed_kernel())._repr_html_()
    assert html.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in html
    assert "<script" not in html  # escaped inside srcdoc
    assert explain(np.ones((2, 2, 2)), np.ones((1, 1, 1)))._repr_html_().startswith("<pre>")
    large = explain(np.ones((40, 40)), np.ones((3, 3)))
    assert large._repr_html_() == (
        f"<pre>{large.describe()}; 1444 steps (print to_text() to see them)</pre>")
    with pytest.raises(ValueError, match=r"at most 1024 steps; this trace has 1444"):
        large.to_html()


def test_gif_has_a_frame_per_step(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    trace = explain(seed_image(), seed_kernel(), stride=2, padding=1)
    path = trace.to_gif(tmp_path / "w.gif", duration=200)
    with Image.open(path) as gif:
        assert gif.n_frames == len(trace) == 9
        assert gif.info["loop"] == 0 and gif.info["duration"] == 200
    with pytest.raises(FileExistsError):
        trace.to_gif(path)
    trace.to_gif(path, force=True)
    with pytest.raises(ValueError, match="duration must be a positive int"):
        trace.to_gif(tmp_path / "x.gif", duration=0)
    with pytest.raises(ValueError, match="this one is 3-D"):
        explain(np.ones((2, 2, 2)), np.ones((1, 1, 1))).to_gif(tmp_path / "v.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.gif"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.ones((3, 3)), np.ones(2)), {}, ValueError, r"same number of dims.*\(3, 3\).*\(2,\)"),
        ((np.ones((3, 3)), np.ones((2, 2), complex)), {}, TypeError, r"k has complex dtype"),
        ((np.array(["a"]), np.ones(1)), {}, TypeError, r"x has dtype <U1"),
        ((np.ones(3), np.ones(2)), {"transposed": True, "padding_mode": "reflect"}, ValueError,
         r"transposed convolution pads with zeros only"),
        ((np.ones(3), np.ones(2)), {"output_padding": 1}, ValueError,
         r"output_padding only applies with transposed=True"),
        ((np.ones(3), np.ones(2)), {"transposed": True, "padding": "same"}, TypeError,
         r"conv_transpose takes integer padding"),
        ((np.ones(3), np.ones(4)), {}, ValueError, r"kernel is larger than the padded input"),
        ((np.ones(3), np.ones(2)), {"stride": 0}, ValueError, r"stride must be positive"),
        ((np.ones(3), np.ones(2)), {"padding": "sme"}, ValueError, r"did you mean 'same'"),
        ((np.ones((1100, 1000)), np.ones((1, 1))), {}, ValueError,
         rf"meant for small inputs.*1100000 products \(limit {MAX_PRODUCTS}\)"),
    ],
)
def test_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        explain(*args, **kwargs)


def test_inputs_are_not_modified():
    x, k = seed_image(), seed_kernel()
    x.flags.writeable = False
    k.flags.writeable = False
    trace = explain(x, k, padding=1, padding_mode="replicate")
    assert trace.output.shape == (5, 5)
    np.testing.assert_array_equal(x, seed_image())
