"""Model files written by an earlier daskmix still load, and save back with the same content.

The files in ``data/`` were written by daskmix 0.1.0 (format version 1),
before model files were declared per estimator; they stand for files users
keep, so they are never regenerated. Their names say what they hold: a
stepwise EM state, factor loadings, truncated EM counts, feature names, a
k-means random stream, the feature axis of xarray input.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import daskmix
from daskmix import GaussianMixture
from daskmix._model_io import model_from_dataset, model_to_dataset
from daskmix._model_io._dataset import ModelWriter
from daskmix._model_io._schema import schema_of
from daskmix._model_io._storage import read_dataset

FILES = sorted((Path(__file__).parent / "data").glob("*.nc"))
#: Attributes that change with the writing version, not with the model.
_VERSIONED = {"daskmix_version", "daskmix_format_version", "checksum"}


def test_every_estimator_has_a_file():
    names = {read_dataset(path).attrs["estimator"] for path in FILES}
    assert names == {"GaussianMixture", "MiniBatchKMeans", "IncrementalPCA"}


def _model_attrs(attrs):
    """File attributes less the versioned ones, with the parameters decoded."""
    kept = {k: v for k, v in attrs.items() if k not in _VERSIONED}
    kept["params"] = json.loads(kept["params"])
    return kept


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_earlier_file_saves_back_the_same(path):
    stored = read_dataset(path)
    loaded = daskmix.load(path)
    again = model_to_dataset(loaded)
    stored_attrs, again_attrs = _model_attrs(stored.attrs), _model_attrs(again.attrs)
    # the same but for the run parameters (progress, verbose, ...), no longer stored
    run = schema_of(loaded).run_parameters
    assert run and run <= set(stored_attrs["params"])
    stored_attrs["params"] = {k: v for k, v in stored_attrs["params"].items() if k not in run}
    assert again_attrs == stored_attrs
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


def test_run_parameters_an_earlier_file_holds_are_ignored():
    """Earlier versions stored every parameter, ``progress=True`` too; it is left out on load."""
    X = np.random.RandomState(0).randn(200, 2)
    gm = GaussianMixture(2, random_state=0, progress=False, verbose=0).fit(X)
    run = {"progress": True, "verbose": 2, "verbose_interval": 3, "split_every": 4}
    writer = ModelWriter("GaussianMixture", dict(gm.get_params(), **run))  # as 0.1.0 wrote
    schema_of(gm).write(gm, writer)
    loaded = model_from_dataset(writer.dataset())
    assert {name: getattr(loaded, name) for name in run} == {
        name: getattr(GaussianMixture(), name) for name in run}
    assert_array_equal(loaded.means_, gm.means_)
    assert "progress" not in json.loads(model_to_dataset(loaded).attrs["params"])
