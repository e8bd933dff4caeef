"""ndconv: N-dimensional convolution as deep learning defines it, on NumPy arrays.

A kernel of weights slides over an input with any number of spatial
dimensions; each position gives the dot product of the kernel with the patch
under it (cross-correlation, no flip). Forward, transposed and gradient
passes give PyTorch's numbers.

>>> import numpy as np
>>> import ndconv
>>> ndconv.conv(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), padding="same").shape
(1, 2, 5, 5)
"""

from . import nn
from ._limits import get_workspace_limit, set_workspace_limit
from ._shapes import output_shape
from ._threads import get_num_threads, set_num_threads
from .api import conv, conv_grad, conv_transpose, convolve, correlate
from .explain import explain
from .planner import Plan, autotune, plan

__version__ = "0.1.0"

__all__ = [
    "Plan",
    "__version__",
    "autotune",
    "conv",
    "conv_grad",
    "conv_transpose",
    "convolve",
    "correlate",
    "explain",
    "get_num_threads",
    "get_workspace_limit",
    "nn",
    "output_shape",
    "plan",
    "set_num_threads",
    "set_workspace_limit",
]
