"""Algorithms that fit a Gaussian mixture: one module and one object each, in one registry.

:data:`ALGORITHMS` maps each value of ``GaussianMixture(algorithm=...)`` to
its :class:`~daskmix.mixture.algorithms._base.Algorithm`. The estimator asks
the registry for the object and never tests the name; adding an algorithm
means one module with one ``Algorithm`` subclass and one entry below.
The rules that involve several algorithms (which covariance types each one
fits, which parameters only some of them read) are checked here, from what
every algorithm declares.
"""

from __future__ import annotations

from daskmix.mixture.algorithms._base import ANY_COVARIANCE, Algorithm, FitSettings
from daskmix.mixture.algorithms.async_em import AsyncEM
from daskmix.mixture.algorithms.exact import ExactEM
from daskmix.mixture.algorithms.minibatch import MiniBatchEM
from daskmix.mixture.algorithms.truncated import TruncatedEM

__all__ = [
    "ALGORITHMS",
    "ANY_COVARIANCE",
    "Algorithm",
    "FitSettings",
    "check_parameter_use",
    "check_supported",
    "get_algorithm",
    "registered",
    "supporting",
]

#: Every algorithm, by its ``algorithm`` name. The estimator's parameter
#: constraint reads it when it validates, so an entry added later counts.
ALGORITHMS = {a.name: a for a in (ExactEM(), MiniBatchEM(), TruncatedEM(), AsyncEM())}


def get_algorithm(name):
    """The algorithm registered under ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    Algorithm

    Raises
    ------
    ValueError
        If no algorithm has that name.
    """
    return registered(ALGORITHMS, name)


def registered(registry, name):
    """``registry[name]``, or a ValueError listing the algorithms ``registry`` holds.

    Parameters
    ----------
    registry : dict of str to Algorithm
    name : str

    Returns
    -------
    Algorithm

    Raises
    ------
    ValueError
        If no algorithm has that name.
    """
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"algorithm must be one of {sorted(registry)}, got {name!r}") from None


def supporting(covariance_type):
    """The names of the algorithms that fit ``covariance_type``, sorted.

    Parameters
    ----------
    covariance_type : str

    Returns
    -------
    list of str
    """
    return sorted(name for name, algorithm in ALGORITHMS.items()
                  if algorithm.supports(covariance_type))


def check_supported(algorithm, covariance_type):
    """Raise if ``algorithm`` does not fit ``covariance_type``, naming what does.

    Parameters
    ----------
    algorithm : Algorithm
    covariance_type : str

    Raises
    ------
    ValueError
    """
    if algorithm.supports(covariance_type):
        return
    raise ValueError(
        f"algorithm={algorithm.name!r} supports covariance_type in "
        f"{sorted(algorithm.covariance_types)}, got covariance_type={covariance_type!r}; "
        f"covariance_type={covariance_type!r} supports algorithm in "
        f"{supporting(covariance_type)}. Use one of those."
    )


def _readers(parameter):
    """The names of the algorithms that read ``parameter``, sorted."""
    return sorted(name for name, algorithm in ALGORITHMS.items()
                  if parameter in algorithm.parameters)


def check_parameter_use(algorithm, params, defaults, also_read=frozenset()):
    """Reject a feature that only other algorithms have (``checkpoint_path`` without mini-batch).

    A parameter that some registered algorithm reads, that neither
    ``algorithm`` nor ``also_read`` covers, and whose default is None (a
    feature left off) asks, when set, for something this fit does not do: a
    ``ValueError`` naming the algorithms that do it. Tuning values that
    only other algorithms read (``n_active``, ``gamma``, ...) are ignored
    silently, as scikit-learn ignores them: an estimator switched to another
    algorithm with ``set_params``, or a grid search over algorithms, keeps
    them.

    Parameters
    ----------
    algorithm : Algorithm
    params : dict
        The estimator's parameters (``get_params(deep=False)``).
    defaults : dict
        Their defaults.
    also_read : frozenset of str, default=frozenset()
        Parameters read whatever the algorithm (those of ``partial_fit``).

    Raises
    ------
    ValueError
        Naming the algorithms that read the parameter.
    """
    specific = set().union(*(a.parameters for a in ALGORITHMS.values()))
    for name in sorted(specific - algorithm.parameters - also_read):
        if defaults[name] is not None or params[name] is None:
            continue
        readers = _readers(name)
        where = (f"algorithm={readers[0]!r}" if len(readers) == 1
                 else f"algorithm in {readers}")
        raise ValueError(
            f"{name} is supported with {where} only, got algorithm={algorithm.name!r}. "
            f"Choose {where}, or set {name}=None."
        )
