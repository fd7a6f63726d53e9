"""BayesianGaussianMixture: scikit-learn's variational estimator, fitted by passes over Dask chunks."""

from __future__ import annotations

import os
from dataclasses import replace
from numbers import Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if

from daskmix._compat import Interval, StrOptions
from daskmix._dask import graph as _graph
from daskmix._model_io import (
    abort_store,
    check_store_path,
    create_store,
    finalize_store,
    piece_ranges,
    placeholder,
    register_model,
    write_block,
)
from daskmix._state import load
from daskmix._validation import check_input, check_sample_weight
from daskmix.mixture._base import SHARED_CONSTRAINTS, BaseMixture
from daskmix.mixture._bayesian_model_file import BAYESIAN_MIXTURE_FILE
from daskmix.mixture._dims import shape_dims
from daskmix.mixture._init import InitContext, initial_params
from daskmix.mixture.algorithms import FitSettings
from daskmix.mixture.algorithms.checkpoint import load_checkpoint
from daskmix.mixture.algorithms.minibatch import update_ranges
from daskmix.mixture.covariance import COVARIANCE_TYPES, get_covariance_type
from daskmix.mixture.variational import (
    ALGORITHMS,
    WEIGHT_PRIORS,
    Priors,
    VariationalModel,
    VariationalParams,
    check_prior_settings,
    data_moments,
    get_algorithm,
    get_wishart,
    priors_for_data,
)
from daskmix.mixture.variational.blocks import block_posterior, components_per_chunk
from daskmix.mixture.variational.stochastic import initial_vi_state, stochastic_updates

__all__ = ["BayesianGaussianMixture"]


def _incremental(estimator):
    """Whether the estimator's algorithm learns incrementally (``partial_fit``)."""
    return getattr(get_algorithm(estimator.algorithm), "incremental", False)


