"""GaussianMixture: scikit-learn's estimator, fitted by passes over Dask chunks."""

from __future__ import annotations

import functools
import inspect
import math
import types
from numbers import Integral, Real

import numpy as np
import scipy.sparse
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from daskmix._compat import Interval, StrOptions
from daskmix._model_io import register_model
from daskmix._progress import FitProgress
from daskmix._validation import check_input, check_sample_weight, wrap_rows
from daskmix.mixture._base import SHARED_CONSTRAINTS, BaseMixture
from daskmix.mixture._dims import shape_dims
from daskmix.mixture._init import InitContext, initial_params
from daskmix.mixture._model_file import GAUSSIAN_MIXTURE_FILE
from daskmix.mixture._params import GaussianParams, estep_params
from daskmix.mixture.algorithms import (
    ALGORITHMS,
    FitSettings,
    check_parameter_use,
    check_supported,
    get_algorithm,
    supporting,
)
from daskmix.mixture.algorithms.minibatch import (
    STEPWISE_PARAMETERS,
    MiniBatchEM,
    batch_rows,
    init_subset,
    partial_fit_updates,
    state_attributes,
    update_ranges,
)
from daskmix.mixture.algorithms.stepwise import initial_state
from daskmix.mixture.algorithms.truncated_inference import (
    SearchCache,
    check_searchable,
    search_inputs,
    truncated_outputs,
)
from daskmix.mixture.covariance import COVARIANCE_TYPES, get_covariance_type

__all__ = ["GaussianMixture"]

#: The algorithm of ``partial_fit``, whatever ``algorithm`` is: stepwise EM.
_STEPWISE_EM = MiniBatchEM()


def _check_weights(weights, n_components):
    weights = check_array(weights, dtype=[np.float64, np.float32], ensure_2d=False)
    if weights.shape != (n_components,):
        raise ValueError(
            f"The parameter 'weights' should have the shape of ({n_components},), "
            f"but got {weights.shape}"
        )
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max "
            f"value {np.max(weights):.5f}, min value {np.min(weights):.5f}"
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not np.allclose(np.abs(1.0 - np.sum(weights)), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got sum(weights) = "
            f"{np.sum(weights):.5f}"
        )
    return weights.astype(np.float64)


def _check_means(means, n_components, n_features):
    means = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    if means.shape != (n_components, n_features):
        raise ValueError(
            f"The parameter 'means' should have the shape of "
            f"({n_components}, {n_features}), but got {means.shape}"
        )
    return means.astype(np.float64)


def _check_precisions(precisions, covariance, n_components, n_features):
    precisions = check_array(
        precisions, dtype=[np.float64, np.float32], ensure_2d=False, allow_nd=True
    ).astype(np.float64)
    covariance.check_precisions(precisions, n_components, n_features)
    return precisions


@functools.cache
def _init_defaults(cls):
    """The defaults of ``cls.__init__``'s parameters, by name (read once per class)."""
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()}


def information_criteria(mean_score, n_samples, n_parameters):
    """BIC and AIC of a model from its mean log-likelihood (lower is better).

    Parameters
    ----------
    mean_score : float
        Mean log-likelihood per sample.
    n_samples, n_parameters : int

    Returns
    -------
    bic, aic : float
    """
    log_likelihood = mean_score * n_samples
    return (-2 * log_likelihood + n_parameters * math.log(n_samples),
            -2 * log_likelihood + 2 * n_parameters)


