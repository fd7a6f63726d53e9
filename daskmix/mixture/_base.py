"""BaseMixture: the restart, warm-start, convergence and reporting policy.

Subclasses provide the model: how to initialise, how to run one
initialisation to convergence, how to publish fitted attributes, and row-wise
outputs. This class never branches on a subclass's parameters, and
imports no Dask: validation goes through ``daskmix._validation`` and its one
pass over the data (the total of ``score``) through ``daskmix._dask.graph``.
"""

from __future__ import annotations

import os
import time
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from daskmix._compat import Interval, StrOptions, _fit_context
from daskmix._dask import components as _components
from daskmix._dask import graph as _graph
from daskmix._progress import FitProgress
from daskmix._state import SaveMixin, unchanged_on_error
from daskmix._validation import check_input, check_sample_weight, wrap_rows
from daskmix.mixture.kernels.suffstats import (
    BLOCK_SUMMARY_COLUMNS,
    block_params,
    chunk_block_resp,
    chunk_block_summary,
    chunk_log_prob_resp,
    merge_block_summaries,
)

__all__ = ["SHARED_CONSTRAINTS", "BaseMixture"]

#: The parameter constraints ``GaussianMixture`` and
#: ``BayesianGaussianMixture`` share: scikit-learn's common mixture
#: parameters and those of the shared algorithms (mini-batch, truncated,
#: checkpoints, progress). Each estimator adds its own, and its registry's
#: ``covariance_type`` and ``algorithm`` options.
SHARED_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0.0, None, closed="left")],
    "reg_covar": [Interval(Real, 0.0, None, closed="left")],
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
    "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "step_decay": [Interval(Real, 0.5, 1.0, closed="right")],
    "step_offset": [StrOptions({"auto"}), Interval(Real, 0.0, None, closed="left")],
    "warmup_size": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "max_no_improvement": [Interval(Integral, 1, None, closed="left"), None],
    "checkpoint_path": [str, os.PathLike, None],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
    "split_every": [Interval(Integral, 2, None, closed="left"), None],
    "progress": ["boolean"],
    "n_active": [Interval(Integral, 1, None, closed="left")],
    "n_neighbors": [Interval(Integral, 1, None, closed="left")],
}


