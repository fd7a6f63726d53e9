"""Exact (batch) EM: one pass over the data per iteration.

The loop owns one policy, when to stop: after ``max_iter`` iterations, or
when the mean log-likelihood changes by less than ``tol``. It knows nothing
of Dask or of covariance types; ``pass_fn`` and ``m_step_fn`` do the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["RunResult", "run_em"]


@dataclass
class RunResult:
    """Outcome of one initialisation's run.

    Attributes
    ----------
    params : object
        Parameters after the last M-step.
    lower_bound : float
        Mean log-likelihood of the parameters the last E-step used.
    lower_bounds : list of float
    n_iter : int
    converged : bool
    """

    params: object
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def run_em(pass_fn, m_step_fn, params, *, lower_bound, max_iter, tol, on_iteration):
    """Iterate E-step passes and M-steps until convergence or ``max_iter``.

    Parameters
    ----------
    pass_fn : callable
        ``pass_fn(params, first) -> stats`` computes the statistics of one
        pass (one ``dask.compute``); ``first`` is True on the first pass.
        ``stats["loglik"] / stats["weight"]`` is the mean log-likelihood.
    m_step_fn : callable
        ``m_step_fn(stats, params) -> params``.
    params : object
        Starting parameters.
    lower_bound : float
        Lower bound before the first iteration (``-inf`` on a fresh start).
    max_iter : int
    tol : float
    on_iteration : callable
        ``on_iteration(n_iter, lower_bound, change)``, for progress and logs.

    Returns
    -------
    RunResult
    """
    result = RunResult(params=params, lower_bound=lower_bound)
    for n_iter in range(1, max_iter + 1):
        previous = result.lower_bound
        stats = pass_fn(result.params, n_iter == 1)
        result.lower_bound = float(stats["loglik"] / stats["weight"])
        result.params = m_step_fn(stats, result.params)
        result.lower_bounds.append(result.lower_bound)
        result.n_iter = n_iter
        change = result.lower_bound - previous
        on_iteration(n_iter, result.lower_bound, change)
        if math.isfinite(change) and abs(change) < tol:
            result.converged = True
            break
    return result
