"""Truncated variational inference, ``BayesianGaussianMixture(algorithm="truncated")``.

Each point's variational distribution over the components is restricted to
its ``K(n)`` of ``n_active`` components, searched as truncated EM searches
them (``daskmix.mixture.algorithms.truncated``: the union of the
neighbourhoods ``g_c`` of the components in ``K(n)`` plus one random
component, about ``n_active * n_neighbors`` evaluations per point whatever
``n_components``). The log-joints are those of the variational E-step (the
expected log-weights and log-determinants folded into one constant per
component), the statistics are truncated EM's plus the truncated
posteriors' ``sum w q log q``, and the update is batch VI's. A
Dirichlet-process mixture can so start from thousands of components and
prune the ones the data do not need. With ``n_active == n_components``
every point keeps every component: batch VI.
"""

from __future__ import annotations

import numpy as np

from daskmix.mixture.algorithms.truncated import TruncatedEM, run_truncated
from daskmix.mixture.variational.batch import VariationalPass
from daskmix.mixture.variational.wishart import WISHART_TYPES

__all__ = ["TruncatedVI", "VariationalUpdate"]


class VariationalUpdate:
    """Batch VI's E-step parameters and update, for truncated passes.

    The interface of ``daskmix.mixture.algorithms.truncated.ExactUpdate``.

    Parameters
    ----------
    vi : VariationalPass
    """

    def __init__(self, vi):
        self.vi = vi
        self.layout = vi.layout

    def estep_params(self, params, dtype):
        """Kernel parameters of the variational E-step at ``params``."""
        return self.vi.model.estep_params(params, dtype)

    def unpack(self, vector, kernel_params):
        """The computed statistics of a pass as a dict."""
        return self.vi.exact.unpack(vector, kernel_params)

    def log_weights(self, params):
        """The per-component constants of the variational log-joints."""
        return self.vi.model.log_weights(params)

    def finish_pass(self, stats, params, with_moments):
        """After a pass with moments: the posterior update and the lower bound after it.

        An E-only warm-up pass keeps ``loglik``, the truncated log-normaliser.
        """
        return self.vi.updated(stats) if with_moments else stats

    def m_step(self, stats, params):
        """The posterior :meth:`finish_pass` computed; nothing re-seeded."""
        return stats["params"], np.empty(0, dtype=np.intp)


class TruncatedVI(TruncatedEM):
    """Truncated variational inference: batch VI on truncated posteriors.

    Reads ``n_active`` and ``n_neighbors``; publishes ``n_evaluations_``
    and ``neighbors_``, as truncated EM.
    """

    covariance_types = TruncatedEM.covariance_types & frozenset(WISHART_TYPES)
    lower_bound_name = "evidence lower bound of the truncated posteriors (constants dropped)"

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Warm-up passes, then truncated VI iterations; see ``Algorithm.run``.

        Returns
        -------
        TruncatedResult
        """
        vi = VariationalPass.from_settings(settings, data.array.shape[1], data.dtype)
        return run_truncated(settings, data, sample_weight, params, lower_bound,
                             on_iteration, random_state, update=VariationalUpdate(vi))