class BaseMixture(SaveMixin, DensityMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class for mixture models fitted on Dask collections."""

    # ---- hooks ---------------------------------------------------------
    @abstractmethod
    def _check_parameters(self, n_features):
        """Validate initial parameters against the data; return them, validated."""

    @abstractmethod
    def _initialize_parameters(self, data, sample_weight, random_state, init_values):
        """Initial parameters for one initialisation."""

    @abstractmethod
    def _fitted_parameters(self):
        """The fitted parameters, for a warm start."""

    @abstractmethod
    def _run(self, data, sample_weight, params, lower_bound, on_iteration, *,
             random_state, warm):
        """Run one initialisation to convergence; return a ``RunResult``.

        ``params`` are initial parameters, the fitted ones (``warm=True``),
        or what ``_resume`` returned; ``random_state`` is the fit's random
        state, for algorithms that draw after the initialisation.
        """

    @abstractmethod
    def _set_fitted(self, params, dtype):
        """Publish ``params`` as fitted attributes in ``dtype``."""

    @abstractmethod
    def _row_outputs(self, data, output):
        """Lazy row-wise ``output`` of the fitted model for ``data``."""

    def _dense_row_outputs(self, data, output, kernel_params, prefix):
        """Lazy row-wise ``output`` evaluating every component with ``kernel_params``.

        Parameters
        ----------
        data : InputData
        output : {"predict", "predict_proba", "score_samples"}
        kernel_params : EStepParams
            The log-joints' parameters in the data's dtype.
        prefix : str
            Layer names start ``daskmix-<prefix>-`` (``gmm``, ``bgmm``).

        Returns
        -------
        ndarray, dask.array.Array or xarray.DataArray
            Wrapped like the input (``predict_proba`` with a ``component`` axis).
        """
        if output == "predict_proba":
            result = _graph.map_rows(
                data.X, chunk_log_prob_resp, name=f"{prefix}-predict-proba",
                n_columns=self.n_components, dtype=data.dtype,
                params=kernel_params, what=output,
            )
            return wrap_rows(result, data, column_dim="component",
                             column_labels=np.arange(self.n_components))
        dtype = np.int64 if output == "predict" else data.dtype
        name = f"{prefix}-predict" if output == "predict" else f"{prefix}-score-samples"
        result = _graph.map_rows(data.X, chunk_log_prob_resp, name=name, dtype=dtype,
                                 params=kernel_params, what=output)
        return wrap_rows(result, data)

    # ---- models loaded lazily from a sharded store ----------------------
    def _sharded(self):
        """Whether the per-component arrays are lazy blocks of a sharded store.

        ``daskmix.load`` of a store written by ``save(path, shards=P)``
        gives such a model (see :meth:`_block_row_outputs`).
        """
        return _graph.is_dask_array(getattr(self, "means_", None))

    def _component_blocks(self):
        """What a block of components needs for its log-joints (sharded models).

        Returns
        -------
        weights : ndarray of shape (n_components,)
            Float64 weights whose normalised mean of the means is the shift.
        log_weights : ndarray of shape (n_components,)
            Float64 per-component constants of the log-joints.
        prec_chol : callable
            ``prec_chol(covariance, *block_arrays, **shared)``: a block's
            fit-time precision factors.
        block_arrays : list of dask.array.Array
            The lazy per-component arrays ``prec_chol`` needs, block by block.
        shared : dict
            In-memory arrays ``prec_chol`` needs whole (a tied covariance's).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be sharded.")

    def _block_attributes(self, names, per_component):
        """Attributes ``names`` split for :meth:`_component_blocks`.

        Parameters
        ----------
        names : sequence of str
        per_component : bool
            Whether they lie along ``component`` first (then split into
            blocks even when in memory); otherwise only the lazy ones are.

        Returns
        -------
        block_arrays : list
        shared : dict
            The others by name, plus ``names``: the block arrays' names.
        """
        arrays, block_names, shared = [], [], {}
        for name in names:
            value = getattr(self, name)
            if per_component or _graph.is_dask_array(value):
                arrays.append(value)
                block_names.append(name)
            else:
                shared[name] = np.asarray(value)
        return arrays, dict(shared, names=tuple(block_names))

    def _block_row_outputs(self, data, output, prefix):
        """Lazy row-wise ``output`` of a sharded model, block of components by block.

        One task per row chunk and component block reads the block (from
        the store), builds its kernel parameters, evaluates its log-joints
        (the dense path's kernel, restricted to the block) and keeps a
        per-row summary (largest log-joint, its component, log-sum-
        exp); one task per row chunk merges the blocks' summaries into the
        label (``predict``) and the log-likelihood (``score_samples``).
        ``predict_proba`` evaluates each block again, normalised by the
        merged log-sum-exp, into that block's columns. The means' weighted
        mean (the kernels' shift) is computed first, block by block. No
        task holds more than one block of the model.

        Parameters
        ----------
        data : InputData
        output : {"predict", "predict_proba", "score_samples"}
        prefix : str
            Layer names start ``daskmix-<prefix>-``.

        Returns
        -------
        ndarray, dask.array.Array or xarray.DataArray
            As :meth:`_dense_row_outputs`.
        """
        weights, log_weights, prec_chol, arrays, shared = self._component_blocks()
        means = self.means_
        weights = weights / weights.sum()
        parts = _components.map_component_blocks(
            _weighted_mean_part, [weights, means], like=means, name=f"{prefix}-shift-block")
        (parts,) = _graph.compute(parts)
        shift = np.sum(np.stack(list(parts)), axis=0)
        arrays = [np.arange(self.n_components), means, log_weights, *arrays]
        kwargs = dict(shared, covariance=self._covariance, shift=shift, dtype=data.dtype,
                      prec_chol=prec_chol)
        X = _components.rows_as_dask(data.X)
        step = output.replace("_", "-")
        summaries = _components.map_rows_by_block(
            X, chunk_block_summary, arrays, like=means, block_func=block_params,
            block_kwargs=kwargs, columns=BLOCK_SUMMARY_COLUMNS, name=f"{prefix}-{step}-block",
            dtype=np.float64,
        )
        summary = _components.merge_row_blocks(
            summaries, merge_block_summaries, columns=BLOCK_SUMMARY_COLUMNS,
            name=f"{prefix}-{step}-merge", dtype=np.float64,
        )
        if output == "predict_proba":
            result = _components.map_rows_by_block(
                X, chunk_block_resp, arrays, like=means, block_func=block_params,
                block_kwargs=kwargs, columns=means.chunks[0], rows=(summary,),
                name=f"{prefix}-predict-proba-block-resp", dtype=data.dtype,
            )
            return wrap_rows(result, data, column_dim="component",
                             column_labels=np.arange(self.n_components))
        if output == "predict":
            result = summary[:, 1].astype(np.int64)
        else:
            result = summary[:, 2].astype(data.dtype)
        return wrap_rows(result, data)

    def _resume(self, data, sample_weight):
        """An interrupted fit to continue: ``(start, lower_bound)``, or None.

        When not None, the fit skips initialisation and passes ``start`` to
        ``_run`` as its ``params``. None by default.
        """
        return None

    def _fit_progress(self, data, description):
        """The progress bar of one initialisation's run (``max_iter`` iterations)."""
        return FitProgress(self.progress, self.max_iter, data.n_samples, description)

    def _fit_inline(self):
        """Whether a fit may run inline on small in-memory input (False here).

        True when every pass of the fit goes through ``InputData.X``, so
        that small NumPy input runs its kernels in the calling thread
        (see ``daskmix._validation``).
        """
        return False

    def _publish(self, result, dtype):
        """Publish the best run's model: ``_set_fitted``, then ``_finish_fit``.

        The fitted scalars (``converged_``, ``n_iter_``, ``lower_bound_``,
        ``lower_bounds_``) are set before. A subclass may publish a model
        that the run left elsewhere (on the workers) in its own way.
        """
        self._set_fitted(result.params, dtype)
        self._finish_fit(result)

    def _finish_fit(self, result):
        """Publish what ``result`` holds beyond the standard attributes (nothing here).

        Also removes what an earlier fit published that this one does not.
        """

    # ---- fitting -------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters with the
        largest lower bound are kept. Within each initialisation, EM runs
        until the lower bound changes by less than ``tol`` or ``max_iter``
        iterations are done, otherwise a ``ConvergenceWarning`` is raised.
        With ``warm_start=True``, ``n_init`` is ignored after the first fit
        and training starts where it left off.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
            Training data. Dask input is never loaded into the client.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of 2 counts a row twice.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        with unchanged_on_error(self):
            self._fit(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one more batch of data.

        The first call initialises the model from ``X``; every call then
        applies stepwise (online) EM updates: one with all of ``X`` for
        in-memory input (NumPy, pandas, or xarray holding NumPy), one per
        chunk, in order, for dask input. ``fit`` starts afresh; a
        ``partial_fit`` after ``fit`` continues from the fitted model.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
            The batch. Dask input is never loaded into the client.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of 2 counts a row twice.

        Returns
        -------
        self : object
            The updated mixture.
        """
        with unchanged_on_error(self):
            self._partial_fit(X, sample_weight)
        return self

    def _partial_fit(self, X, sample_weight):
        """Stepwise updates with ``X``; see ``partial_fit``."""
        raise NotImplementedError(f"{type(self).__name__} cannot learn incrementally.")

    def _fit(self, X, sample_weight):
        data = check_input(self, X, reset=True, min_samples=2, inline=self._fit_inline())
        if data.n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {data.n_samples}"
            )
        weights = check_sample_weight(sample_weight, data)
        init_values = self._check_parameters(data.X.shape[1])

        resumed = self._resume(data, weights)
        do_init = resumed is None and not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        best = None
        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            with self._fit_progress(
                data, f"{type(self).__name__} init {init + 1}/{n_init}"
            ) as bar:
                if resumed is not None:
                    params, lower_bound = resumed
                elif do_init:
                    bar.phase(f"initialising ({self.init_params})")
                    params = self._initialize_parameters(
                        data, weights, random_state, init_values
                    )
                    lower_bound = -np.inf
                else:
                    params = self._fitted_parameters()
                    lower_bound = self.lower_bound_

                def on_iteration(n_iter, lb, change, bar=bar):
                    bar.update(n_iter, lb)
                    self._print_verbose_msg_iter_end(n_iter, change)

                bar.start_iterations()
                result = self._run(data, weights, params, lower_bound, on_iteration,
                                   random_state=random_state, warm=not do_init)
            self._print_verbose_msg_init_end(result.lower_bound, result.converged)
            if best is None or result.lower_bound > best.lower_bound:
                best = result

        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        # the fitted scalars first: a model written while it is published holds them
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = list(best.lower_bounds)
        self._publish(best, data.dtype)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model and return the most probable component of each sample.

        Equivalent to ``fit(X).predict(X)``; on dask input the labels are lazy.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples,)
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    # ---- prediction ----------------------------------------------------
    def _outputs(self, X, output):
        check_is_fitted(self)
        data = check_input(self, X, reset=False, inline=True)
        return self._row_outputs(data, output)

    def score_samples(self, X):
        """Log-likelihood of each sample under the model.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples,)
            Lazy for dask input.
        """
        return self._outputs(X, "score_samples")

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` under the model.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
            Computed, also for dask input.
        """
        return self._mean_score_and_count(X)[0]

    def _mean_score_and_count(self, X):
        """Mean log-likelihood of ``X`` (computed) and its number of samples."""
        check_is_fitted(self)
        data = check_input(self, X, reset=False, inline=True)
        # the lazy dask scores whatever the input (NumPy ones for inline
        # input), summed as a named reduction
        lazy = data.replace(kind="dask", xarray_info=None)
        scores = self._row_outputs(lazy, "score_samples")
        (total,) = _graph.compute(_graph.total(scores, "gmm-score"))
        return float(total) / data.n_samples, data.n_samples

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples,)
            Lazy for dask input.
        """
        return self._outputs(X, "predict")

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_components)
            Lazy for dask input; an xarray result has a ``component`` dimension.
        """
        return self._outputs(X, "predict_proba")

    def sample(self, n_samples=1):
        """Draw samples from the fitted model.

        Each component draws its share (multinomial in ``weights_``) from its
        Gaussian with ``means_`` and ``covariances_`` (the subclass's
        ``_covariance`` type draws).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        if self._sharded():
            raise NotImplementedError(
                "sample() of a model loaded lazily from a sharded store is not supported; "
                "load it into memory with daskmix.load(path, lazy=False) first."
            )
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires "
                "at least one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_.astype(np.float64))
        covariance = self._covariance
        covariances = self.covariances_.astype(np.float64)
        X = np.vstack(
            [
                covariance.sample(rng, mean, covariances, k, int(count))
                for k, (mean, count) in enumerate(zip(self.means_.astype(np.float64), counts))
            ]
        )
        y = np.concatenate([np.full(int(c), k, dtype=np.int64) for k, c in enumerate(counts)])
        return X, y

    # ---- verbose output (scikit-learn's format) ------------------------
    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose == 1:
            print(f"Initialization {n_init}")
        elif self.verbose >= 2:
            print(f"Initialization {n_init}")
            self._init_prev_time = time.time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            elif self.verbose >= 2:
                cur_time = time.time()
                print(
                    f"  Iteration {n_iter}\t time lapse "
                    f"{cur_time - self._iter_prev_time:.5f}s\t ll change {diff_ll:.5f}"
                )
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, init_has_converged):
        converged_msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {converged_msg}.")
        elif self.verbose >= 2:
            t = time.time() - self._init_prev_time
            print(f"Initialization {converged_msg}. time lapse {t:.5f}s\t lower bound {lb:.5f}.")


def _weighted_mean_part(weights, means):
    """One block's share ``weights @ means`` of the weighted mean of the means."""
    return np.asarray(weights, dtype=np.float64) @ np.asarray(means, dtype=np.float64)
