"""The planner (ndconv.planner): estimates, the evidence it returns, and autotune mode."""

import json

import numpy as np
import pytest

import ndconv
from ndconv import planner
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS, direct, small
from ndconv.algorithms.costs import DEFAULT_MACHINE, direct_cost, vectorized_cost
from ndconv.algorithms.direct import setup_seconds
from ndconv.algorithms.gemm import gemm_cost


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NDCONV_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(planner, "_MEASURED", {})
    return tmp_path


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "expected"),
    [
        ((1, 1, 2048, 2048), (1, 1, 3, 3), {}, "direct"),
        ((1, 1, 1_000_000), (1, 1, 7), {}, "direct"),
        ((16, 64, 56, 56), (64, 1, 3, 3), {"groups": 64, "padding": 1}, "direct"),
        # Many channels: im2col + BLAS ("gemm") took these from "numpy" (measured side by
        # side, float32, 2 threads: 1x1 3.4 vs 8.7 ms, 3x3 26 vs 68 ms), and the weight
        # gradient's derived convolution (kernel 56x56, output 3x3): 27 vs 48 ms.
        ((16, 64, 56, 56), (64, 64, 1, 1), {}, "gemm"),
        ((16, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}, "gemm"),
        ((64, 16, 56, 56), (64, 16, 56, 56), {"padding": 1}, "gemm"),
    ],
)
def test_steady_state_costs_follow_the_measured_regimes(x_shape, w_shape, kwargs, expected):
    # Regimes measured in docs/benchmarks.md: compiled loops for few channels, BLAS for many.
    # Compared without one-time setup, which depends on what this process has compiled.
    spec = conv_spec(x_shape, w_shape, dtype=np.dtype(np.float32), **kwargs)
    steady = {"direct": direct_cost(spec), "numpy": vectorized_cost(spec), "gemm": gemm_cost(spec)}
    assert min(steady, key=steady.get) == expected


def test_compiling_is_charged_only_until_the_kernel_is_ready(monkeypatch, tmp_path):
    monkeypatch.setenv("NDCONV_CACHE_DIR", str(tmp_path))
    spec = conv_spec((1, 1, 40, 40), (1, 1, 6, 7), dtype=np.dtype(np.float32))
    assert setup_seconds(spec) == DEFAULT_MACHINE.compile_seconds
    ALGORITHMS["direct"].run(np.ones(spec.input_shape, np.float32),
                             np.ones(spec.weight_shape, np.float32), spec)
    assert setup_seconds(spec) == 0
    # Another process would find the kernel in the cache directory.
    monkeypatch.setattr(direct, "_READY", set())
    assert setup_seconds(spec) == DEFAULT_MACHINE.cached_load_seconds


