"""The planner (ndconv.planner): which algorithm runs a spec."""

import numpy as np
import pytest

from ndconv._shapes import conv_spec
from ndconv.planner import DEFAULT_ALGORITHM, choose_algorithm, execute


def test_auto_picks_the_default_algorithm():
    assert choose_algorithm(conv_spec((1, 1, 8), (1, 1, 3))).name == DEFAULT_ALGORITHM


@pytest.mark.parametrize("name", ["reference", "numpy"])
def test_a_named_algorithm_is_honoured(name):
    assert choose_algorithm(conv_spec((1, 1, 8), (1, 1, 3)), name).name == name


def test_execute_runs_the_chosen_algorithm():
    spec = conv_spec((1, 1, 4), (1, 1, 2))
    out = execute(np.arange(4.0).reshape(1, 1, 4), np.ones((1, 1, 2)), spec, "reference")
    np.testing.assert_array_equal(out, [[[1.0, 3.0, 5.0]]])
