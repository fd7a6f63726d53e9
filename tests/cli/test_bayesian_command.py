"""``daskmix fit --bayesian``: the variational mixture from the command line."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import daskmix
from daskmix import BayesianGaussianMixture
from tests.cli.conftest import call_cli

#: Options of each algorithm on the 1,200 rows of ``blob_files``.
ALGORITHM_OPTIONS = {"em": {}, "minibatch": {"batch_size": 100}, "truncated": {}}


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_OPTIONS))
def test_fit_bayesian_saves_the_model_of_the_estimator(blob_files, tmp_path, capsys,
                                                       algorithm):
    root, X = blob_files
    extra = ALGORITHM_OPTIONS[algorithm]
    options = [f"--{name.replace('_', '-')}={value}" for name, value in extra.items()]
    code = call_cli("fit", root / "blobs.npy", "--bayesian", "-k", "6", "--covariance-type",
                    "diag", "--algorithm", algorithm, "--weight-concentration-prior", "0.01",
                    *options, "-o", tmp_path / "m.nc")
    assert code == 0
    model = daskmix.load(tmp_path / "m.nc")
    assert isinstance(model, BayesianGaussianMixture)
    reference = BayesianGaussianMixture(6, covariance_type="diag", algorithm=algorithm,
                                        weight_concentration_prior=0.01, random_state=0,
                                        **extra).fit(X)
    assert_allclose(model.weights_, reference.weights_, rtol=1e-9, atol=1e-12)
    assert_allclose(model.means_, reference.means_, rtol=1e-9)
    out = capsys.readouterr().out
    assert "BayesianGaussianMixture" in out
    assert "evidence lower bound" in out


@pytest.mark.parametrize("options", [
    ("-k", "2,3"),
    ("-k", "3", "--covariance-type", "factor", "--n-factors", "1"),
    ("-k", "3", "--algorithm", "async"),
    ("-k", "3", "--covariance-floor", "0.5"),
    ("-k", "3", "--batch-size", "100"),
    ("-k", "3", "--weight-concentration-prior-type", "banana"),
])
def test_bad_bayesian_options_are_usage_errors(blob_files, tmp_path, options):
    root, _ = blob_files
    assert call_cli("fit", root / "blobs.npy", "--bayesian", *options,
                    "-o", tmp_path / "m.nc") == 2
    assert not (tmp_path / "m.nc").exists()


def test_info_describes_a_bayesian_model(blob_files, tmp_path, capsys):
    _, X = blob_files
    BayesianGaussianMixture(3, random_state=0).fit(X).save(tmp_path / "m.nc")
    assert call_cli("info", tmp_path / "m.nc") == 0
    out = capsys.readouterr().out
    assert "BayesianGaussianMixture" in out
    assert np.isfinite(float(out.split("lower bound:")[1].split()[0]))
    assert "evidence lower bound" in out