def test_a_small_one_off_call_does_not_wait_for_a_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("NDCONV_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(small, "_READY", set())
    spec = conv_spec((1, 1, 9, 9), (1, 1, 5, 4))
    assert ALGORITHMS[ndconv.plan((1, 1, 9, 9), (1, 1, 5, 4)).algorithm].setup(spec) == 0


def test_plan_returns_its_evidence():
    p = ndconv.plan((1, 3, 64, 64), (8, 3, 3, 3), "float64", padding="same")
    assert p.algorithm == min(p.estimates, key=p.estimates.get)
    assert set(p.estimates) == set(ALGORITHMS) - {"reference"}
    assert not p.measured
    assert p.reason == f"lowest estimated cost of {len(p.estimates)} candidates"
    spec = conv_spec((1, 3, 64, 64), (8, 3, 3, 3), padding="same")
    assert p.workspace_bytes == ALGORITHMS[p.algorithm].workspace(spec)
    assert ALGORITHMS["direct"].workspace(spec) == 0  # zero padding happens inside the kernel
    reflected = conv_spec((1, 3, 64, 64), (8, 3, 3, 3), padding="same", padding_mode="reflect")
    assert ALGORITHMS["direct"].workspace(reflected) == 1 * 3 * 66 * 66 * 8  # the padded copy


def test_plan_validates_like_conv():
    with pytest.raises(ValueError, match="x has 3 channels"):
        ndconv.plan((1, 3, 8, 8), (4, 2, 3, 3))


def test_a_requested_algorithm_is_honoured():
    p = ndconv.plan((1, 1, 8), (1, 1, 3), algorithm="reference")
    assert (p.algorithm, p.reason) == ("reference", "requested by the caller")


def test_unsupported_request_is_refused_with_the_reason():
    spec = conv_spec((1, 1, 8), (1, 1, 3), dtype=np.dtype(np.longdouble))
    with pytest.raises(ValueError, match=r"algorithm=.direct. does not support"):
        planner.plan_spec(spec, "direct")
    assert planner.plan_spec(spec).algorithm == "numpy"


def test_longdouble_runs_through_auto():
    x = np.arange(6, dtype=np.longdouble).reshape(1, 1, 6)
    out = ndconv.conv(x, np.ones((1, 1, 3), np.longdouble))
    assert out.dtype == np.longdouble
    np.testing.assert_array_equal(out, [[[3, 6, 9, 12]]])


def test_autotune_measures_once_and_remembers_on_disk(fresh_cache, monkeypatch):
    spec = conv_spec((1, 2, 20, 20), (3, 2, 3, 3), dtype=np.dtype(np.float32))
    with ndconv.autotune():
        first = planner.plan_spec(spec)
    assert first.measured
    assert set(first.estimates) == set(ALGORITHMS) - {"reference"}
    assert first.algorithm == min(first.estimates, key=first.estimates.get)
    stored = json.loads((fresh_cache / "autotune" / "autotune.json").read_text())
    assert list(stored.values()) == [first.estimates]

    # A new process (empty memory) reads the file instead of timing again.
    monkeypatch.setattr(planner, "_MEASURED", {})
    monkeypatch.setattr(planner, "_time", lambda *args: pytest.fail("timed again"))
    with ndconv.autotune():
        again = planner.plan_spec(spec)
    assert again.estimates == first.estimates


def test_autotune_is_scoped_to_the_block(fresh_cache):
    spec = conv_spec((1, 2, 20, 20), (3, 2, 3, 3), dtype=np.dtype(np.float32))
    with ndconv.autotune():
        pass
    assert not planner.plan_spec(spec).measured


def test_a_damaged_autotune_file_is_measured_again(fresh_cache):
    (fresh_cache / "autotune").mkdir()
    (fresh_cache / "autotune" / "autotune.json").write_text("{not json")
    spec = conv_spec((1, 1, 30), (1, 1, 3), dtype=np.dtype(np.float64))
    with ndconv.autotune():
        assert planner.plan_spec(spec).measured


def test_execute_runs_the_chosen_algorithm():
    spec = conv_spec((1, 1, 4), (1, 1, 2))
    out = planner.execute(np.arange(4.0).reshape(1, 1, 4), np.ones((1, 1, 2)), spec, "reference")
    np.testing.assert_array_equal(out, [[[1.0, 3.0, 5.0]]])


def test_every_algorithm_estimates_a_positive_cost_and_workspace():
    spec = conv_spec((2, 4, 9, 9), (6, 2, 3, 3), groups=2, padding=1)
    for algorithm in ALGORITHMS.values():
        assert algorithm.cost(spec) > 0
        assert algorithm.workspace(spec) >= 0


def test_atomic_writes_leave_readable_files(tmp_path):
    from ndconv._cache import write_atomically

    target = tmp_path / "table.md"
    write_atomically(target, "one")
    assert target.read_text() == "one"
    assert target.stat().st_mode & 0o777 == 0o644
    target.chmod(0o640)
    write_atomically(target, "two")
    assert (target.read_text(), target.stat().st_mode & 0o777) == ("two", 0o640)
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_empty_work_gives_zeros_for_every_algorithm(name):
    # In 2-D (3x3) for algorithms limited to that (winograd).
    extra = () if ALGORITHMS[name].supports(conv_spec((1, 0, 5), (2, 0, 3))) else (3,)
    out = ndconv.conv(np.zeros((1, 0, 5, *extra)), np.zeros((2, 0, 3, *extra)), bias=[1.0, -1.0],
                      algorithm=name)
    np.testing.assert_array_equal(out, np.array([1.0, -1.0]).reshape(1, 2, 1, *(1,) * len(extra))
                                  * np.ones((1, 2, 3, *(1,) * len(extra))))
    assert ndconv.conv(np.zeros((0, 3, 5, 5)), np.ones((2, 3, 3, 3)), algorithm=name).shape == (
        0, 2, 3, 3)
    dw = ndconv.conv_grad(np.zeros((0, 2, 3, 3)), np.zeros((0, 3, 5, 5)), np.ones((2, 3, 3, 3)),
                          algorithm=name)[1]
    np.testing.assert_array_equal(dw, np.zeros((2, 3, 3, 3)))


def test_checking_a_name_costs_nothing(monkeypatch):
    # conv_transpose/conv_grad validate the name up front; that must not rank candidates.
    monkeypatch.setattr(planner, "plan_spec", lambda *a: pytest.fail("planned twice"))
    spec = conv_spec((1, 1, 8), (1, 1, 3))
    assert planner.check_algorithm(spec, "auto") is None
    assert planner.check_algorithm(spec, "numpy").name == "numpy"


def test_compiling_pays_off_once_a_spec_is_called_often(monkeypatch, tmp_path):
    # The tiering of a JIT: a cheap spec stays on NumPy while the compile would cost
    # more than it saves, and moves to the compiled kernel as its calls accumulate.
    monkeypatch.setenv("NDCONV_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(small, "_READY", set())  # nothing compiled yet
    spec = conv_spec((1, 1, 200, 200), (1, 1, 5, 4), dtype=np.dtype(np.float32))
    first = planner.plan_spec(spec, calls=1).algorithm
    assert ALGORITHMS[first].setup(spec) == 0 and first != "direct"
    assert planner.plan_spec(spec, calls=10**9).algorithm == "direct"


def test_plans_are_remade_as_calls_double(monkeypatch):
    spec = conv_spec((1, 1, 9, 9), (1, 1, 3, 3), dtype=np.dtype(np.float32))
    seen = []
    monkeypatch.setattr(planner, "_PLANS", {})
    real = planner.plan_spec
    monkeypatch.setattr(planner, "plan_spec",
                        lambda s, r="auto", calls=1: seen.append(calls) or real(s, r, calls))
    for _ in range(9):
        planner.choose_algorithm(spec)
    assert seen == [1, 2, 4, 8]


def test_autotune_merges_with_what_other_processes_stored(fresh_cache):
    spec = conv_spec((1, 1, 30), (1, 1, 3), dtype=np.dtype(np.float32))
    with ndconv.autotune():
        planner.plan_spec(spec)  # loads the (empty) file and stores one entry
    # Another process stores its measurement after this one loaded the file...
    path = fresh_cache / "autotune" / "autotune.json"
    theirs = {"another process's spec": {"numpy": 1.0}}
    path.write_text(json.dumps({**json.loads(path.read_text()), **theirs}))
    # ...and this one's next store keeps it.
    with ndconv.autotune():
        planner.plan_spec(conv_spec((1, 1, 40), (1, 1, 3), dtype=np.dtype(np.float32)))
    stored = json.loads(path.read_text())
    assert len(stored) == 3 and stored["another process's spec"] == {"numpy": 1.0}
