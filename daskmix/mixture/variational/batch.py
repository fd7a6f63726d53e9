"""Batch variational inference, ``BayesianGaussianMixture(algorithm="em")``.

Coordinate ascent, scikit-learn's updates: each iteration is one pass over
the data (the variational E-step's statistics of every chunk, tree-reduced,
one ``dask.compute``) and the posterior update on the client. The loop is
exact EM's (:func:`~daskmix.mixture.algorithms.em.run_em`): it stops when
the lower bound changes by less than ``tol`` or after ``max_iter`` passes.
"""

from __future__ import annotations

import numpy as np

from daskmix._dask import graph as _graph
from daskmix.mixture.algorithms._base import Algorithm
from daskmix.mixture.algorithms.em import run_em
from daskmix.mixture.algorithms.exact_pass import ExactPass
from daskmix.mixture.kernels.variational import VariationalLayout, chunk_vi_stats
from daskmix.mixture.variational.wishart import WISHART_TYPES

__all__ = ["BatchVI", "VariationalPass"]


class VariationalPass:
    """The E-step pass and posterior update of batch VI for one model.

    Parameters
    ----------
    model : VariationalModel
    layout : VariationalLayout
    split_every : int or None
    dtype : numpy dtype
        The data's dtype.
    """

    def __init__(self, model, layout, split_every, dtype):
        self.model = model
        self.layout = layout
        self.split_every = split_every
        self.dtype = np.dtype(dtype)
        # exact EM's pass over the same layout: its unpacking of the statistics
        self.exact = ExactPass(model.covariance, layout, model.reg_covar, split_every,
                               self.dtype)

    @classmethod
    def from_settings(cls, settings, n_features, dtype):
        """The pass of a fit's settings (the model in ``settings.options["model"]``).

        Parameters
        ----------
        settings : FitSettings
        n_features : int
        dtype : numpy dtype

        Returns
        -------
        VariationalPass
        """
        layout = VariationalLayout(
            settings.n_components, n_features,
            settings.covariance.second_moment_shape(settings.n_components, n_features),
        )
        return cls(settings.options["model"], layout, settings.split_every, dtype)

    def statistics(self, X, sample_weight, params, first):
        """Statistics of one pass at ``params``, computed.

        Parameters
        ----------
        X : dask.array.Array or ndarray of shape (n_samples, n_features)
        sample_weight : dask.array.Array, ndarray or None
        params : VariationalParams
        first : bool
            Also count non-finite values.

        Returns
        -------
        dict
            The unpacked statistics with the pass's ``shift`` and ``centres``.

        Raises
        ------
        ValueError
            If the pass found NaN or infinity in the data.
        """
        kernel_params = self.model.estep_params(params, self.dtype)
        stats = _graph.reduce_blocks(
            X, sample_weight, chunk_vi_stats, size=self.layout.size, name="bgmm-estep",
            split_every=self.split_every, params=kernel_params, layout=self.layout,
            check_finite=first,
        )
        (vector,) = _graph.compute(stats)
        return self.exact.unpack(vector, kernel_params)

    def step(self, X, sample_weight, params, first):
        """One iteration: the pass, the posterior update and the lower bound after it.

        Parameters
        ----------
        X, sample_weight, params, first
            As for :meth:`statistics`.

        Returns
        -------
        dict
            See :meth:`updated`.
        """
        return self.updated(self.statistics(X, sample_weight, params, first))

    def updated(self, stats):
        """The posterior update of a pass's statistics, and the lower bound after it.

        Parameters
        ----------
        stats : dict
            As :meth:`statistics` returns them.

        Returns
        -------
        dict
            ``stats`` with ``params`` (the new posterior), ``loglik`` (the
            lower bound) and ``weight`` (1: scikit-learn's lower bound is a
            sum over the rows, not a mean), as ``EMRun.advance`` reads them.
        """
        new = self.model.m_step(stats, self.dtype)
        return {**stats, "params": new,
                "loglik": self.model.lower_bound(new, stats["resp_log_resp"]), "weight": 1.0}


def _updated(step, params):
    """The M-step of :func:`run_em`: the posterior :meth:`VariationalPass.step` made."""
    return step["params"]


class BatchVI(Algorithm):
    """Batch (coordinate-ascent) variational inference, one pass per iteration."""

    name = "em"
    covariance_types = frozenset(WISHART_TYPES)
    inline = True
    iteration_unit = "VI iteration"
    iteration_units = "VI iterations"
    lower_bound_name = "evidence lower bound (constants dropped)"

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Iterate variational E-step passes and posterior updates; see :meth:`Algorithm.run`.

        Returns
        -------
        RunResult
        """
        vi = VariationalPass.from_settings(settings, data.X.shape[1], data.dtype)

        def pass_fn(current, first):
            return vi.step(data.X, sample_weight, current, first)

        return run_em(pass_fn, _updated, params, lower_bound=lower_bound,
                      max_iter=settings.max_iter, tol=settings.tol, on_iteration=on_iteration)
