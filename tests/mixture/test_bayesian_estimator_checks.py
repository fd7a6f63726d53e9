"""scikit-learn's estimator contract for BayesianGaussianMixture, over its registries.

The default algorithm (batch VI) is checked with every (covariance type with
a Wishart family, weight prior); every other variational algorithm with each
covariance type it supports once and each weight prior it fits at least once
(see ``checked_estimators``). A type, prior or algorithm registered later is
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


#: The algorithm checked with every (covariance type, weight prior) pair.
DEFAULT_ALGORITHM = BayesianGaussianMixture().algorithm


def _settings(name, algorithm):
    """The (covariance type, weight prior) pairs checked with ``algorithm``.

    Every pair for the default algorithm; for the others, each covariance
    type once with the priors taken in turn (and more types in turn if there
    are more priors than types), so that each supported type and each prior
    is still checked with the algorithm. The checks call ``fit`` about a
    hundred times per estimator on tiny data sets; what the contract asks of
    a (type, prior) pair is checked by the default algorithm's full cross.
    """
    types, priors = _covariance_types(algorithm), _priors(algorithm)
    if name == DEFAULT_ALGORITHM:
        return [(c, p) for c in types for p in priors]
    return [(types[i % len(types)], priors[i % len(priors)])
            for i in range(max(len(types), len(priors)))]


def checked_estimators(with_client=False):
    """One estimator per checked (algorithm, covariance type, weight prior).

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
        for covariance_type, prior in _settings(name, algorithm)
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
    assert checked <= {(a, c, p) for a, algorithm in ALGORITHMS.items()
                       for c in _covariance_types(algorithm) for p in _priors(algorithm)}
    # the default algorithm with every pair ...
    assert {(c, p) for a, c, p in checked if a == DEFAULT_ALGORITHM} == {
        (c, p) for c in WISHART_TYPES for p in WEIGHT_PRIORS}
    # ... and each algorithm with each of its types and each of its priors
    for a, algorithm in ALGORITHMS.items():
        assert {c for b, c, _ in checked if b == a} == set(_covariance_types(algorithm)), a
        assert {p for b, _, p in checked if b == a} == set(_priors(algorithm)), a
