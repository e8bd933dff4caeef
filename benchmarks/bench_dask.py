"""ndconv.dask against dask-image on a local dask.distributed cluster.

The case of issue 6: a 16384 x 16384 float32 image, a 5x5 kernel, zero padding to the
same size ("same"; dask-image's ``mode="constant", cval=0``: both centre an odd kernel on
its middle tap), the same chunks for both, on a ``LocalCluster`` of worker processes.
The image is made and kept in the workers' memory first, so the timings are the
convolutions (with their halo exchange), not I/O or transfers to the client: each run
persists the result on the workers, waits for it and drops it.

Both results are compared first (on the workers). Then the two are timed in alternation,
``--repeat`` times each, and the medians are reported with their ratio. Each worker runs
one thread, and ndconv's compiled kernels are set to one thread per worker as well, so
both libraries use the same cores (scipy.ndimage, under dask-image, is single-threaded).

    .venv/bin/python benchmarks/bench_dask.py                      # the issue's case
    .venv/bin/python benchmarks/bench_dask.py --size 4096 --repeat 3 --markdown out.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import dask
import dask.array as da
import dask_image
import dask_image.ndfilters
import distributed
import numpy as np
import scipy

import ndconv
import ndconv.dask


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} logical CPUs, {memory:.0f} GiB RAM, {platform.system()}"


def versions() -> str:
    dask_image_version = getattr(dask_image, "__version__", None)
    if dask_image_version is None:
        from importlib.metadata import version

        dask_image_version = version("dask-image")
    return (f"Python {platform.python_version()}, ndconv {ndconv.__version__}, NumPy "
            f"{np.__version__}, SciPy {scipy.__version__}, dask {dask.__version__}, "
            f"distributed {distributed.__version__}, dask-image {dask_image_version}")


def run_once(make) -> float:
    start = time.perf_counter()
    result = make().persist()
    distributed.wait(result)
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384, help="image side (default 16384)")
    parser.add_argument("--chunk", type=int, default=2048, help="chunk side (default 2048)")
    parser.add_argument("--kernel", type=int, default=5, help="kernel side (default 5)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((args.kernel, args.kernel)).astype(np.float32)
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                  processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(ndconv.set_num_threads, 1)
        image = (da.random.default_rng(1)
                 .standard_normal((args.size, args.size), dtype=np.float32,
                                  chunks=args.chunk)
                 .persist())
        distributed.wait(image)

        def ndconv_run():
            return ndconv.dask.correlate(image, kernel, mode="same")

        def dask_image_run():
            return dask_image.ndfilters.correlate(image, kernel, mode="constant", cval=0.0)

        # Agreement first (this also compiles ndconv's kernel in each worker).
        ours, theirs = ndconv_run(), dask_image_run()
        assert ours.chunks == theirs.chunks, (ours.chunks, theirs.chunks)
        largest = float(abs(theirs).max().compute())
        difference = float(abs(ours - theirs).max().compute())
        if difference > 1e-5 * largest:
            print(f"results differ: max |ndconv - dask-image| = {difference:.3g} "
                  f"(largest output {largest:.3g})", file=sys.stderr)
            return 1
        # What the workers' planners choose now for an interior block (chunk + halo).
        chunk_shape = (1, 1, *(args.chunk + args.kernel - 1,) * 2)
        plans = client.run(ndconv.plan, chunk_shape, (1, 1, args.kernel, args.kernel),
                           "float32")
        algorithm = "/".join(sorted({plan.algorithm for plan in plans.values()}))
        del ours, theirs

        times: dict[str, list[float]] = {"ndconv": [], "dask-image": []}
        for _ in range(args.repeat):
            times["ndconv"].append(run_once(ndconv_run))
            times["dask-image"].append(run_once(dask_image_run))

    ours_s, theirs_s = (statistics.median(times[name]) for name in ("ndconv", "dask-image"))
    pixels = args.size**2 / 1e6
    rows = [
        f"| ndconv.dask.correlate(mode='same') | {ours_s:.2f} | "
        f"{min(times['ndconv']):.2f} | {pixels / ours_s:.0f} | 1.00 |",
        f"| dask_image.ndfilters.correlate(mode='constant') | {theirs_s:.2f} | "
        f"{min(times['dask-image']):.2f} | {pixels / theirs_s:.0f} | "
        f"{theirs_s / ours_s:.2f} |",
    ]
    table = "\n".join([
        f"{args.size} x {args.size} float32 image ({args.size**2 * 4 / 2**30:.2f} GiB), "
        f"{args.kernel}x{args.kernel} float32 kernel, zero padding to the same size, chunks "
        f"{args.chunk} x {args.chunk}, held in the workers' memory; LocalCluster of "
        f"{args.workers} worker processes x 1 thread (ndconv threads per worker: 1). "
        f"Median and best of {args.repeat} interleaved runs (persist + wait). ndconv's "
        f"planner chose {algorithm!r} for the chunks; the results agree to "
        f"{difference / largest:.1e} of the largest output.",
        "",
        "| implementation | median s | best s | Mpixel/s | dask-image time / this |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Machine: {machine()}. {versions()}.",
    ])
    print(table)
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
