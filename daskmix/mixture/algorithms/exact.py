"""Exact (batch) EM, ``GaussianMixture(algorithm="em")``: one pass over all the data per iteration.

The loop is :func:`~daskmix.mixture.algorithms.em.run_em`; each iteration is
one :class:`~daskmix.mixture.algorithms.exact_pass.ExactPass` (the E-step
statistics of every chunk, tree-reduced, one ``dask.compute``) and its
M-step on the client.
"""

from __future__ import annotations

from daskmix._dask import graph as _graph
from daskmix.mixture.algorithms._base import ANY_COVARIANCE, Algorithm
from daskmix.mixture.algorithms.em import run_em
from daskmix.mixture.algorithms.exact_pass import ExactPass

__all__ = ["ExactEM"]


class ExactEM(Algorithm):
    """Exact EM: scikit-learn's algorithm, each E-step a tree reduction over the chunks."""

    name = "em"
    covariance_types = ANY_COVARIANCE
    lockstep = True
    inline = True

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Iterate exact E-step passes and M-steps; see :meth:`Algorithm.run`.

        Returns
        -------
        RunResult
        """
        exact = ExactPass.from_settings(settings, data.X.shape[1], data.dtype)

        def pass_fn(current, first):
            stats, kernel_params = exact.statistics(data.X, sample_weight, current, first)
            (vector,) = _graph.compute(stats)
            return exact.unpack(vector, kernel_params)

        return run_em(
            pass_fn, exact.m_step, params, lower_bound=lower_bound,
            max_iter=settings.max_iter, tol=settings.tol, on_iteration=on_iteration,
        )