@register_model(BAYESIAN_MIXTURE_FILE)
class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian Gaussian mixture fitted on NumPy, Dask, pandas or xarray data.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture`: the same
    parameters, defaults, fitted attributes and methods, and, from the same
    initial responsibilities, the same fitted posterior up to rounding. A
    Dirichlet-process (or Dirichlet) prior on the weights lets the data
    switch off the components they do not need: fit with more components
    than you expect and read the effective number from ``weights_``. Every
    iteration of ``algorithm="em"`` (batch variational inference) is one
    pass over the data: each chunk computes the same sufficient statistics
    as ``GaussianMixture``'s E-step, a tree reduction sums them, and the
    posterior update runs on the small result in the client.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components (an upper bound on those used).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        As for :class:`~daskmix.GaussianMixture`. ``"factor"`` has no
        conjugate prior and is rejected.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of the
        components' covariances.
    max_iter : int, default=100
        The number of iterations to perform.
    n_init : int, default=1
        The number of initialisations; the one with the largest lower bound
        is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are chosen (as for
        :class:`~daskmix.GaussianMixture`).
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, default="dirichlet_process"
        The prior on the weights: a stick-breaking Dirichlet process, or a
        Dirichlet distribution.
    weight_concentration_prior : float or None, default=None
        ``gamma_0``, the concentration of the weight prior (positive); None
        means ``1 / n_components``. Smaller values put the mass on fewer
        components.
    mean_precision_prior : float or None, default=None
        ``beta_0``, the precision of the prior on the means (positive); None
        means 1.
    mean_prior : array-like of shape (n_features,), default=None
        ``m_0``, the prior mean of the means; None means the data's mean.
    degrees_of_freedom_prior : float or None, default=None
        ``nu_0``, greater than ``n_features - 1``; None means ``n_features``.
    covariance_prior : float or array-like, default=None
        ``W_0^-1``, the prior of the covariances: shape (n_features,
        n_features) for ``"full"`` and ``"tied"``, (n_features,) for
        ``"diag"``, a float for ``"spherical"``; None means the data's
        unbiased covariance (its diagonal, or the mean of the diagonal).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation.
    warm_start : bool, default=False
        Start the next ``fit`` from the current posterior.
    verbose : int, default=0
        1 prints the initialisation and each iteration; 2 adds timings and
        the change of the lower bound.
    verbose_interval : int, default=10
        Iterations between two verbose messages.
    algorithm : {"em", "minibatch", "truncated", "esvi"}, default="em"
        ``"em"``: batch coordinate-ascent variational inference,
        scikit-learn's updates, one pass over the data per iteration.
        ``"minibatch"``: stochastic variational inference, one
        natural-gradient step on the global posterior per batch of
        ``batch_size`` rows; :meth:`partial_fit` makes the same steps
        (see Notes).
        ``"truncated"``: each point's variational distribution restricted
        to its ``n_active`` best components, found by truncated EM's guided
        search (``spherical``, ``diag`` and ``full``): an iteration costs
        about ``n_active * n_neighbors`` evaluations per point whatever
        ``n_components``, so a Dirichlet-process mixture can start from
        thousands of components (see Notes).
        ``"esvi"``: model-parallel variational inference on a
        ``distributed`` cluster (ESVI): parameter blocks travel between
        the workers, each worker keeps its rows and their ``n_active``
        largest responsibilities, every step is an exact coordinate ascent;
        a worker holds ``1 / n_workers`` of the model between rounds. Needs a
        ``distributed`` client, ``weight_concentration_prior_type=
        "dirichlet_distribution"`` and ``"full"``, ``"diag"`` or
        ``"spherical"`` (see Notes).
    batch_size : int or None, default=None
        With ``algorithm="minibatch"``: rows per update; None means
        ``max(32768, 10 * n_components)`` in ``fit`` and the rows of the
        first update in :meth:`partial_fit`.
    step_decay : float in (0.5, 1], default=0.7
        ``kappa`` of the step size ``(t + t0) ** -kappa`` of stochastic
        update ``t`` after the warm-up.
    step_offset : float >= 0 or "auto", default="auto"
        ``t0`` of the step size; ``"auto"`` continues the warm-up smoothly
        (as :class:`~daskmix.GaussianMixture`'s mini-batch EM).
    warmup_size : int >= 0 or "auto", default="auto"
        Rows pooled at the initial posterior before the first stochastic
        update; ``"auto"`` is ``max(20, 2 * n_components * (n_features + 1))``.
    max_no_improvement : int or None, default=10
        ``"minibatch"`` stops after this many consecutive updates in which
        the smoothed batch score did not rise by more than ``tol`` per row
        above its best; None never stops early.
    checkpoint_path : str, os.PathLike or None, default=None
        With ``algorithm="minibatch"``: a file where the fit's state is
        saved atomically every ``checkpoint_every`` updates and at the end
        (no pickle). If the file exists when ``fit`` starts, the fit
        continues from it instead of starting afresh, provided it was
        written with the same settings and data shape; otherwise ``fit``
        raises. Needs ``n_init=1``.
    checkpoint_every : int, default=100
        Updates between two checkpoints.
    n_active : int, default=3
        With ``algorithm="truncated"`` or ``"esvi"``: the components each
        point keeps (``n_active == n_components`` is batch VI for
        ``"truncated"``).
    n_neighbors : int, default=15
        With ``algorithm="truncated"``: the size of each component's
        neighbourhood searched for better candidates.
    split_every : int or None, default=None
        Fan-in of the tree reduction of chunk statistics; None lets dask's
        configuration decide.
    progress : bool, default=False
        Report progress on stderr during ``fit``.
    model_store : str, os.PathLike or None, default=None
        With ``algorithm="esvi"``: a zarr store (a path ending in ``.zarr``)
        that ``fit`` writes the fitted model to, each block of components
        from the worker that holds it, so that the client never holds the
        whole model; the fitted per-component attributes (``means_``, and
        ``covariances_``, ``precisions_`` and ``precisions_cholesky_``
        unless ``"spherical"``) are then the store's lazy dask arrays, as
        after :func:`daskmix.load`, and :meth:`predict` and the other
        row-wise methods run block by block on the cluster. Every worker
        must be able to write there (a shared file system on a cluster of
        several machines). An existing zarr store at the path is replaced
        once the new one is complete, as by :meth:`save`; a failed fit
        leaves no store there. None (the default) gathers the fitted
        model into the client, as the other algorithms do. Other algorithms
        refuse it (use :meth:`save` with ``shards`` after the fit). Not
        saved in model files.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weights of the components under the posterior.
    means_ : ndarray of shape (n_components, n_features)
        The posterior means of the component means.
    covariances_ : ndarray
        The posterior scales divided by the degrees of freedom (the
        inverses of the expected precisions); shape as for
        :class:`~daskmix.GaussianMixture`.
    precisions_ : ndarray
        The expected precisions.
    precisions_cholesky_ : ndarray
        Cholesky factors of ``precisions_``.
    converged_ : bool
        Whether the best initialisation converged.
    n_iter_ : int
        Iterations of the best initialisation.
    lower_bound_ : float
        The lower bound of the evidence (constants dropped, a sum over the
        rows, as scikit-learn's) at the end of the best initialisation.
    lower_bounds_ : list of float
        The lower bound at every iteration of the best initialisation.
    weight_concentration_prior_ : float
    weight_concentration_ : ndarray of shape (n_components,) or tuple of two
        The posterior concentration: a Dirichlet's (``"dirichlet_distribution"``)
        or the Beta parameters of each stick (``"dirichlet_process"``).
    mean_precision_prior_ : float
    mean_precision_ : ndarray of shape (n_components,)
        The posterior precisions of the means (``beta_k``).
    mean_prior_ : ndarray of shape (n_features,)
    degrees_of_freedom_prior_ : float
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        The posterior degrees of freedom (one shared value for ``"tied"``).
    covariance_prior_ : float or ndarray
    classes_ : ndarray of shape (n_components,)
        The labels :meth:`predict` returns.
    n_steps_ : int
        Stochastic updates made so far (only after a ``"minibatch"`` fit or
        :meth:`partial_fit`).
    n_samples_seen_ : int
        Rows used by those updates, counted once per use.
    n_evaluations_ : ndarray of shape (n_iter_,), dtype int64
        Only after an ``algorithm="truncated"`` fit: the (point, component)
        evaluations of each iteration.
    neighbors_ : ndarray of shape (n_components, min(n_neighbors, n_components)), dtype int32
        Only after an ``algorithm="truncated"`` fit: each component's final
        neighbourhood.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only for DataFrame input).

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : The in-memory estimator this one follows.
    daskmix.GaussianMixture : Maximum-likelihood fit of a finite mixture.

    Notes
    -----
    Passes over the data: the initialisation costs what
    :class:`~daskmix.GaussianMixture`'s does, the default ``mean_prior``
    and ``covariance_prior`` one more pass (their mean and covariance,
    once per fit, skipped when both are given), then each iteration one
    pass and one ``dask.compute``. The per-chunk work is exact EM's E-step
    (the covariance type's kernel at the expected precisions, the
    expectations of the log-weights and log-determinants folded into one
    constant per component) plus one dot product per tile for the entropy
    of the responsibilities that the lower bound needs. ``fit`` never loads
    the data into the client; persist an expensive dask array first. The
    features must be in one chunk and the chunk sizes known.

    ``algorithm="truncated"`` runs truncated EM's passes
    (:class:`~daskmix.GaussianMixture`'s Notes: a scalable initialisation
    on a row sample, E-only warm-up passes, then one pass per iteration in
    which each point searches the neighbourhoods of its ``K(n)`` plus one
    random component) with the variational log-joints, and batch VI's
    update on the truncated statistics. ``lower_bound_`` is then the
    evidence lower bound of the truncated posteriors, with the entropy
    taken over each ``K(n)``. The fitted model's row-wise methods evaluate
    every component.

    ``algorithm="minibatch"`` (Hoffman et al., JMLR 2013) initialises on a
    few whole batches (as :class:`~daskmix.GaussianMixture`'s mini-batch
    EM), with the counts scaled to the whole data, then makes one update,
    and one ``dask.compute`` reading only that batch's rows, per batch: the
    natural-gradient step on the global posterior, i.e. the running
    per-row statistics moved a step ``(t + t0) ** -step_decay`` towards the
    batch's and batch VI's update with them scaled to the data's size.
    ``max_iter`` counts passes; every pass visits the batches in a new
    order drawn from ``random_state``. A fit ends with one full pass and
    one batch-VI update, so ``lower_bound_`` is the evidence lower bound of
    the published posterior; ``lower_bounds_`` holds the exponentially
    weighted mean batch score (``score_samples``) at the end of every pass,
    which early stopping watches. :meth:`partial_fit` makes the same
    updates (one per call on in-memory input, one per chunk on dask
    input) with the statistics scaled to the rows seen so far; its first
    call initialises on its ``X`` and takes the default priors from it.
    The running statistics are not saved in model files: a loaded model's
    :meth:`partial_fit` restarts them from the fitted posterior.

    ``algorithm="esvi"`` (Zhang, Raman, Ji, Yu, Vishwanathan and Dhillon,
    *Extreme stochastic variational inference*) splits the components into ``g``
    blocks per worker (``dask.config`` ``daskmix.esvi.blocks-per-worker``,
    default 3); each pass moves every block once around the workers, and
    a worker holding a group of blocks redistributes its rows' mass on
    them (Lemma 1: exact, so ``lower_bounds_``, one value per pass, never
    decreases) and updates their posterior from the rows' change of
    statistics. ``n_iter_`` counts passes; a lost worker's rows are rebuilt
    from the data and the fit continues from its last pass (see the user
    guide). The initialisation computes a spherical model in the client
    (``init_params`` as for the other algorithms, with one variance per
    component): the run reads only the starting means, weights and each
    component's mean variance, which a full or diagonal start would give
    the same, so the client holds O(``n_components * n_features``) numbers,
    never ``n_components`` covariance matrices (``init_params="kmeans"``
    compares its candidate runs by their spherical models' likelihood).
    The fitted model is gathered into the client, as for the other
    algorithms, unless ``model_store`` is given: then each worker writes
    its blocks of the fitted model to the store, the client gathers only
    the O(``n_components``) attributes, and the per-component attributes
    are the store's lazy dask arrays (``predict`` and the other row-wise
    methods run block by block; :meth:`sample` needs the model in memory,
    ``daskmix.load(path, lazy=False)``). With ``n_init > 1`` the runs' fitted
    blocks stay on the workers until a better run replaces them, and only
    the best run is written. A worker holds its partition of the rows and
    about ``1 / n_workers`` of the model's statistics (blocks of 16 MiB or
    more change hands one at a time: at most one block more); for a model
    larger than a worker, give a ``model_store``.

    :meth:`predict`, :meth:`predict_proba`, :meth:`score_samples` and
    :meth:`score` evaluate the variational E-step, as scikit-learn's do:
    ``score_samples`` is the log-normaliser of the responsibilities, not a
    predictive density.

    ``sample_weight`` (which scikit-learn's estimator does not take) weighs
    each row's responsibilities in the statistics and in the entropy term,
    as repeating the row would; the default priors use the weighted mean
    and covariance (scaled by ``W / (W - 1)`` for total weight ``W``).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from daskmix import BayesianGaussianMixture
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(1000, centers=3, random_state=0)
    >>> bgm = BayesianGaussianMixture(n_components=8, weight_concentration_prior=1e-3,
    ...                               max_iter=500, random_state=0).fit(da.from_array(X, chunks=250))
    >>> int((bgm.weights_ > 0.01).sum())
    3
    >>> bgm.predict(da.from_array(X, chunks=250))
    dask.array<daskmix-bgmm-predict, shape=(1000,), dtype=int64, chunksize=(250,), chunktype=numpy.ndarray>
    """

    _parameter_constraints: dict = {
        **SHARED_CONSTRAINTS,
        "covariance_type": [StrOptions(COVARIANCE_TYPES.keys())],
        "weight_concentration_prior_type": [StrOptions(WEIGHT_PRIORS.keys())],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
        "algorithm": [StrOptions(ALGORITHMS.keys())],
        "model_store": [str, os.PathLike, None],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        algorithm="em",
        batch_size=None,
        step_decay=0.7,
        step_offset="auto",
        warmup_size="auto",
        max_no_improvement=10,
        checkpoint_path=None,
        checkpoint_every=100,
        n_active=3,
        n_neighbors=15,
        split_every=None,
        progress=False,
        model_store=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.algorithm = algorithm
        self.batch_size = batch_size
        self.step_decay = step_decay
        self.step_offset = step_offset
        self.warmup_size = warmup_size
        self.max_no_improvement = max_no_improvement
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.n_active = n_active
        self.n_neighbors = n_neighbors
        self.split_every = split_every
        self.progress = progress
        self.model_store = model_store

    # ---- the registries --------------------------------------------------
    @property
    def _covariance(self):
        get_wishart(self.covariance_type)  # rejects a type without a conjugate prior
        return get_covariance_type(self.covariance_type)

    @property
    def _algorithm(self):
        return get_algorithm(self.algorithm)

    def _model(self, priors, covariance_type=None):
        """The variational model of ``priors`` and this estimator's settings.

        ``covariance_type`` (default: the estimator's) gives the model of
        another covariance type, its prior taken from ``priors`` (the
        algorithm's ``start_covariance_type``).
        """
        if covariance_type is None:
            return VariationalModel(
                priors=priors, covariance=self._covariance,
                wishart=get_wishart(self.covariance_type),
                weight_prior=WEIGHT_PRIORS[self.weight_concentration_prior_type],
                reg_covar=self.reg_covar,
            )
        wishart = get_wishart(covariance_type)
        return VariationalModel(
            priors=replace(priors, covariance=wishart.prior_from(priors.covariance)),
            covariance=get_covariance_type(covariance_type), wishart=wishart,
            weight_prior=WEIGHT_PRIORS[self.weight_concentration_prior_type],
            reg_covar=self.reg_covar,
        )

    def _fit_settings(self, priors, total_weight=None):
        """What the algorithm's run reads: the model and the data's weight travel in ``options``."""
        return FitSettings(
            covariance=self._covariance, n_components=self.n_components,
            reg_covar=self.reg_covar, tol=self.tol, max_iter=self.max_iter,
            split_every=self.split_every,
            options={"model": self._model(priors), "total_weight": total_weight,
                     **{name: getattr(self, name) for name in self._algorithm.parameters}},
        )

    # ---- priors ------------------------------------------------------------
    def _fit_priors(self, data, sample_weight, shift):
        """The priors of this fit and the data's total weight (one pass, made once per fit).

        Parameters
        ----------
        data : InputData
        sample_weight : dask.array.Array, ndarray or None
        shift : ndarray of shape (n_features,)
            A point near the data, for the moments' conditioning.

        Returns
        -------
        priors : Priors
        total_weight : float
        """
        cached = self.__dict__.get("_priors_of_fit")
        if cached is not None:
            return cached
        settings = self._prior_settings
        wishart = get_wishart(self.covariance_type)
        moments = None
        if settings.needs_data:
            moments = data_moments(data.X, sample_weight, wishart.moment_type, shift,
                                   self.split_every)
        if sample_weight is None:
            total = float(data.n_samples)
        else:
            (total,) = _graph.compute(_graph.total(sample_weight, "total-weight"))
        cached = self._priors_of_fit = (priors_for_data(settings, wishart, moments),
                                        float(total))
        return cached

    def _published_priors(self):
        """The priors of the fitted model, from its attributes."""
        return Priors(
            float(self.weight_concentration_prior_), float(self.mean_precision_prior_),
            np.asarray(self.mean_prior_, dtype=np.float64),
            float(self.degrees_of_freedom_prior_),
            np.asarray(self.covariance_prior_, dtype=np.float64),
        )

    # ---- BaseMixture hooks ----------------------------------------------
    def _check_parameters(self, n_features):
        """Validate the priors and settings (into private attributes, not the parameters)."""
        wishart = get_wishart(self.covariance_type)
        algorithm = self._algorithm
        if not algorithm.supports(self.covariance_type):
            raise ValueError(
                f"algorithm={self.algorithm!r} supports covariance_type in "
                f"{sorted(algorithm.covariance_types)}, got "
                f"covariance_type={self.covariance_type!r}."
            )
        algorithm.check(self, n_features)
        self._check_model_store(algorithm)
        self._prior_settings = check_prior_settings(self, n_features, wishart)
        self._priors_of_fit = None
        return None

    def _check_model_store(self, algorithm):
        """Raise if ``model_store`` is set for an algorithm that gathers its model, or is unusable."""
        if self.model_store is None:
            return
        if "model_store" not in algorithm.parameters:
            readers = sorted(name for name, a in ALGORITHMS.items()
                             if "model_store" in a.parameters)
            raise ValueError(
                f"model_store is supported with algorithm in {readers} only (their fitted "
                f"model stays on the workers), got algorithm={self.algorithm!r}. Set "
                "model_store=None and save the fitted model with save(path, shards=...)."
            )
        check_store_path(self.model_store)

    def _initialize_parameters(self, data, sample_weight, random_state, init_values):
        """The starting posterior, of the algorithm's ``start_covariance_type`` if it has one.

        ESVI's is ``"spherical"``: the client computes O(K D) numbers, the
        means, weights and each component's mean variance, which is all
        its run reads (the same as the estimator's covariance type would
        give; see ``Algorithm.start_covariance_type``).
        """
        algorithm = self._algorithm
        start_type = algorithm.start_covariance_type
        covariance = (self._covariance if start_type is None
                      else get_covariance_type(start_type))
        X, weights = algorithm.initial_rows(self._fit_settings(None), data, sample_weight,
                                            random_state)
        ctx = InitContext(X, weights, self.n_components, covariance, self.reg_covar,
                          self.split_every, scalable=algorithm.scalable_init)
        start = initial_params(self.init_params, ctx, random_state)
        shift = start.weights @ start.means / start.weights.sum()
        priors, total = self._fit_priors(data, sample_weight, shift)
        return self._model(priors, start_type).from_gaussian(start, total)

    def _fitted_parameters(self):
        weight_prior = WEIGHT_PRIORS[self.weight_concentration_prior_type]
        covariance = self._covariance
        covariances = np.asarray(self.covariances_, dtype=np.float64)
        return VariationalParams(
            weight_concentration=weight_prior.from_published(self.weight_concentration_),
            mean_precision=np.asarray(self.mean_precision_, dtype=np.float64),
            means=np.asarray(self.means_, dtype=np.float64),
            degrees_of_freedom=np.asarray(self.degrees_of_freedom_, dtype=np.float64),
            covariances=covariances,
            prec_chol=covariance.precision_cholesky(covariances),
        )

    def _resume(self, data, sample_weight):
        """A checkpointed fit to continue (``algorithm="minibatch"``), or None."""
        if (self.checkpoint_path is None
                or "checkpoint_path" not in self._algorithm.parameters):
            return None  # other algorithms ignore the setting, as for GaussianMixture
        saved = load_checkpoint(self.checkpoint_path, VariationalParams)
        if saved is None:
            return None
        # the priors come from the data's moments about the saved fit's fixed shift
        priors, total = self._fit_priors(data, sample_weight, saved[0].shift)
        return self._algorithm.resume(self._fit_settings(priors, total), data, sample_weight)

    def _centre(self, params):
        """The posterior's weighted mean of the means (the moments' shift)."""
        weights = WEIGHT_PRIORS[self.weight_concentration_prior_type].weights(
            params.weight_concentration)
        return weights @ params.means

    def _run(self, data, sample_weight, params, lower_bound, on_iteration, *,
             random_state=None, warm=False):
        start = getattr(params, "state", None)  # a checkpointed fit's Resume
        posterior = params if start is None else start.params
        priors, total = self._fit_priors(data, sample_weight, self._centre(posterior))
        return self._algorithm.run(
            self._fit_settings(priors, total), data, sample_weight, params, lower_bound,
            on_iteration, random_state=random_state,
        )

    def _fit_inline(self):
        return self._algorithm.inline

    def _set_fitted(self, params, dtype):
        cached = self.__dict__.get("_priors_of_fit")
        priors = self._published_priors() if cached is None else cached[0]
        model = self._model(priors)
        self._set_posterior(model, priors, params.weight_concentration,
                            params.mean_precision, params.degrees_of_freedom, dtype)
        for name, value in _published_components(model.covariance, params.means,
                                                 params.covariances, params.prec_chol,
                                                 dtype).items():
            setattr(self, name, value)

    def _set_posterior(self, model, priors, weight_concentration, mean_precision,
                       degrees_of_freedom, dtype):
        """Publish the priors and the posterior's O(n_components) parameters."""
        self.weight_concentration_prior_ = priors.weight_concentration
        self.mean_precision_prior_ = priors.mean_precision
        self.mean_prior_ = priors.mean
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom
        self.covariance_prior_ = priors.covariance
        self.weight_concentration_ = model.weight_prior.published(weight_concentration)
        self.mean_precision_ = mean_precision
        # a shared precision's degrees of freedom: a NumPy float, as scikit-learn's
        self.degrees_of_freedom_ = degrees_of_freedom[()]
        self.weights_ = model.weight_prior.weights(weight_concentration).astype(dtype)
        self.classes_ = np.arange(self.n_components)

    def _publish(self, result, dtype):
        if self.model_store is None:
            super()._publish(result, dtype)
            return
        priors = self._priors_of_fit[0]
        # first what the previous fit published and this one does not: the
        # store is written from the estimator's attributes
        self._finish_fit(result)
        self._publish_to_store(result.params, priors, dtype)

    def _publish_to_store(self, blocks, priors, dtype):
        """Write the fitted blocks to ``model_store`` from their workers; publish its lazy arrays.

        Each block's worker computes the block's O(n_components) published
        parts (weights, concentrations, degrees of freedom, mean
        precisions, a spherical type's variances) and the shapes of the
        others (:func:`_small_part`), which the client gathers; the client
        starts the store from the estimator with
        :func:`~daskmix._model_io.placeholder` arrays; each worker then
        writes its blocks (:func:`_write_block`), computing the published
        arrays a piece of components at a time, so that no worker holds
        more than its blocks' statistics and one piece; the client seals
        the store, and the per-component attributes are then the store's,
        loaded lazily. A failure removes the unfinished store.

        Parameters
        ----------
        blocks : PinnedBlocks
            The run's final blocks, on the workers.
        priors : Priors
        dtype : numpy dtype
        """
        model = self._model(priors)
        n = len(blocks)
        parts = blocks.gather([blocks.submit(b, _small_part, blocks.futures[b], model,
                                             np.dtype(dtype), label=f"small-block-{b}")
                               for b in range(n)])
        small = {name: np.concatenate([p["small"][name] for p in parts], axis=-1)
                 for name in parts[0]["small"]}
        self._set_posterior(model, priors, small.pop("weight_concentration"),
                            small.pop("mean_precision_"), small.pop("degrees_of_freedom_"),
                            dtype)
        for name, value in small.items():
            setattr(self, name, value)
        for name, (shape, stored) in parts[0]["shapes"].items():
            setattr(self, name, placeholder((self.n_components, *shape), stored))
        store = create_store(self, self.model_store, blocks.ranges)
        try:
            digests = blocks.gather([blocks.submit(b, _write_block, store, b,
                                                   blocks.futures[b], model, np.dtype(dtype),
                                                   label=f"write-block-{b}")
                                     for b in range(n)])
            finalize_store(store, digests)
        except BaseException:
            abort_store(store)
            raise
        finally:
            blocks.release()
        stored = load(store.path, lazy=True)
        for name in store.variables:
            setattr(self, name, getattr(stored, name))

    def _finish_fit(self, result):
        # a fit starts afresh: partial_fit continues from the fitted posterior
        self.__dict__.pop("_stepwise_state", None)
        for algorithm in ALGORITHMS.values():
            for name in algorithm.fitted_attribute_names:
                self.__dict__.pop(name, None)
        for name, value in self._algorithm.fitted_attributes(result).items():
            setattr(self, name, value)
        # fit-scoped caches: the published attributes hold what a model needs
        self.__dict__.pop("_priors_of_fit", None)
        self.__dict__.pop("_prior_settings", None)

    def _component_blocks(self):
        model = self._model(self._published_priors())
        weight_prior = WEIGHT_PRIORS[self.weight_concentration_prior_type]
        # what the log-joints' constants need: all O(n_components), in memory
        params = VariationalParams(
            weight_concentration=weight_prior.from_published(self.weight_concentration_),
            mean_precision=np.asarray(self.mean_precision_, dtype=np.float64),
            means=self.means_,
            degrees_of_freedom=np.asarray(self.degrees_of_freedom_, dtype=np.float64),
            covariances=None, prec_chol=None,
        )
        per_component = shape_dims(model.covariance.parameter_shape)[0] == "component"
        arrays, shared = self._block_attributes(("covariances_",), per_component)
        return (model.weights(params), model.log_weights(params), _block_prec_chol,
                arrays, shared)

    def _row_outputs(self, data, output):
        if self._sharded():
            return self._block_row_outputs(data, output, "bgmm")
        model = self._model(self._published_priors())
        kernel_params = model.estep_params(self._fitted_parameters(), data.dtype)
        return self._dense_row_outputs(data, output, kernel_params, "bgmm")

    def _partial_fit(self, X, sample_weight):
        state = getattr(self, "_stepwise_state", None)
        fitted = hasattr(self, "means_")
        data = check_input(self, X, reset=not fitted, min_samples=1)
        weights = check_sample_weight(sample_weight, data)
        if state is None:
            if fitted:
                self._check_parameters(data.array.shape[1])
                params = self._fitted_parameters()
                self._priors_of_fit = (self._published_priors(), None)
            else:
                if data.n_samples < self.n_components:
                    raise ValueError(
                        "The first partial_fit needs n_samples >= n_components to initialise "
                        f"the mixture, but got n_components = {self.n_components}, "
                        f"n_samples = {data.n_samples}. Pass a larger first batch."
                    )
                self._check_parameters(data.array.shape[1])
                params = self._initialize_parameters(data, weights,
                                                     check_random_state(self.random_state),
                                                     None)
            priors = self._priors_of_fit[0]
            state = initial_vi_state(self._model(priors), params, data.dtype,
                                     nominal_rows=self.batch_size or 0)
        else:
            self._priors_of_fit = (self._published_priors(), None)
            priors = self._priors_of_fit[0]
        settings = self._fit_settings(priors)
        state, score = stochastic_updates(settings, state, data, weights,
                                          update_ranges(X, data))
        self._set_fitted(state.params, data.dtype)
        self._stepwise_state = state
        self.lower_bound_ = float(score)
        self.lower_bounds_ = list(getattr(self, "lower_bounds_", [])) + [float(score)]
        self.n_iter_ = int(getattr(self, "n_iter_", 0)) + 1
        self.converged_ = False
        self.n_steps_ = int(state.n_steps)
        self.n_samples_seen_ = int(state.rows_seen)
        self.__dict__.pop("_priors_of_fit", None)
        self.__dict__.pop("_prior_settings", None)

    @available_if(_incremental)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the posterior with one more batch of data (stochastic variants only).

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return super().partial_fit(X, y, sample_weight=sample_weight)


def _block_prec_chol(covariance, *arrays, names, **shared):
    """Cholesky factors of the expected precisions of a block of components.

    Parameters
    ----------
    covariance : CovarianceType
    *arrays : ndarray
        The block's slice of ``covariances_`` (when it is per component).
    names : tuple of str
    **shared : ndarray
        ``covariances_`` whole (a shared precision's).

    Returns
    -------
    ndarray
    """
    covariances = dict(zip(names, arrays, strict=True), **shared)["covariances_"]
    return covariance.precision_cholesky(np.asarray(covariances, dtype=np.float64))


def _published_components(covariance, means, covariances, prec_chol, dtype):
    """The per-component arrays a fitted model publishes, in ``dtype``.

    Parameters
    ----------
    covariance : CovarianceType
    means : ndarray of shape (n_components, n_features)
    covariances, prec_chol : ndarray
        The posterior's, float64.
    dtype : numpy dtype

    Returns
    -------
    dict of str to ndarray
        ``means_`` and the covariance type's ``covariances_``,
        ``precisions_`` and ``precisions_cholesky_``.
    """
    published = {"means_": np.asarray(means).astype(dtype)}
    for name, value in covariance.fitted_attributes(covariances, prec_chol).items():
        published[name] = np.asarray(value).astype(dtype)
    return published


def _published_pieces(block, model, dtype, ranges):
    """A block's published attributes, a piece of components at a time (on the block's worker).

    Parameters
    ----------
    block : Block
        ESVI's final statistics (:mod:`~daskmix.mixture.variational.blocks`).
    model : VariationalModel
    dtype : numpy dtype
    ranges : iterable of (int, int)
        Pieces of the block's components, from its start.

    Yields
    ------
    a : int
        The piece's first component, from the block's start.
    published : dict of str to ndarray
        :func:`_published_components`' plus ``weight_concentration`` (the
        posterior's), ``mean_precision_`` and ``degrees_of_freedom_``.
    """
    for a, b in ranges:
        p = block_posterior(block, model, (a, b))
        published = _published_components(model.covariance, p.means, p.covariances,
                                          p.prec_chol, dtype)
        published.update(weight_concentration=np.asarray(p.weight_concentration),
                         mean_precision_=np.asarray(p.mean_precision),
                         degrees_of_freedom_=np.asarray(p.degrees_of_freedom))
        yield a, published


def _small_part(block, model, dtype):
    """What the client gathers of a block: its one-dimensional arrays, the others' shapes.

    Parameters
    ----------
    block : Block
    model : VariationalModel
    dtype : numpy dtype

    Returns
    -------
    dict
        ``small``: name -> array of the block's components; ``shapes``:
        name -> (shape after the component axis, dtype string) of the
        arrays a sharded store splits into blocks.
    """
    size, n_block = components_per_chunk(block.sy.shape[1]), block.stop - block.start
    small, shapes = {}, {}
    for _, published in _published_pieces(
            block, model, dtype, [(a, min(a + size, n_block)) for a in range(0, n_block, size)]):
        for name, value in published.items():
            if value.ndim < 2:
                small.setdefault(name, []).append(value)
            else:
                shapes[name] = (value.shape[1:], value.dtype.str)
    return {"small": {name: np.concatenate(parts, axis=-1) for name, parts in small.items()},
            "shapes": shapes}


def _write_block(store, index, block, model, dtype):
    """Write a block's per-component arrays to ``store`` (runs on the block's worker).

    The arrays are made and written a piece of components at a time
    (:func:`~daskmix._model_io.piece_ranges`).

    Parameters
    ----------
    store : ShardedStore
    index : int
    block : Block
    model : VariationalModel
    dtype : numpy dtype

    Returns
    -------
    dict of str to str
        :func:`~daskmix._model_io.write_block`'s digests.
    """
    ranges = piece_ranges(store, index, components_per_chunk(block.sy.shape[1]))
    return write_block(store, index, (
        (a, {name: published[name] for name in store.variables})
        for a, published in _published_pieces(block, model, dtype, ranges)))
