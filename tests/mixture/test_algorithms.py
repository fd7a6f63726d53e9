"""The algorithm registry: what every algorithm declares, and a toy one registered for a test."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.utils._param_validation import InvalidParameterError

from daskmix import GaussianMixture
from daskmix.mixture.algorithms import (
    ALGORITHMS,
    Algorithm,
    check_supported,
    get_algorithm,
    supporting,
)
from daskmix.mixture.algorithms.exact import ExactEM
from daskmix.mixture.covariance import COVARIANCE_TYPES
from daskmix.mixture.kernels.pairs import PAIR_EVALUATORS
from tests.conftest import N_COMPONENTS

#: GaussianMixture's constructor parameters.
ESTIMATOR_PARAMETERS = set(inspect.signature(GaussianMixture).parameters)


class CountingEM(ExactEM):
    """Exact EM under another name, counting its runs (the toy algorithm)."""

    name = "counting"
    fitted_attribute_names = ("n_runs_",)

    def __init__(self):
        self.runs = 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return super().run(*args, **kwargs)

    def fitted_attributes(self, result):
        return {"n_runs_": self.runs}


@pytest.fixture
def counting(monkeypatch):
    """The toy algorithm, registered for one test."""
    algorithm = CountingEM()
    monkeypatch.setitem(ALGORITHMS, algorithm.name, algorithm)
    return algorithm


# ---- what every registered algorithm declares -----------------------------------
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_registered_under_its_own_name(name):
    algorithm = ALGORITHMS[name]
    assert isinstance(algorithm, Algorithm)
    assert algorithm.name == name
    assert get_algorithm(name) is algorithm


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_reads_only_estimator_parameters(name):
    assert ALGORITHMS[name].parameters <= ESTIMATOR_PARAMETERS


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_supports_only_registered_covariance_types(name):
    supported = ALGORITHMS[name].covariance_types
    assert supported is None or supported <= set(COVARIANCE_TYPES)


@pytest.mark.parametrize("covariance_type", sorted(COVARIANCE_TYPES))
def test_every_covariance_type_has_an_algorithm(covariance_type):
    assert "em" in supporting(covariance_type)


def test_truncated_types_have_pair_evaluators():
    assert ALGORITHMS["truncated"].covariance_types <= set(PAIR_EVALUATORS)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"algorithm must be one of \['async', 'em'"):
        get_algorithm("banana")


def test_unsupported_pair_names_both_ways_out():
    with pytest.raises(ValueError, match="supports covariance_type") as info:
        check_supported(ALGORITHMS["minibatch"], "factor")
    message = str(info.value)
    assert "algorithm='minibatch' supports covariance_type in" in message
    assert "covariance_type='factor' supports algorithm in ['em', 'truncated']" in message


# ---- a toy algorithm, registered for a test ----------------------------------------
def test_a_registered_algorithm_fits_through_the_estimator(blobs, counting):
    X, _ = blobs
    params = dict(n_components=N_COMPONENTS, covariance_type="diag", n_init=2, random_state=0)
    toy = GaussianMixture(algorithm="counting", **params).fit(X)
    exact = GaussianMixture(algorithm="em", **params).fit(X)
    assert counting.runs == 2
    assert toy.n_runs_ == 2
    assert_allclose(toy.means_, exact.means_)
    assert toy.lower_bound_ == exact.lower_bound_
    # its attributes go when another algorithm fits
    toy.set_params(algorithm="em").fit(X)
    assert not hasattr(toy, "n_runs_")


def test_the_constraint_reads_the_registry_when_it_validates(blobs, monkeypatch):
    X, _ = blobs
    with pytest.raises(InvalidParameterError, match="algorithm"):
        GaussianMixture(N_COMPONENTS, algorithm="counting").fit(X)
    monkeypatch.setitem(ALGORITHMS, "counting", CountingEM())
    assert GaussianMixture(N_COMPONENTS, algorithm="counting", random_state=0).fit(X).converged_


def test_an_algorithm_declares_its_covariance_types(blobs, counting, monkeypatch):
    X, _ = blobs
    monkeypatch.setattr(counting, "covariance_types", frozenset({"diag"}))
    gm = GaussianMixture(N_COMPONENTS, algorithm="counting", covariance_type="full")
    with pytest.raises(ValueError, match=r"algorithm='counting' supports covariance_type "
                                         r"in \['diag'\]"):
        gm.fit(X)
    assert counting.runs == 0 and not hasattr(gm, "means_")


def test_a_feature_of_another_algorithm_is_rejected(blobs, tmp_path):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, algorithm="truncated", n_active=2,
                         checkpoint_path=tmp_path / "fit.npz")
    with pytest.raises(ValueError, match="checkpoint_path is supported with "
                                         "algorithm='minibatch' only, got algorithm="
                                         "'truncated'"):
        gm.fit(X)


def test_tuning_values_of_other_algorithms_are_ignored(blobs):
    X, _ = blobs
    params = dict(n_components=N_COMPONENTS, covariance_type="diag", random_state=0)
    reference = GaussianMixture(**params).fit(X)
    tuned = GaussianMixture(n_active=2, gamma=0.5, max_no_improvement=3, **params).fit(X)
    assert_allclose(tuned.means_, reference.means_)


@pytest.mark.parametrize("name, unit", [("em", "EM iteration"), ("minibatch", "pass")])
def test_iteration_units(name, unit):
    assert ALGORITHMS[name].iteration_unit == unit


def test_partial_fit_is_stepwise_whatever_the_algorithm(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, algorithm="truncated", n_active=2, random_state=0)
    gm.partial_fit(X)
    assert gm.n_steps_ == 1 and not hasattr(gm, "n_evaluations_")
    assert np.isfinite(gm.lower_bound_)
