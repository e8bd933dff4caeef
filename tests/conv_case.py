"""A drawn convolution configuration and its shapes, shared by the test files that draw them.

The output size is worked out here from the formula, independently of ndconv._shapes, so the
tests check ndconv's shape arithmetic rather than reuse it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Pair = tuple[int, int]


def string_padding(form: str, size: int, kernel: int, stride: int, dilation: int) -> Pair:
    """(lo, hi) of a padding string, from the documented definitions."""
    reach = dilation * (kernel - 1)
    if form == "valid":
        return (0, 0)
    if form == "full":
        return (reach, reach)
    out = -(-size // stride)  # "same": ceil(size / stride) outputs, odd element at the end
    total = max((out - 1) * stride + reach + 1 - size, 0)
    return (total // 2, total - total // 2)


@dataclass(frozen=True)
class ConvCase:
    batch: int | None  # None: unbatched arrays
    in_channels: int
    out_channels: int
    groups: int
    in_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: object  # the argument as ndconv receives it
    pads: tuple[Pair, ...]  # the same, as (lo, hi) pairs worked out in the test
    padding_mode: str

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def x_shape(self) -> tuple[int, ...]:
        lead = () if self.batch is None else (self.batch,)
        return (*lead, self.in_channels, *self.in_spatial)

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def out_spatial(self) -> tuple[int, ...]:
        return tuple(
            (n + lo + hi - d * (k - 1) - 1) // s + 1
            for n, (lo, hi), k, s, d in zip(
                self.in_spatial, self.pads, self.kernel, self.stride, self.dilation
            )
        )

    @property
    def y_shape(self) -> tuple[int, ...]:
        lead = () if self.batch is None else (self.batch,)
        return (*lead, self.out_channels, *self.out_spatial)

    @property
    def reduction(self) -> int:
        """Products summed into one output element."""
        return self.in_channels // self.groups * math.prod(self.kernel)
