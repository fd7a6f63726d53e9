"""Model files written by an earlier daskmix still load, and save back with the same content.

The files in ``data/`` were written by daskmix 0.1.0 (format version 1),
before model files were declared per estimator; they stand for files users
keep, so they are never regenerated. Their names say what they hold: a
stepwise EM state, factor loadings, truncated EM counts, feature names, a
k-means random stream, the feature axis of xarray input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import daskmix
from daskmix._model_io import model_to_dataset
from daskmix._model_io._storage import read_dataset

FILES = sorted((Path(__file__).parent / "data").glob("*.nc"))
#: Attributes that change with the writing version, not with the model.
_VERSIONED = {"daskmix_version", "daskmix_format_version", "checksum"}


def test_every_estimator_has_a_file():
    names = {read_dataset(path).attrs["estimator"] for path in FILES}
    assert names == {"GaussianMixture", "MiniBatchKMeans", "IncrementalPCA"}


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_earlier_file_saves_back_the_same(path):
    stored = read_dataset(path)
    again = model_to_dataset(daskmix.load(path))
    assert ({k: v for k, v in again.attrs.items() if k not in _VERSIONED}
            == {k: v for k, v in stored.attrs.items() if k not in _VERSIONED})
    assert sorted(again.variables) == sorted(stored.variables)
    for name, variable in stored.variables.items():
        assert again[name].dims == variable.dims, name
        if variable.dtype.kind not in "OUT":
            assert again[name].dtype == variable.dtype, name
        assert_array_equal(again[name].values, variable.values, err_msg=name)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_earlier_file_gives_a_working_model(path):
    model = daskmix.load(path)
    X = np.random.RandomState(0).randn(20, model.n_features_in_)
    if hasattr(model, "feature_names_in_"):
        X = pd.DataFrame(X, columns=model.feature_names_in_)
    out = model.transform(X) if hasattr(model, "transform") else model.predict_proba(X)
    if hasattr(out, "toarray"):  # truncated inference's sparse responsibilities
        out = out.toarray()
    assert np.isfinite(np.asarray(out)).all()
