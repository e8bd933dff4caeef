"""The benchmark harness: every case gets a row, peers are checked before they are timed.

Runs in-process on tiny hand-made cases; no assertion depends on a timing.
"""

import dataclasses
import importlib.util
import json
import math
import re

import numpy as np
import pytest

import ndconv
from ndconv import bench

HAVE_CV2 = importlib.util.find_spec("cv2") is not None


def tiny_cases():
    image_peers = (bench._cv2_filter2d, bench._ndimage_correlate)
    return [
        bench.array_case("2d", "image", (24, 24), (3, 3), image_peers),
        bench.array_case("seed", "tiny", (8, 8), (3, 3), image_peers, mode="valid"),
        bench.layer_case(batch=1, channels=4, size=8, kernel=3, backward=True),
    ]


@pytest.fixture(scope="module")
def report():
    return bench.run(tiny_cases(), repeat=2, sgemm_size=32)


def test_every_case_has_a_row_with_finite_medians(report):
    names = [case.name for case in tiny_cases()]
    assert [r.name for r in report.results] == names
    for result in report.results:
        assert math.isfinite(result.ndconv_ms) and result.ndconv_ms > 0
        assert math.isfinite(result.memcpy_ms)
        # Backward cases name the algorithm of each derived convolution.
        chosen = re.findall(r"\w+", result.algorithm.replace("dx=", "").replace("dw=", ""))
        assert chosen and set(chosen) <= set(ndconv.algorithms.ALGORITHMS)
        timed = [m for m in result.measurements if m.status == "ok"]
        assert all(math.isfinite(m.median_ms) for m in timed)
        assert {m.name for m in timed} >= {"ndconv auto", "memcpy"}
    lines = bench.format_table(report).splitlines()
    for result in report.results:  # a summary row, then a row per candidate
        rows = [line.split() for line in lines if line.startswith(f"{result.name} ")]
        assert rows[0][0] == result.name and result.algorithm in rows[0]
        assert len(rows) == 1 + len(result.measurements)


def test_backward_case_compares_all_three_gradients(report):
    backward = report.results[-1]
    assert backward.name.startswith("bwd-")
    if importlib.util.find_spec("torch") is not None:
        torch_peer = next(m for m in backward.measurements if m.kind == "peer")
        assert torch_peer.status == "ok", torch_peer.status


@pytest.mark.skipif(not HAVE_CV2, reason="OpenCV is not installed")
def test_cv2_agrees_with_ndconv_in_same_and_valid_modes(report):
    for result in report.results[:2]:
        cv2_peer = next(m for m in result.measurements if m.name == "cv2.filter2D")
        assert cv2_peer.status == "ok", (result.name, cv2_peer.status)


def test_markdown_names_the_machine_and_has_a_row_per_case(report):
    page = bench.to_markdown(report)
    assert page.startswith("# ndconv benchmarks\n")
    for key in ("cpu", "cores", "threads", "versions", "date", "sgemm"):
        assert f"- {key}: " in page
    assert f"numpy {np.__version__}" in page
    for result in report.results:
        assert f"| {result.name} | {result.regime} | {result.algorithm} |" in page


def test_a_peer_that_disagrees_is_a_mismatch_and_not_timed():
    def shifted(arrays):  # off by one row: a convention error, not a rounding error
        return lambda: np.roll(ndconv.correlate(arrays["a"], arrays["k"], "same"), 1, axis=0)

    def broken(arrays):
        raise RuntimeError("not built with this feature")

    case = bench.array_case("2d", "image", (16, 16), (3, 3), peers=())
    case = dataclasses.replace(case, peers=(
        bench.Peer("shifted", "numpy", shifted),
        bench.Peer("broken", "numpy", broken),
        bench.Peer("absent", "no_such_module_xyz", shifted),
    ))
    result = bench.run_case(case, 1, np.random.default_rng(0))
    by_name = {m.name: m for m in result.measurements}
    assert by_name["shifted"].status.startswith("mismatch")
    assert math.isnan(by_name["shifted"].median_ms)
    assert by_name["broken"].status.startswith("error: RuntimeError")
    assert "absent" not in by_name
    assert result.best_peer is None and math.isnan(result.ratio)


def test_command_line_writes_markdown_and_json(tmp_path, capsys):
    markdown, data = tmp_path / "bench.md", tmp_path / "bench.json"
    status = bench.main(["--quick", "--cases", "^seed-", "--repeat", "1",
                         "--markdown", str(markdown), "--json", str(data)])
    assert status == 0
    assert "seed-3x3-8" in capsys.readouterr().out
    assert "| seed-3x3-8 |" in markdown.read_text()
    (result,) = json.loads(data.read_text())["results"]
    assert result["name"] == "seed-3x3-8" and result["ndconv_ms"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.md"]


def test_the_full_list_covers_every_regime_of_the_engine_issue():
    names = [case.name for case in bench.default_cases()]
    assert len(names) == len(set(names))
    for expected in ("2d-3x3-512", "2d-5x5-4096", "dl-1x1-s1-c64-56", "dl-3x3-s1-c64-56",
                     "dl-5x5-s1-c64-56", "dl-3x3-s2-c64-56", "dl-dw3x3-s1-c64-56",
                     "1d-7-1000000", "1d-127-1000000", "3d-3x3x3-128", "large-31x31-1024",
                     "large-63x63-1024", "bwd-3x3-s1-c64-56", "seed-3x3-8"):
        assert expected in names