@register_model(GAUSSIAN_MIXTURE_FILE)
class GaussianMixture(BaseMixture):
    """Gaussian mixture fitted by EM on NumPy, Dask, pandas or xarray data.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, fitted attributes and methods, and, given the same
    initial parameters, the same fitted model up to rounding. Every EM
    iteration is one pass over the data: each chunk computes its sufficient
    statistics, a tree reduction sums them, and the M-step runs on the small
    result in the client.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical", "factor"}, default="full"
        ``"full"``: each component has its own general covariance matrix;
        ``"tied"``: all components share one general covariance matrix;
        ``"diag"``: each component has its own diagonal covariance matrix;
        ``"spherical"``: each component has its own single variance;
        ``"factor"``: each component is a factor analyser with covariance
        ``Lambda_k Lambda_k' + Psi_k``, ``n_factors`` loadings and a
        diagonal noise (a mixture of factor analysers; see Notes). Needs
        ``n_factors`` and ``algorithm="em"`` or ``"truncated"``.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of covariances.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initialisations; the best result is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are chosen (see Notes for the passes
        over the data each one costs).
    weights_init : array-like of shape (n_components,), default=None
        User-provided initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        User-provided initial means.
    precisions_init : array-like, default=None
        User-provided initial precisions; shape (n_components,) for
        ``"spherical"``, (n_features, n_features) for ``"tied"``,
        (n_components, n_features) for ``"diag"`` and
        (n_components, n_features, n_features) for ``"full"`` and
        ``"factor"`` (whose starting loadings and noise are then the
        probabilistic-PCA form of each inverse: exact when it is itself a
        factor covariance with isotropic noise).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation. Results do not depend on the chunking, the
        scheduler or the number of workers.
    warm_start : bool, default=False
        Start the next ``fit`` from the current solution.
    verbose : int, default=0
        1 prints the initialisation and each iteration; 2 adds timings and
        the change of the lower bound.
    verbose_interval : int, default=10
        Iterations between two verbose messages.
    algorithm : {"em", "minibatch", "truncated", "async"}, default="em"
        The fitting algorithm of :meth:`fit`: ``"em"`` is exact batch EM,
        one pass over the data per iteration; ``"minibatch"`` is stepwise
        (online) EM, one update per batch of ``batch_size`` rows (see
        Notes). :meth:`partial_fit` always makes stepwise updates.
        ``"truncated"`` is truncated variational EM (v-GMM; ``spherical``,
        ``diag``, ``full`` and, as v-MFA, ``factor``): one pass per
        iteration in which each point evaluates only the components near
        its ``n_active`` best ones, so
        an iteration costs about ``n_active * n_neighbors`` evaluations per
        point whatever ``n_components`` (see Notes).
        ``"async"`` is asynchronous distributed EM (DEM): the chunks'
        E-steps run as ``distributed`` futures (a ``Client`` must exist)
        and an M-step runs once a fraction ``gamma`` of the chunks has
        reported, so a slow worker does not hold up every iteration (see
        Notes).
    batch_size : int or None, default=None
        Rows per ``"minibatch"`` update. None means
        ``max(32768, 10 * n_components)`` in ``fit``, and the rows of the
        first update in ``partial_fit``. Batch ``i`` is rows
        ``i * batch_size`` to ``(i + 1) * batch_size``; a batch size equal
        to the chunk size (or a multiple of it) reads every chunk once per
        pass.
    step_decay : float in (0.5, 1], default=0.7
        ``alpha`` of the step size ``(t + t0) ** -alpha`` of update ``t``
        after the warm-up; smaller forgets old statistics faster.
    step_offset : float >= 0 or "auto", default="auto"
        ``t0`` of the step size. ``"auto"`` continues the warm-up smoothly:
        ``(1 + t0) ** -alpha = m / (N + m)`` for ``m = batch_size`` and
        the ``N`` rows of the warm-up, so the first step weighs the new
        batch as pooling it would.
    warmup_size : int >= 0 or "auto", default="auto"
        Rows pooled at the initial parameters before the first update of
        the parameters; ``"auto"`` is ``max(20, 2 * n_components *
        (n_features + 1))``. A fit's warm-up is at most one pass.
    max_no_improvement : int or None, default=10
        ``"minibatch"`` stops after this many consecutive updates in which
        the smoothed batch log-likelihood did not rise by more than ``tol``
        above its best; None never stops early.
    checkpoint_path : str, os.PathLike or None, default=None
        With ``algorithm="minibatch"``: a ``.npz`` file where the fit's
        state is saved atomically every ``checkpoint_every`` updates and at
        the end. A ``fit`` that finds the file there continues from it
        (after a crash, say) and ends where an uninterrupted fit ends; the
        file must come from a fit with the same parameters and data shape,
        otherwise ``fit`` raises. A finished fit's checkpoint gives back its
        result without new updates: delete the file to start afresh, or
        raise ``max_iter`` to train on. Needs ``n_init=1``.
    checkpoint_every : int, default=100
        Updates between two checkpoints.
    split_every : int or None, default=None
        Fan-in of the tree reduction of chunk statistics; None lets dask's
        configuration decide.
    progress : bool, default=False
        Report progress on stderr during ``fit`` (iterations done of at most
        ``max_iter``, or passes for ``"minibatch"``; lower bound; rows/s): a
        bar on a terminal or in Jupyter, else (a log) plain lines, at most
        one every 5 seconds. Like ``verbose`` and ``split_every``, it is not
        saved in model files.
    n_active : int, default=3
        ``C'`` of ``algorithm="truncated"``: the number of components each
        point keeps in its truncated posterior.
    n_neighbors : int, default=15
        ``G`` of ``algorithm="truncated"``: the size of each component's
        neighbourhood (the component itself included) searched for better
        candidates.
    n_factors : int or None, default=None
        ``H``, the number of factors of each component with
        ``covariance_type="factor"`` (required there, ``1 <= H <
        n_features``; ignored otherwise).
    covariance_floor : float or None, default=None
        A lower bound on every eigenvalue of every component's covariance
        (``"factor"``: on the noise variances ``Psi_k``), kept by every
        M-step. It is the maximum-likelihood fit of a mixture of Gaussians
        observed through isotropic noise of this known variance (a
        deconvolution): the clean components' covariances are then
        ``covariances_ - covariance_floor * I``, positive semi-definite.
        ``daskmix.imaging.denoise`` fits its patch prior this way. None: no
        bound beyond ``reg_covar``.
    gamma : float in (0, 1], default=1.0
        With ``algorithm="async"``: the fraction of data blocks whose
        statistics must be fresh before an M-step (DEM's quorum). 1.0 waits
        for every block and reproduces exact EM; the blocks are the chunks
        of ``X``.
    inference : {"auto", "truncated", "exact"}, default="auto"
        What :meth:`predict`, :meth:`predict_proba`, :meth:`score_samples`,
        :meth:`score`, :meth:`bic` and :meth:`aic` evaluate. ``"exact"``:
        every component on every row, ``O(n_components)`` per row.
        ``"truncated"``: each row's search space only, about ``n_active *
        n_neighbors`` components per row whatever ``n_components`` (see
        Notes; ``spherical``, ``diag``, ``full`` and ``factor``).
        ``"auto"``: ``"truncated"`` when ``algorithm="truncated"`` and
        ``n_active < n_components``, ``"exact"`` otherwise. Read when the
        methods run, so it can be changed after ``fit`` with
        ``set_params``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weights of each mixture component (they sum to one, also after
        ``max_iter=0``).
    means_ : ndarray of shape (n_components, n_features)
        The mean of each mixture component.
    covariances_ : ndarray
        The covariance of each mixture component (shape as for ``precisions_init``;
        for ``"factor"`` the dense ``loadings_ @ loadings_.T + diag(noise_variance_)``).
    precisions_ : ndarray
        The precision matrices (inverse covariances).
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions, ``precisions_ = U @ U.T``.
    loadings_ : ndarray of shape (n_components, n_features, n_factors)
        ``Lambda_k`` of each component (only with ``covariance_type="factor"``).
    noise_variance_ : ndarray of shape (n_components, n_features)
        The diagonal ``Psi_k`` of each component (only with
        ``covariance_type="factor"``).
    classes_ : ndarray of shape (n_components,)
        The labels :meth:`predict` returns, ``0 .. n_components - 1``, one per
        column of :meth:`predict_proba`. scikit-learn's ``GaussianMixture``
        has no such attribute; wrappers that size ``predict_proba``'s output
        from it (dask-ml's ``ParallelPostFit``) need it.
    converged_ : bool
        Whether the best initialisation converged (``"minibatch"``: stopped
        early; always False after :meth:`partial_fit`).
    n_iter_ : int
        EM iterations of the best initialisation; for ``"minibatch"`` the
        passes over the data begun, and :meth:`partial_fit` adds one per
        call.
    lower_bound_ : float
        Mean log-likelihood of the training data at the last E-step of the
        best initialisation. For ``"minibatch"`` an estimate: the
        exponentially weighted average of the batches' mean
        log-likelihoods, each taken before the batch's update (evaluate
        ``score(X)`` for the exact figure; it costs a pass). After
        :meth:`partial_fit`: the mean log-likelihood of its ``X`` before its
        updates.
    lower_bounds_ : list of float
        The lower bound at every iteration of the best initialisation
        (``"minibatch"``: at the end of every pass, and where it stopped;
        :meth:`partial_fit`: one per call).
    n_steps_ : int
        Stepwise updates made so far (only after a ``"minibatch"`` fit or
        :meth:`partial_fit`).
    n_samples_seen_ : int
        Rows used by those updates, counted once per use.
    n_evaluations_ : ndarray of shape (n_iter_,), dtype int64
        Only after an ``algorithm="truncated"`` fit: the (point, component)
        log-joint evaluations of each iteration of the best initialisation,
        ``sum_n |S(n)|`` (exact EM makes ``n_samples * n_components``).
    neighbors_ : ndarray of shape (n_components, min(n_neighbors, n_components)), dtype int32
        Only after an ``algorithm="truncated"`` fit: the neighbourhood
        ``g_c`` of each component at the end of the fit (``c`` itself
        first, then the components nearest it by estimated KL divergence,
        padded with -1), which ``inference="truncated"`` searches.
        :meth:`partial_fit` keeps it as it is.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only for DataFrame input).

    See Also
    --------
    sklearn.mixture.GaussianMixture : The in-memory estimator this one follows.

    Notes
    -----
    Passes over the data: the initialisation costs at most two passes
    (``"kmeans"``: a row sample, on which up to five k-means runs are
    compared in the client, then the statistics of the chosen run's
    partition of all the rows; see ``daskmix.mixture._init``), then each EM
    iteration costs exactly one pass and one ``dask.compute``. ``fit`` never
    loads the data into the client; persist a dask array that is expensive
    to produce (``X = X.persist()``) before fitting, as daskmix does not.
    Memory per worker is about one chunk plus ``chunk rows x n_components``
    floats and the ``n_components x n_features**2`` statistics. The features
    must be in one chunk (``X.rechunk({1: -1})``) and the chunk sizes known.
    Statistics are accumulated in float64; float32 input stays float32 in
    the per-chunk work and in the fitted attributes.

    Small in-memory input runs inline: a NumPy array (or a pandas
    DataFrame, or an xarray DataArray holding NumPy) of at most 4,096 rows
    (``daskmix._validation.INLINE_MAX_ROWS``; one default chunk) makes
    :meth:`predict`, :meth:`predict_proba`, :meth:`score_samples`,
    :meth:`score`, :meth:`bic`, :meth:`aic` and an ``algorithm="em"``
    :meth:`fit` run the same per-chunk kernels in the calling thread, with
    one BLAS thread, and no Dask graph or scheduler: the same results to the
    bit (such an input is one chunk on the graph path too), without the
    graph's fixed cost of several milliseconds per pass. The configured dask
    scheduler and any ``distributed`` client are not used for it: the data
    is already in this process, and shipping it to workers would cost more
    than the computation. Dask input always builds a graph (lazy outputs),
    and the other algorithms' fits always do.

    ``covariance_type="factor"`` (a mixture of factor analysers;
    Ghahramani and Hinton, 1996) evaluates each log-density with the
    Woodbury identity and the matrix determinant lemma, at
    ``O(n_features * n_factors)`` per row and component instead of
    ``O(n_features**2)``, and
    its M-step is exact EM with the factors as hidden variables (the joint
    update of loadings and mean, then the noise), so the log-likelihood
    never decreases. ``reg_covar`` is a floor on the noise variances, not
    an addition. The initialisation computes full covariances (memory
    ``n_components * n_features**2`` per chunk for that one pass) and
    starts each component from their probabilistic-PCA form.
    ``n_parameters`` (for :meth:`bic` and :meth:`aic`) counts
    ``n_features * (n_factors + 1) - n_factors * (n_factors - 1) / 2``
    per component's covariance (the loadings up to a rotation). The
    fitted ``covariances_``, ``precisions_`` and ``precisions_cholesky_``
    are dense, as for ``"full"``.

    ``algorithm="truncated"`` (Salwig et al., JMLR 2026; Forster and
    Lücke, 2018) keeps, for each point, the ``n_active`` components of its
    truncated posterior ``K(n)`` (an int32 dask array chunked like the
    rows, persisted between passes), and for each component ``c`` a
    neighbourhood ``g_c`` of ``n_neighbors`` components. Each iteration is
    one pass and one compute: a point evaluates the union of ``g_c`` over
    ``c`` in ``K(n)`` plus one random component, keeps the ``n_active``
    best and contributes the M-step statistics of their softmax; the root
    runs exact EM's M-step and re-estimates ``g_c`` (the components with
    the smallest estimated KL divergence from ``c``) from sparse pair
    statistics merged up the reduction tree. ``lower_bound_`` and
    ``lower_bounds_`` hold the truncated free energy per sample (a lower
    bound of the mean log-likelihood that never decreases between
    iterations up to ``reg_covar`` and re-seeding); ``n_evaluations_`` the
    evaluations. ``K(n)`` starts as each point's ``n_active`` nearest
    means, found inside the first pass by a k-means tree over the initial
    means (O(log K) per point), and ``g_c`` as each mean's nearest means;
    E-only warm-up passes (up to five, until a pass raises the free energy
    by less than 0.1%) then let ``K(n)`` and ``g_c`` settle. ``n_active=n_components``
    is exact EM. The random
    candidates are keyed by (``random_state``, pass, row), so the result
    does not depend on the chunking or the scheduler.

    Truncated inference (``inference="truncated"``, the default after an
    ``algorithm="truncated"`` fit with ``n_active < n_components``):
    each row starts from its ``n_active`` nearest means, found by a k-means
    tree over ``means_`` (built on first use, about a second at 16,384
    components, and kept until the next ``fit`` or ``partial_fit``), then
    up to three rounds evaluate the log-joints ``log pi_c + log N(x | c)``
    on ``S(n)``, the union of ``neighbors_[c]`` over the row's current
    ``K(n)``, and keep the ``n_active`` best as ``K(n)``; a row stops when
    ``K(n)`` stops changing. (A model without ``neighbors_``, fitted by
    another algorithm, searches the ``n_neighbors`` nearest means of each
    component instead.) The methods then return:

    - :meth:`predict`: the most probable component of ``K(n)`` (the
      exact ``argmax`` unless the search missed it);
    - :meth:`predict_proba`: the softmax of the log-joints over ``K(n)``,
      zero elsewhere, as a sparse array with ``n_active`` stored entries
      per row: a ``scipy.sparse.csr_array`` for NumPy or pandas input, a
      dask array of ``sparse.COO`` chunks for dask input, an
      ``xarray.DataArray`` holding a ``sparse.COO`` (or, if the input is
      dask-backed, a dask array of them) for xarray input
      (``.todense()`` on the chunks, or ``inference="exact"``, gives a
      dense array);
    - :meth:`score_samples`: ``log sum_{c in K(n)} pi_c N(x | c)``, a
      lower bound of the exact log-likelihood (short of it by the mass of
      the components outside ``K(n)``: little where those are far from the
      row, more where the search missed a probable component);
    - :meth:`score`, :meth:`bic`, :meth:`aic`: from that truncated
      log-likelihood.

    ``inference="exact"`` returns what exact EM's model returns: dense
    responsibilities and the exact log-likelihood. A row's truncated
    outputs do not depend on the chunking or on the other rows; the
    search costs about ``n_active * n_neighbors`` evaluations per round
    and ``O(log n_components)`` distances for the tree, whatever
    ``n_components``.

    ``algorithm="minibatch"`` (stepwise EM; Cappé and Moulines, 2009;
    Liang and Klein, 2009) initialises on ``max(3 * batch_size, 10000,
    50 * n_components)`` rows made of whole batches, not on the whole
    data, then makes one update, and one ``dask.compute`` reading only
    that batch's rows, per batch: it interpolates running per-sample sufficient statistics
    towards the batch's and runs the M-step on them. Every pass visits
    the batches in a new order drawn from ``random_state``; the result
    does not depend on the chunking. ``max_iter`` counts passes. The
    first ``warmup_size`` rows are pooled at the initial parameters
    before any update. Early stopping watches an exponentially weighted
    average of the batch log-likelihoods (``max_no_improvement``,
    ``tol``). :meth:`partial_fit` makes the same updates: one per call on
    in-memory input, one per chunk on dask input (as dask-ml's
    ``Incremental`` expects); its first call initialises on its ``X``.

    ``algorithm="async"`` (DEM; Srivastava, DePalma and Liu, 2019) needs
    the default ``distributed`` client. It persists ``X`` on the workers
    for the run (unless it already is persisted; the cluster needs memory
    for all of ``X``), runs one E-step task per chunk as a future, keeps
    each chunk's latest statistics, and runs an M-step on their sum once
    ``ceil(gamma * n_chunks)`` chunks have reported since the previous
    one; chunks that have not reported contribute statistics computed at
    older parameters. ``n_iter_`` and ``max_iter`` count M-steps. It stops
    when the lower bound (summed over the chunks' latest statistics)
    changed by less than ``tol`` since the oldest parameters a chunk's
    statistics still come from, then evaluates every chunk at the current
    parameters and makes a last M-step, so ``lower_bound_`` is exact, as
    in exact EM. ``gamma=1`` is exact EM (the same fit, to rounding);
    with ``gamma < 1`` the result depends on the order in which the tasks
    finish.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from daskmix import GaussianMixture
    >>> X = da.from_array(np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]]),
    ...                   chunks=(3, 2))
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(gm.means_[np.argsort(gm.means_[:, 0])], 6)
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> gm.predict(X).compute().tolist() in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])
    True

    Mini-batch EM, three rows per update, and one more update per chunk:

    >>> mb = GaussianMixture(n_components=2, algorithm="minibatch", batch_size=3,
    ...                      random_state=0).fit(X)
    >>> np.round(mb.means_[np.argsort(mb.means_[:, 0])], 3)
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> steps = mb.n_steps_
    >>> mb.partial_fit(X).n_steps_ - steps
    2
    """

    _parameter_constraints: dict = {
        **SHARED_CONSTRAINTS,
        # a live view: types registered after import are accepted
        "covariance_type": [StrOptions(COVARIANCE_TYPES.keys())],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        # a live view of the registry: an algorithm registered later is accepted
        "algorithm": [StrOptions(ALGORITHMS.keys())],
        "n_factors": [Interval(Integral, 1, None, closed="left"), None],
        "covariance_floor": [Interval(Real, 0.0, None, closed="neither"), None],
        "gamma": [Interval(Real, 0.0, 1.0, closed="right")],
        "inference": [StrOptions({"auto", "truncated", "exact"})],
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
        weights_init=None,
        means_init=None,
        precisions_init=None,
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
        split_every=None,
        progress=False,
        n_active=3,
        n_neighbors=15,
        n_factors=None,
        covariance_floor=None,
        gamma=1.0,
        inference="auto",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
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
        self.split_every = split_every
        self.progress = progress
        self.n_active = n_active
        self.n_neighbors = n_neighbors
        self.n_factors = n_factors
        self.covariance_floor = covariance_floor
        self.gamma = gamma
        self.inference = inference

    @property
    def _covariance(self):
        # the parameters as attributes: get_params() inspects __init__'s
        # signature on every call (0.3 ms), and this runs on every predict
        return get_covariance_type(self.covariance_type, **vars(self))

    @property
    def _algorithm(self):
        return get_algorithm(self.algorithm)

    def _fit_settings(self, parameters=None):
        """What an algorithm's run reads of this estimator.

        Parameters
        ----------
        parameters : iterable of str or None, default=None
            The parameters to pass as options; None for those the
            ``algorithm`` declares it reads.

        Returns
        -------
        FitSettings
        """
        names = self._algorithm.parameters if parameters is None else parameters
        return FitSettings(
            covariance=self._covariance, n_components=self.n_components,
            reg_covar=self.reg_covar, tol=self.tol, max_iter=self.max_iter,
            split_every=self.split_every, options={name: getattr(self, name) for name in names},
        )

    # ---- BaseMixture hooks ----------------------------------------------
    def _check_parameters(self, n_features):
        """Validated copies of the user's initial values (never stored on self)."""
        algorithm = self._algorithm
        check_supported(algorithm, self.covariance_type)
        # the parameters as attributes (see _covariance)
        check_parameter_use(algorithm, vars(self), _init_defaults(type(self)),
                            also_read=STEPWISE_PARAMETERS)
        algorithm.check(self, n_features)
        self._covariance.check_settings(self, n_features)
        k = self.n_components
        return {
            "weights": None if self.weights_init is None else _check_weights(self.weights_init, k),
            "means": None if self.means_init is None else _check_means(self.means_init, k, n_features),
            "precisions": (
                None
                if self.precisions_init is None
                else _check_precisions(self.precisions_init, self._covariance, k, n_features)
            ),
        }

    def _initialize_parameters(self, data, sample_weight, random_state, init_values):
        X, sample_weight = self._algorithm.initial_rows(
            self._fit_settings(), data, sample_weight, random_state
        )
        return self._initial_parameters_on(X, sample_weight, random_state, init_values)

    def _initial_parameters_on(self, X, sample_weight, random_state, init_values):
        """Initial parameters from the rows ``X`` (a dask array) and the user's values."""
        covariance = self._covariance
        # the type whose covariances initialise this one (itself, but for "factor")
        init_type = covariance.initial_type()
        if any(value is None for value in init_values.values()):
            ctx = InitContext(
                X, sample_weight, self.n_components, init_type,
                self.reg_covar, self.split_every, scalable=self._algorithm.scalable_init,
            )
            params = initial_params(self.init_params, ctx, random_state)
            weights, means, covariances = params.weights, params.means, params.covariances
        else:
            weights = means = covariances = None
        if init_values["weights"] is not None:
            weights = init_values["weights"]
        if init_values["means"] is not None:
            means = init_values["means"]
        if init_values["precisions"] is not None:
            prec_chol = init_type.precision_cholesky_from_precisions(init_values["precisions"])
            covariances = init_type.covariances_from_cholesky(prec_chol)
        else:
            prec_chol = init_type.precision_cholesky(covariances)
        covariances, prec_chol = covariance.from_initial(covariances, prec_chol)
        return GaussianParams(weights, means, covariances, prec_chol)

    def _fitted_parameters(self):
        return GaussianParams(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            *self._covariance.params_from_fitted(self),
        )

    def _run(self, data, sample_weight, params, lower_bound, on_iteration, *,
             random_state=None, warm=False):
        algorithm = self._algorithm
        previous = None
        if warm:
            previous = {name: self.__dict__[name]
                        for name in algorithm.fitted_attribute_names if name in self.__dict__}
        return algorithm.run(
            self._fit_settings(), data, sample_weight, params, lower_bound, on_iteration,
            random_state=random_state, previous=previous,
        )

    def _resume(self, data, sample_weight):
        return self._algorithm.resume(self._fit_settings(), data, sample_weight)

    def _fit_progress(self, data, description):
        algorithm = self._algorithm
        total, rows_per_step, steps_per_unit = algorithm.progress_scale(self._fit_settings(),
                                                                        data.n_samples)
        return FitProgress(self.progress, total, rows_per_step, description,
                           steps_per_unit=steps_per_unit, units=algorithm.iteration_units)

    def _fit_inline(self):
        return self._algorithm.inline

    def _finish_fit(self, result):
        for algorithm in ALGORITHMS.values():
            for name in algorithm.fitted_attribute_names:
                self.__dict__.pop(name, None)
        for name, value in self._algorithm.fitted_attributes(result).items():
            setattr(self, name, value)
        if self.inference != "exact" and self._algorithm.truncated_inference(
                self._fit_settings()):
            # built now, once (O(K log K)), so that the first predict after
            # the fit, however few its rows, does not wait for it
            self._search_structures()

    def _search_structures(self):
        """The tree and neighbourhoods of truncated inference (cached)."""
        cache = self.__dict__.get("_search_cache")
        if cache is None:  # a loaded model
            cache = self._search_cache = SearchCache()
        return cache.get(self.means_, getattr(self, "neighbors_", None), self.n_neighbors)

    def _partial_fit(self, X, sample_weight):
        if not _STEPWISE_EM.supports(self.covariance_type):
            raise ValueError(
                f"covariance_type={self.covariance_type!r} does not support stepwise EM "
                f"(partial_fit): fit it with algorithm in {supporting(self.covariance_type)}."
            )
        state = getattr(self, "_stepwise_state", None)
        fitted = hasattr(self, "means_")
        data = check_input(self, X, reset=not fitted, min_samples=1)
        weights = check_sample_weight(sample_weight, data)
        settings = self._fit_settings(STEPWISE_PARAMETERS)
        if state is None:
            if fitted:
                params = self._fitted_parameters()
            else:
                if data.n_samples < self.n_components:
                    raise ValueError(
                        "The first partial_fit needs n_samples >= n_components to initialise "
                        f"the mixture, but got n_components = {self.n_components}, "
                        f"n_samples = {data.n_samples}. Pass a larger first batch."
                    )
                init_values = self._check_parameters(data.array.shape[1])
                rng = check_random_state(self.random_state)
                X_init, w_init = init_subset(data, weights, self.n_components,
                                             batch_rows(settings), rng)
                params = self._initial_parameters_on(X_init, w_init, rng, init_values)
            state = initial_state(params, data.dtype, nominal_rows=self.batch_size or 0)
        state, lower_bound = partial_fit_updates(settings, state, data, weights,
                                                 update_ranges(X, data))
        self._set_fitted(state.params, data.dtype)
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = list(getattr(self, "lower_bounds_", [])) + [lower_bound]
        self.n_iter_ = int(getattr(self, "n_iter_", 0)) + 1
        self.converged_ = False
        for name, value in state_attributes(state).items():
            setattr(self, name, value)

    def _set_fitted(self, params, dtype):
        covariance = self._covariance
        # new means: truncated inference builds its tree again on first use
        self._search_cache = SearchCache()
        # Normalised: the initial weights of "random_from_data" and "k-means++"
        # are scikit-learn's, 1 / n_samples per component (the first E-step's
        # lower bound matches scikit-learn's with them), and a max_iter=0 fit
        # publishes them; unnormalised, score() would be off by
        # log(n_components / n_samples) and sample() would draw the missing
        # mass from the last component.
        self.weights_ = (params.weights / params.weights.sum()).astype(dtype)
        self.means_ = params.means.astype(dtype)
        for other in COVARIANCE_TYPES.values():
            for name in other.extra_attributes:
                self.__dict__.pop(name, None)
        for name, value in covariance.fitted_attributes(params.covariances,
                                                        params.prec_chol).items():
            setattr(self, name, np.asarray(value).astype(dtype))
        self.classes_ = np.arange(self.n_components)

    def _truncated_inference(self):
        """Whether the row-wise outputs search each row's truncated space (``inference``)."""
        if self.inference == "exact":
            return False
        if self.inference == "truncated":
            check_searchable(self.covariance_type)
            return True
        if self.inference != "auto":
            raise ValueError(f"inference must be 'auto', 'truncated' or 'exact', got "
                             f"{self.inference!r}.")
        return self._algorithm.truncated_inference(self._fit_settings())

    def _search_inputs(self, dtype):
        """The truncated search of this fitted model for in-memory rows of ``dtype``.

        For callers inside the package that search many small NumPy blocks
        (``daskmix.imaging``) without a Dask graph per block.

        Parameters
        ----------
        dtype : numpy dtype

        Returns
        -------
        daskmix.mixture.kernels.truncated_inference.SearchInputs
        """
        check_searchable(self.covariance_type)
        return search_inputs(self._search_structures(), self._covariance,
                             self._fitted_parameters(), min(self.n_active, self.n_components),
                             dtype)

    def _truncated_row_outputs(self, data, output):
        """Lazy row-wise ``output`` from each row's search space (see Notes)."""
        structures = self._search_structures()
        result = truncated_outputs(
            data.array, structures, self._covariance, self._fitted_parameters(),
            min(self.n_active, self.n_components), output,
        )
        if output != "predict_proba":
            return wrap_rows(result, data)
        result = wrap_rows(result, data, column_dim="component",
                           column_labels=np.arange(self.n_components))
        if data.kind == "numpy":
            # scikit-learn's sparse type for in-memory input
            return scipy.sparse.csr_array(result.tocsr())
        return result

    def _component_blocks(self):
        covariance = self._covariance
        weights = np.asarray(self.weights_, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
        if covariance.extra_attributes:
            names, per_component = covariance.extra_attributes, True
        else:
            names = ("precisions_cholesky_",)
            per_component = shape_dims(covariance.parameter_shape)[0] == "component"
        arrays, shared = self._block_attributes(names, per_component)
        return weights, log_weights, _block_prec_chol, arrays, shared

    def _row_outputs(self, data, output):
        if self._sharded():
            # a sharded model's outputs are exact, block by block
            return self._block_row_outputs(data, output, "gmm")
        if self._truncated_inference():
            return self._truncated_row_outputs(data, output)
        kernel_params = estep_params(self._covariance, self._fitted_parameters(), data.dtype)
        return self._dense_row_outputs(data, output, kernel_params, "gmm")

    # ---- row-wise methods (their docstrings say what ``inference`` changes) --
    def predict(self, X):
        """Most probable component of each sample.

        With ``inference="exact"``: the ``argmax`` over all components of
        ``log pi_c + log N(x | c)``. With truncated inference (the default
        after an ``algorithm="truncated"`` fit with ``n_active <
        n_components``; see ``inference``): the ``argmax`` over the row's
        searched ``K(n)``, which is the exact one unless the search missed it.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples,)
            int64; lazy for dask input.
        """
        return super().predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        With ``inference="exact"``: the dense responsibilities over all
        components. With truncated inference (see ``inference``): the
        softmax of the log-joints over the row's searched ``K(n)`` (its
        ``n_active`` most probable components found), zero elsewhere, as a
        sparse array of ``n_active`` stored entries per row (rows sum to 1).

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        resp : array of shape (n_samples, n_components)
            In X's float dtype. Exact: an ndarray, a lazy dask array or an
            xarray.DataArray with a ``component`` dimension, like the input.
            Truncated: a ``scipy.sparse.csr_array`` for NumPy or pandas
            input, a lazy dask array of ``sparse.COO`` chunks for dask
            input (dask DataFrames included), an xarray.DataArray wrapping
            a ``sparse.COO`` (or, for dask-backed input, a dask array of
            them) for xarray input.
        """
        return super().predict_proba(X)

    def score_samples(self, X):
        """Log-likelihood of each sample under the model.

        With ``inference="exact"``: ``log sum_c pi_c N(x | c)`` over all
        components. With truncated inference (see ``inference``): the
        truncated log-likelihood ``log sum_{c in K(n)} pi_c N(x | c)`` over
        the row's searched ``K(n)``, a lower bound of the exact one (close
        to it when the components outside ``K(n)`` are far from the row).

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples,)
            Lazy for dask input.
        """
        return super().score_samples(X)

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` under the model: the mean of :meth:`score_samples`.

        A lower bound of the exact mean with truncated inference (see
        ``inference``).

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
            Computed, also for dask input.
        """
        return super().score(X, y)

    # ---- model-level methods --------------------------------------------
    def _n_parameters(self):
        """Number of free parameters of the fitted model."""
        n_features = self.means_.shape[1]
        cov_params = self._covariance.n_parameters(self.n_components, n_features)
        mean_params = n_features * self.n_components
        return int(cov_params + mean_params + self.n_components - 1)

    def bic(self, X):
        """Bayesian information criterion of the model on ``X`` (lower is better).

        From the mean of :meth:`score_samples`: with truncated inference
        (see ``inference``) the truncated log-likelihood, so the criterion
        is an upper bound of the exact one.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        score, n_samples = self._mean_score_and_count(X)
        return information_criteria(score, n_samples, self._n_parameters())[0]

    def aic(self, X):
        """Akaike information criterion of the model on ``X`` (lower is better).

        From the mean of :meth:`score_samples`, as :meth:`bic` (an upper
        bound of the exact criterion with truncated inference).

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        score, n_samples = self._mean_score_and_count(X)
        return information_criteria(score, n_samples, self._n_parameters())[1]


def _block_prec_chol(covariance, *arrays, names, **shared):
    """Fit-time precision factors of a block of components (see ``_component_blocks``).

    Parameters
    ----------
    covariance : CovarianceType
    *arrays : ndarray
        The block's slices of the attributes ``names``.
    names : tuple of str
    **shared : ndarray
        Other attributes, whole.

    Returns
    -------
    ndarray
    """
    fitted = types.SimpleNamespace(**dict(zip(names, arrays, strict=True)), **shared)
    if covariance.extra_attributes:
        return covariance.params_from_fitted(fitted)[1]
    return np.asarray(fitted.precisions_cholesky_, dtype=np.float64)
