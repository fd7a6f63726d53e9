"""One pass of exact EM for one model, split at the compute.

:meth:`ExactPass.statistics` builds the lazy statistics of a pass,
:meth:`ExactPass.unpack` reads the computed vector and :meth:`ExactPass.m_step`
turns it into new parameters. Splitting at the compute lets a caller compute
the passes of several models in one ``dask.compute`` (model selection runs
every candidate's EM in lockstep so): dask then reads each chunk once for
all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix.mixture._params import estep_params, params_from_stats
from daskmix.mixture.kernels.suffstats import StatsLayout, chunk_em_stats

__all__ = ["ExactPass"]


@dataclass(frozen=True)
class ExactPass:
    """The E-step pass and M-step of exact EM for one model.

    Attributes
    ----------
    covariance : object
        Covariance strategy.
    layout : StatsLayout
    reg_covar : float
    split_every : int or None
    dtype : numpy dtype
        The data's dtype.
    """

    covariance: type
    layout: StatsLayout
    reg_covar: float
    split_every: object
    dtype: np.dtype

    @classmethod
    def from_settings(cls, settings, n_features, dtype):
        """The pass of a fit's settings.

        Parameters
        ----------
        settings : FitSettings
        n_features : int
        dtype : numpy dtype

        Returns
        -------
        ExactPass
        """
        return cls(settings.covariance, settings.layout(n_features), settings.reg_covar,
                   settings.split_every, np.dtype(dtype))

    def statistics(self, X, sample_weight, params, first):
        """Lazy statistics of one pass at ``params``.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, n_features)
        sample_weight : dask.array.Array of shape (n_samples,) or None
        params : GaussianParams
        first : bool
            Also count non-finite values (the first pass of a fit).

        Returns
        -------
        stats : dask.array.Array of shape (layout.size,)
            Named ``daskmix-gmm-estep``.
        kernel_params : EStepParams
            Pass it to :meth:`unpack` with the computed ``stats``.
        """
        kernel_params = estep_params(self.covariance, params, self.dtype)
        stats = _graph.reduce_blocks(
            X, sample_weight, chunk_em_stats, size=self.layout.size, name="gmm-estep",
            split_every=self.split_every, params=kernel_params, layout=self.layout,
            check_finite=first,
        )
        return stats, kernel_params

    def unpack(self, vector, kernel_params):
        """The computed statistics as a dict, for ``EMRun.advance``.

        Parameters
        ----------
        vector : ndarray of shape (layout.size,)
        kernel_params : EStepParams
            As :meth:`statistics` returned them.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            If the pass found NaN or infinity in the data.
        """
        stats = self.layout.unpack(vector)
        raise_if_nonfinite(stats["nonfinite"])
        stats["shift"] = kernel_params.shift.astype(np.float64)
        stats["centres"] = kernel_params.centres.astype(np.float64)
        return stats

    def m_step(self, stats, params):
        """New parameters from the statistics of a pass.

        Parameters
        ----------
        stats : dict
            From :meth:`unpack`.
        params : GaussianParams
            The parameters of the pass (unused: the statistics carry what
            the M-step needs).

        Returns
        -------
        GaussianParams
        """
        return params_from_stats(
            self.covariance, stats, stats["shift"], stats["centres"], self.reg_covar,
            self.dtype, normalize_weights=True,
        )
