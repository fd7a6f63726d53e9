"""``daskmix fit``, ``predict`` and ``info`` run as a shell user runs them: as a process.

The error cases run through ``main`` in this process; one of them also runs as a process.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import daskmix
from daskmix import GaussianMixture
from tests.cli.conftest import call_cli, run_cli


def field(output, label):
    """The value printed on the summary line ``label: value``."""
    match = re.search(rf"^\s*{re.escape(label)}:\s*(.+)$", output, flags=re.MULTILINE)
    assert match is not None, f"no {label!r} line in:\n{output}"
    return match.group(1).strip()


def test_fit_then_predict_then_info(blob_files, tmp_path):
    root, X = blob_files
    model = tmp_path / "gm.nc"
    fitted = run_cli("fit", root / "blobs.npy", "-k", "4", "--covariance-type", "diag",
                     "--chunk-rows", "500", "-o", model, "--progress")
    assert fitted.returncode == 0, fitted.stderr
    # stderr is a pipe, as in a batch job: progress in plain lines, no redrawn bar
    assert "\r" not in fitted.stderr
    assert fitted.stderr.splitlines()[-1].startswith(
        f"GaussianMixture init 1/1: done after {field(fitted.stdout, 'iterations')} of at "
        "most 100 EM iterations, lower bound ")
    assert field(fitted.stdout, "model") == str(model)
    assert field(fitted.stdout, "input").startswith("1,200 rows x 3 features, float64, 3 chunks")
    assert field(fitted.stdout, "converged") == "True"

    expected = GaussianMixture(4, covariance_type="diag", random_state=0).fit(X)
    loaded = daskmix.load(model)
    np.testing.assert_allclose(loaded.means_, expected.means_, rtol=1e-10)

    labels = tmp_path / "labels.csv"
    predicted = run_cli("predict", model, root / "blobs.parquet", labels, "--progress")
    assert predicted.returncode == 0, predicted.stderr
    assert "\r" not in predicted.stderr and "100% Completed" in predicted.stderr
    assert_array_equal(pd.read_csv(labels)["label"], expected.predict(X))

    info = run_cli("info", model)
    assert info.returncode == 0, info.stderr
    assert field(info.stdout, "estimator") == "GaussianMixture"
    assert "covariance_type='diag'" in field(info.stdout, "parameters")
    assert "progress" not in field(info.stdout, "parameters")
    assert field(info.stdout, "file").startswith("netCDF-4 file, daskmix-model format version 1")


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["fit", "{root}/missing.npy", "-k", "2"], 3, "INPUT not found: .*missing.npy"),
        (["fit", "{root}/blobs.npy", "-k", "2", "--scheduler", "tcp://127.0.0.1:9",
          "--connect-timeout", "0.5"], 5, "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
        (["predict", "{root}/blobs.npy", "{root}/blobs.npy", "{tmp}/out.npy"], 4,
         r"not a daskmix model file \(a NumPy \.npy array\)"),
    ],
    ids=["missing-input", "no-scheduler", "not-a-model"],
)
def test_errors_exit_nonzero_with_one_line(blob_files, tmp_path, monkeypatch, capsys, args,
                                           code, message):
    """Each kind of error, through ``main`` in this process (as ``python -m daskmix`` calls it)."""
    root, _ = blob_files
    monkeypatch.chdir(tmp_path)
    assert call_cli(*[a.format(root=root, tmp=tmp_path) for a in args]) == code
    assert_one_error_line(capsys.readouterr().err, args[0], message)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_error_is_the_exit_status_of_the_process(blob_files, tmp_path):
    """The same as above, as a process: the status is the code ``main`` returns."""
    root, _ = blob_files
    result = run_cli("fit", root / "missing.npy", "-k", "2", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert_one_error_line(result.stderr, "fit", "INPUT not found: .*missing.npy")
    assert list(tmp_path.iterdir()) == []  # nothing written


def assert_one_error_line(stderr, command, message):
    assert re.search(message, stderr), stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"daskmix {command}: error: ")
