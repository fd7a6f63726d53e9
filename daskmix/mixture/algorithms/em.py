"""Exact (batch) EM: one pass over the data per iteration.

The loop owns one policy, when to stop: after ``max_iter`` iterations, or
when the mean log-likelihood changes by less than ``tol``. It knows nothing
of Dask or of covariance types; ``pass_fn`` and ``m_step_fn`` do the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["EMRun", "RunResult", "run_em"]


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


class EMRun:
    """One initialisation's EM, advanced one pass at a time.

    :func:`run_em` drives one run to the end; a caller holding several runs
    (model selection) advances them in lockstep, computing the passes of
    all of them together.

    Parameters
    ----------
    params : object
        Starting parameters.
    lower_bound : float
        Lower bound before the first iteration (``-inf`` on a fresh start).
    max_iter : int
    tol : float
    """

    def __init__(self, params, *, lower_bound, max_iter, tol):
        self.result = RunResult(params=params, lower_bound=lower_bound)
        self.max_iter = max_iter
        self.tol = tol

    @property
    def done(self):
        """Whether the run converged or used its ``max_iter`` iterations."""
        return self.result.converged or self.result.n_iter >= self.max_iter

    @property
    def first(self):
        """Whether the next pass is the run's first."""
        return self.result.n_iter == 0

    def advance(self, stats, m_step_fn):
        """Take the statistics of one pass: record the lower bound, run the M-step.

        Parameters
        ----------
        stats : dict
            Statistics of a pass at ``self.result.params``;
            ``stats["loglik"] / stats["weight"]`` is the mean log-likelihood.
        m_step_fn : callable
            ``m_step_fn(stats, params) -> params``.

        Returns
        -------
        n_iter : int
        lower_bound : float
        change : float
            The change of the lower bound in this iteration.
        """
        result = self.result
        previous = result.lower_bound
        result.lower_bound = float(stats["loglik"] / stats["weight"])
        result.params = m_step_fn(stats, result.params)
        result.lower_bounds.append(result.lower_bound)
        result.n_iter += 1
        change = result.lower_bound - previous
        if math.isfinite(change) and abs(change) < self.tol:
            result.converged = True
        return result.n_iter, result.lower_bound, change


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
    run = EMRun(params, lower_bound=lower_bound, max_iter=max_iter, tol=tol)
    while not run.done:
        stats = pass_fn(run.result.params, run.first)
        on_iteration(*run.advance(stats, m_step_fn))
    return run.result
