"""Estimated seconds and workspace bytes of each algorithm for a spec.

The estimates are simple counts (multiply-adds, bytes copied, interpreted loop
steps, parallel tasks) weighted by the rates in :class:`MachineModel`. Their
job is to rank the algorithms, not to predict milliseconds; where the ranking
is close, ``ndconv.autotune()`` measures instead.

>>> import numpy as np
>>> from ndconv._shapes import conv_spec
>>> spec = conv_spec((1, 1, 2048, 2048), (1, 1, 3, 3), dtype=np.dtype(np.float32))
>>> direct_cost(spec) < vectorized_cost(spec) < reference_cost(spec)
True
"""

from __future__ import annotations

from dataclasses import dataclass

from .._shapes import ConvSpec, spatial_volume


@dataclass(frozen=True)
class MachineModel:
    """Rates the estimates use, for float32 on one machine.

    The defaults were fitted to measurements of ndconv's own kernels on a
    2-core AMD EPYC (AVX2, OpenBLAS sgemm about 100 GFLOP/s); wider dtypes
    scale the arithmetic by their size.
    """

    direct_seconds_per_mac: float = 45e-12
    direct_seconds_per_row_channel: float = 12e-9
    direct_seconds_per_task: float = 50e-9
    direct_seconds_per_view: float = 3e-9
    direct_seconds_per_launch: float = 30e-6
    small_seconds_per_mac: float = 1e-9
    small_seconds_per_call: float = 4e-6
    #: One BLAS thread's rate on large products (sgemm about 88 GFLOP/s per core).
    gemm_seconds_per_mac: float = 22e-12
    #: Product dimension below which BLAS slows down (roughly as (size / this) ** 0.8).
    gemm_full_speed_size: int = 24
    gemm_seconds_per_product: float = 8e-6
    gemm_seconds_per_worker: float = 40e-6
    gather_seconds_per_byte: float = 0.05e-9
    gather_seconds_per_run: float = 7e-9
    #: Winograd, per worker: products per multiply-add at full speed (BLAS on one thread),
    #: reached from this many rows and inner size on (slower as (size / it) ** 0.6);
    #: transforms per transformed value and term summed (6 for F(4x4), 4 for F(2x2));
    #: the weights' transform per kernel; fixed costs per call.
    winograd_seconds_per_mac: float = 35e-12
    winograd_full_speed_size: int = 64
    winograd_seconds_per_input_term: float = 0.19e-9
    winograd_seconds_per_output_term: float = 0.1e-9
    winograd_seconds_per_weight: float = 60e-9
    winograd_seconds_per_call: float = 200e-6
    fft_seconds_per_flop: float = 0.1e-9
    fft_seconds_per_call: float = 80e-6
    copy_seconds_per_byte: float = 0.3e-9
    seconds_per_python_step: float = 5e-6
    reference_seconds_per_output: float = 3e-6
    reference_seconds_per_mac: float = 2e-9
    compile_seconds: float = 3.0
    cached_load_seconds: float = 0.01
    #: Calls assumed to share a one-time setup (compiling a kernel), so it is charged
    #: at this fraction: big problems compile at once, small one-off shapes do not.
    expected_reuse: int = 10


DEFAULT_MACHINE = MachineModel()


def _arithmetic_scale(spec: ConvSpec) -> float:
    """Cost of one multiply-add relative to float32."""
    factor = spec.dtype.itemsize / 4
    return factor * 2 if spec.dtype.kind == "c" else factor


def _counts(spec: ConvSpec) -> tuple[int, int, int, int]:
    """(positions per sample, taps, input channels per group, total multiply-adds)."""
    positions = spatial_volume(spec.out_spatial)
    taps = spatial_volume(spec.kernel)
    per_group_in = spec.in_channels // spec.groups
    return positions, taps, per_group_in, multiply_adds(spec)


def multiply_adds(spec: ConvSpec) -> int:
    """Multiply-adds of the direct definition: one per kernel tap, input channel and output.

    >>> from ndconv._shapes import conv_spec
    >>> multiply_adds(conv_spec((2, 4, 10), (6, 2, 3), groups=2))  # 2 * 6 * 8 * 2 * 3
    576
    """
    return (
        spec.batch * spec.out_channels * spatial_volume(spec.out_spatial)
        * (spec.in_channels // spec.groups) * spatial_volume(spec.kernel)
    )


def padded_bytes(spec: ConvSpec) -> int:
    """Bytes of the padded copy of the input (0 when there is no padding)."""
    if not any(lo or hi for lo, hi in spec.padding):
        return 0
    return spec.batch * spec.in_channels * spatial_volume(spec.padded_spatial) * spec.dtype.itemsize


def copied_padding_bytes(spec: ConvSpec) -> int:
    """Bytes of the padded copy the compiled kernels make: none for zero padding."""
    return 0 if spec.padding_mode == "zeros" else padded_bytes(spec)


def direct_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Compiled direct loops: arithmetic plus per-row, per-view and per-task overheads.

    Every (output row, input channel, kernel tap) makes one row view; with short
    rows and many taps (the weight gradient's derived convolution) those dominate.
    """
    _, taps, per_group_in, macs = _counts(spec)
    rows = spec.batch * spec.out_channels * spatial_volume(spec.out_spatial[:-1])
    tasks = rows * -(-spec.out_spatial[-1] // 4096)
    return (
        macs * machine.direct_seconds_per_mac * _arithmetic_scale(spec)
        + rows * per_group_in * machine.direct_seconds_per_row_channel
        + rows * per_group_in * taps * machine.direct_seconds_per_view
        + tasks * machine.direct_seconds_per_task
        + copied_padding_bytes(spec) * machine.copy_seconds_per_byte
        + machine.direct_seconds_per_launch
    )


def vectorized_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """NumPy loop over taps (or positions): one gather copy and one batched matmul per step."""
    positions, taps, per_group_in, macs = _counts(spec)
    per_group_out = spec.out_channels // max(spec.groups, 1)
    # Small matrices leave BLAS far from its peak; scale the rate by the matmul's size.
    efficiency = min(1.0, max(per_group_in * per_group_out, 1) / 4096) ** 0.5
    steps = min(taps, positions)
    copied = spec.batch * spec.in_channels * positions * taps * spec.dtype.itemsize
    return (
        macs * machine.gemm_seconds_per_mac * _arithmetic_scale(spec) / efficiency
        + copied * machine.copy_seconds_per_byte
        + steps * machine.seconds_per_python_step
        + padded_bytes(spec) * machine.copy_seconds_per_byte
    )


def reference_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """One interpreted dot product per output element."""
    positions, _, _, macs = _counts(spec)
    outputs = spec.batch * spec.out_channels * positions
    return outputs * machine.reference_seconds_per_output + macs * machine.reference_seconds_per_mac


def direct_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output: the padded copy of the input, for modes other than zeros."""
    return copied_padding_bytes(spec)


def vectorized_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output: padded input, one gathered step and the accumulator."""
    positions, taps, _, _ = _counts(spec)
    itemsize = spec.dtype.itemsize
    step = spec.batch * spec.in_channels * (positions if taps <= positions else taps)
    accumulator = spec.batch * spec.out_channels * positions
    return padded_bytes(spec) + (step + accumulator) * itemsize


def small_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output: the padded copy and the offsets of taps and windows."""
    offsets = spatial_volume(spec.kernel) + spatial_volume(spec.out_spatial)
    return padded_bytes(spec) + 8 * offsets


def reference_workspace(spec: ConvSpec) -> int:
    """Bytes beyond the output: the padded copy of the input, if any."""
    return padded_bytes(spec)
