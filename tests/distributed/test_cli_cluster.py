"""``daskmix fit --scheduler tcp://...`` against the loopback cluster, as a batch job runs it."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from dask.utils import key_split
from distributed import get_task_stream

import daskmix
from daskmix import GaussianMixture, cli
from tests.distributed._fits import blobs


def run_cli(*args, cwd=None):
    """Run ``python -m daskmix *args`` in a subprocess; return the completed process."""
    return subprocess.run([sys.executable, "-m", "daskmix", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    """The test blobs as .npy and as parquet, and the threaded fit they should give."""
    root = tmp_path_factory.mktemp("cli-data")
    X = blobs(3000)
    np.save(root / "blobs.npy", X)
    pd.DataFrame(X, columns=["a", "b", "c", "d"]).to_parquet(root / "blobs.parquet")
    expected = GaussianMixture(4, covariance_type="diag", random_state=0).fit(X)
    return root, expected


def test_fit_on_the_cluster_gives_the_local_model(cluster, data_files, tmp_path):
    _, client = cluster
    root, expected = data_files
    model = tmp_path / "model.nc"
    with get_task_stream(client) as stream:
        result = run_cli("fit", root / "blobs.npy", "-k", "4", "--covariance-type", "diag",
                         "--chunk-rows", "500", "--scheduler", client.scheduler.address,
                         "-o", model)
    assert result.returncode == 0, result.stderr
    # the E-steps ran on the cluster's workers, not in the command's process
    tasks = [t for t in stream.data if key_split(t["key"]) == "daskmix-gmm-estep-partial"]
    assert len({t["worker"] for t in tasks}) == 2
    fitted = daskmix.load(model)
    np.testing.assert_allclose(fitted.means_, expected.means_, rtol=1e-10)
    np.testing.assert_allclose(fitted.covariances_, expected.covariances_, rtol=1e-10)


def test_file_url_input_and_output_scheduler_from_the_environment(
    cluster, data_files, tmp_path, monkeypatch
):
    """file:// URLs, and $DASK_SCHEDULER_ADDRESS (set by dask-kubernetes' DaskJob).

    Run in this process (the subprocess path is tested above).
    """
    _, client = cluster
    root, expected = data_files
    model = tmp_path / "model.nc"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", client.scheduler.address)
    with get_task_stream(client) as stream:
        returned = cli.main(["fit", (root / "blobs.parquet").as_uri(), "-k", "4",
                             "--covariance-type", "diag", "-o", model.as_uri()])
    assert returned == 0
    # the E-steps ran on the cluster (one parquet partition: dask fuses the steps)
    assert any(key_split(t["key"]).startswith("daskmix-gmm-estep") for t in stream.data)
    fitted = daskmix.load(model)
    assert list(fitted.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(fitted.means_, expected.means_, rtol=1e-10)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["s3://bucket/data.zarr", "-o", "{tmp}/m.nc"], 3,
         r"cannot read s3://bucket/data\.zarr: .*s3fs"),
        (["https://example.org/data.npy"], 2,
         r"a \.npy INPUT is memory-mapped and must be a local path"),
        (["{root}/blobs.npy", "-o", "s3://bucket/model.nc"], 2,
         r"--output must be a local path or a file:// URL, not s3://bucket/model\.nc"),
    ],
    ids=["missing-fsspec-backend", "remote-npy", "remote-output"],
)
def test_urls_daskmix_cannot_use_are_refused_clearly(data_files, tmp_path, monkeypatch,
                                                     capsys, args, code, message):
    """Refused before anything runs (in this process: no cluster, no subprocess needed)."""
    root, _ = data_files
    monkeypatch.chdir(tmp_path)
    args = [a.format(root=root, tmp=tmp_path) for a in args]
    try:
        returned = cli.main(["fit", *args, "-k", "2"])
    except SystemExit as exc:  # usage errors exit through argparse
        returned = exc.code
    assert returned == code
    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # nothing written
