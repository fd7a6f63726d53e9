"""Data files in every input format, and ways to run the command."""

from __future__ import annotations

import subprocess
import sys

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sklearn.datasets import make_blobs

from daskmix import cli

N_ROWS = 1200
COLUMNS = ["a", "b", "c"]


@pytest.fixture(scope="session")
def blob_files(tmp_path_factory):
    """Four well-separated blobs written as .npy, zarr (array and group), parquet and CSV."""
    root = tmp_path_factory.mktemp("data")
    X, _ = make_blobs(N_ROWS, n_features=3, centers=4, cluster_std=0.6,
                      center_box=(-20, 20), random_state=2)
    np.save(root / "blobs.npy", X)
    da.from_array(X, chunks=(250, 3)).to_zarr(str(root / "blobs.zarr"))
    xr.Dataset({"features": (("row", "col"), X)}).chunk({"row": 300}).to_zarr(
        root / "group.zarr", consolidated=False
    )
    frame = pd.DataFrame(X, columns=COLUMNS)
    frame.to_parquet(root / "blobs.parquet")
    (root / "parts").mkdir()
    for i, part in enumerate(np.array_split(np.arange(N_ROWS), 3)):
        frame.iloc[part].to_csv(root / "parts" / f"part-{i}.csv", index=False)
    frame.assign(site="north").to_csv(root / "mixed.csv", index=False)
    return root, X


def run_cli(*args, cwd=None):
    """Run ``python -m daskmix *args`` in a subprocess; return the completed process."""
    return subprocess.run([sys.executable, "-m", "daskmix", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def call_cli(*args):
    """Run ``daskmix *args`` in this process; return the exit code.

    Usage errors raise ``SystemExit(2)`` inside argparse; they are returned
    as the code 2 too.
    """
    try:
        return cli.main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code
