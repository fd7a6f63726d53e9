"""The model-file layer on its own: a toy estimator declares every field kind and round-trips.

This is also the recipe for a new estimator: declare a ``ModelSchema``
beside the class and decorate the class with ``register_model``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.base import BaseEstimator

import daskmix
from daskmix import GaussianMixture, ModelFileError
from daskmix._model_io import (
    Array,
    Coordinate,
    Group,
    LabelledAxis,
    ModelSchema,
    Nested,
    RandomStream,
    Value,
    _schema,
    model_to_dataset,
    register_model,
    registered_names,
)
from daskmix._state import SaveMixin
from tests.model_io._support import assert_same_state


@dataclasses.dataclass
class _Moments:
    total: np.ndarray
    square: np.ndarray


@dataclasses.dataclass
class _RunningState:
    moments: _Moments
    centre: np.ndarray
    extra: dict | None = None
    n_updates: int = 0
    rate: float = 0.5


def _state_dims(params):
    return ("cluster", "feature") if params["per_cluster"] else ("feature",)


TOY_FILE = ModelSchema(
    fields=(
        Value("n_features_in_"),
        Coordinate("feature_names_in_", "feature"),
        Array("centres_", ("cluster", "feature")),
        Array("history_", ("iteration",), kind="list"),
        Array("spread_", _state_dims),
        Array("counts_", ("cluster",), optional=True),
        Value("converged_"),
        Value("note_", optional=True),
        LabelledAxis("_axis"),
        RandomStream("_random_state"),
        Nested("_running", _RunningState, prefix="state_running_", parts={
            "moments": Group(_Moments, {"total": ("feature",), "square": _state_dims}),
            "centre": ("feature",),
            "extra": Group(dict, {"a": ("cluster",)}, optional=True),
        }),
    ),
    sizes=lambda est: {"cluster": est.n_clusters},
)


@pytest.fixture
def registry(monkeypatch):
    """A registry of its own, so the toy class does not outlive the test."""
    monkeypatch.setattr(_schema, "_REGISTRY", dict(_schema._REGISTRY))


@pytest.fixture
def toy_class(registry):
    """A registered toy estimator."""

    @register_model(TOY_FILE)
    class ToyModel(SaveMixin, BaseEstimator):
        _parameter_constraints = {"n_clusters": [int], "per_cluster": ["boolean"]}

        def __init__(self, n_clusters=2, per_cluster=False):
            self.n_clusters = n_clusters
            self.per_cluster = per_cluster

        def fit(self, X=None):
            return self  # the tests set the fitted state by hand

        def __sklearn_is_fitted__(self):
            return hasattr(self, "centres_")

    return ToyModel


def fitted(cls, *, per_cluster, complete):
    """A toy model with its fitted state set by hand, every optional field present or none."""
    rng = np.random.RandomState(0)
    model = cls(n_clusters=3, per_cluster=per_cluster)
    spread_shape = (3, 4) if per_cluster else (4,)
    model.n_features_in_ = 4
    model.centres_ = rng.randn(3, 4)
    model.history_ = [1.0, 0.5, 0.25]
    model.spread_ = rng.rand(*spread_shape).astype(np.float32)
    model.converged_ = True
    if complete:
        model.feature_names_in_ = np.array(["a", "b", "c", "d"], dtype=object)
        model.counts_ = np.array([3, 1, 2])
        model.note_ = "by hand"
        model._axis = ("band", np.array(["r", "g", "b", "n"]))
        model._random_state = np.random.RandomState(5)
        model._running = _RunningState(
            _Moments(rng.randn(4), rng.randn(*spread_shape)), np.asfortranarray(rng.randn(4)),
            extra={"a": np.arange(3.0)}, n_updates=7, rate=0.25,
        )
    return model


@pytest.mark.parametrize("complete", [True, False], ids=["every-field", "required-only"])
@pytest.mark.parametrize("per_cluster", [True, False])
def test_toy_estimator_round_trips_exactly(toy_class, tmp_path, per_cluster, complete):
    model = fitted(toy_class, per_cluster=per_cluster, complete=complete)
    model.save(tmp_path / "toy.nc")
    loaded = daskmix.load(tmp_path / "toy.nc")
    assert_same_state(model, loaded)
    assert loaded.get_params() == model.get_params()


def test_dimensions_follow_the_parameters(toy_class):
    dataset = model_to_dataset(fitted(toy_class, per_cluster=True, complete=True))
    assert dataset["spread_"].dims == ("cluster", "feature")
    assert dataset["state_running_moments_square"].dims == ("cluster", "feature")
    assert dataset["state_running_centre"].dims == ("feature",)
    assert dataset["state_axis_labels"].dims == ("feature",)
    assert dataset["state_random_state_keys"].dims == ("mt19937_key",)


def test_sizes_are_checked_on_load(toy_class, tmp_path):
    model = fitted(toy_class, per_cluster=False, complete=False)
    model.set_params(n_clusters=2)  # the file says 2 clusters, its arrays have 3
    model.save(tmp_path / "toy.nc")
    with pytest.raises(ModelFileError, match="'centres_' has 3 entries along 'cluster'"):
        daskmix.load(tmp_path / "toy.nc")


def test_registered_names_include_the_estimators(toy_class):
    assert registered_names() == ["BayesianGaussianMixture", "GaussianMixture",
                                  "IncrementalPCA", "MiniBatchKMeans", "ToyModel"]


def test_a_second_class_of_the_same_name_is_refused(toy_class):
    with pytest.raises(ValueError, match="'ToyModel' is registered already"):
        register_model(TOY_FILE)(type("ToyModel", (toy_class,), {}))


def test_an_unregistered_subclass_cannot_be_saved(blobs, tmp_path):
    class MyMixture(GaussianMixture):
        pass

    model = MyMixture(2, random_state=0).fit(blobs[0])
    with pytest.raises(TypeError, match="cannot save a MyMixture; model files hold "
                                        "BayesianGaussianMixture, GaussianMixture, "
                                        "IncrementalPCA, MiniBatchKMeans"):
        model.save(tmp_path / "model.nc")
