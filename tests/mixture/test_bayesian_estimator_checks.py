"""scikit-learn's estimator contract for BayesianGaussianMixture, over its registries.

One estimator per (covariance type with a Wishart family, weight prior,
variational algorithm): a type, prior or algorithm registered later is
checked without editing this file.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import BayesianGaussianMixture
from daskmix.mixture.variational import ALGORITHMS, WEIGHT_PRIORS, WISHART_TYPES

#: Settings that make an algorithm valid on the checks' data sets
#: (``n_components`` stays at its default, 1).
ALGORITHM_SETTINGS = {"minibatch": {"batch_size": 16}, "truncated": {"n_active": 1},
                      "esvi": {"n_active": 1}}

#: Checks not run: see ``test_estimator_checks.NOT_APPLICABLE``.
NOT_APPLICABLE = ("check_array_api_input",)


def _priors(algorithm):
    """The weight priors ``algorithm`` fits (every one unless it says otherwise)."""
    return [p for p in WEIGHT_PRIORS if p in getattr(algorithm, "weight_priors", WEIGHT_PRIORS)]


def checked_estimators(with_client=False):
    """One estimator per supported (algorithm, covariance type, weight prior).

    Parameters
    ----------
    with_client : bool, default=False
        The algorithms that need a ``distributed`` client (True), or the
        others (False).

    Returns
    -------
    list of BayesianGaussianMixture
    """
    return [
        BayesianGaussianMixture(covariance_type=covariance_type, algorithm=name,
                                weight_concentration_prior_type=prior, random_state=0,
                                **ALGORITHM_SETTINGS.get(name, {}))
        for name, algorithm in ALGORITHMS.items()
        if getattr(algorithm, "needs_client", False) == with_client
        for covariance_type in _covariance_types(algorithm)
        for prior in _priors(algorithm)
    ]


def _covariance_types(algorithm):
    """The covariance types whose checks run with ``algorithm``.

    Every supported one, except for an algorithm that needs a client: the
    checks' hundreds of tiny fits then go through a scheduler each, and
    what they check of a covariance type is already checked with the
    other algorithms, so its first supported type stands for all.
    """
    supported = [c for c in WISHART_TYPES if algorithm.supports(c)]
    return supported[:1] if getattr(algorithm, "needs_client", False) else supported


def _checks(estimators):
    """``parametrize_with_checks`` of ``estimators``, less the checks that do not apply."""
    generated = parametrize_with_checks(estimators).mark
    names, params = generated.args
    params = [p for p in params
              if not any(name in str(getattr(p, "values", p)) for name in NOT_APPLICABLE)]
    return pytest.mark.parametrize(names, params, **generated.kwargs)


@_checks(checked_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@_checks(checked_estimators(with_client=True))
def test_sklearn_compatible_estimator_on_a_client(estimator, check, in_process_client):
    check(estimator)


def test_every_supported_combination_is_checked():
    checked = {(est.algorithm, est.covariance_type, est.weight_concentration_prior_type)
               for est in checked_estimators() + checked_estimators(with_client=True)}
    assert checked == {(a, c, p) for a, algorithm in ALGORITHMS.items()
                       for c in _covariance_types(algorithm) for p in _priors(algorithm)}
    # every covariance type and every prior is checked with some algorithm
    assert {c for _, c, _ in checked} == set(WISHART_TYPES)
    assert {p for _, _, p in checked} == set(WEIGHT_PRIORS)
