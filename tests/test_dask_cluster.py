"""ndconv.dask on a real dask.distributed cluster: two worker processes, one thread each.

Tasks are pickled to other processes, so this checks what a threaded scheduler cannot:
the chunk functions and the file reader/writer are importable and picklable, weights
travel as one graph key, and the work spreads over both workers.
"""

from __future__ import annotations

import numpy as np
import pytest

import ndconv
import ndconv.dask

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def test_conv_runs_on_two_worker_processes(client):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 64, 48)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    kwargs = {"stride": 2, "padding": "same", "padding_mode": "reflect"}
    lazy = ndconv.dask.conv(da.from_array(x, chunks=(1, 3, 16, 24)), da.from_array(w), b,
                            **kwargs).persist()
    distributed.wait(lazy)
    holders = {worker for workers in client.who_has(lazy).values() for worker in workers}
    assert len(holders) == 2  # the output chunks were computed on both workers
    got = lazy.compute()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ndconv.conv(x, w, b, **kwargs), rtol=1e-5, atol=1e-5)


def test_conv_grad_and_correlate_on_the_cluster(client):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 30, 20))
    w = rng.standard_normal((2, 1, 3, 2))
    kwargs = {"dilation": 2, "padding": ((1, 2), (0, 1)), "groups": 2,
              "padding_mode": "circular"}
    dy = rng.standard_normal(ndconv.conv(x, w, **kwargs).shape)
    got = ndconv.dask.conv_grad(da.from_array(dy, chunks=(1, 2, 8, 8)),
                                da.from_array(x, chunks=(1, 2, 10, 10)), w, **kwargs)
    for lazy, want in zip(got, ndconv.conv_grad(dy, x, w, **kwargs)):
        np.testing.assert_allclose(lazy.compute(), want, rtol=1e-10, atol=1e-10)
    image = rng.standard_normal((50, 40))
    k = rng.standard_normal((5, 4))
    lazy = ndconv.dask.convolve(da.from_array(image, chunks=(20, 15)), k, "full")
    np.testing.assert_allclose(lazy.compute(), ndconv.convolve(image, k, "full"), rtol=1e-10,
                               atol=1e-10)


def test_filter_file_with_the_cluster_reading_and_writing(client, tmp_path):
    image = np.random.default_rng(2).standard_normal((120, 90)).astype(np.float32)
    np.save(tmp_path / "in.npy", image)
    k = np.ones((3, 5), np.float32) / 15
    ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "out.npy", k, padding=(1, 2),
                            chunks=(25, 90), progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"),
                               ndconv.correlate(image, k, "same"), rtol=1e-5, atol=1e-6)
