"""The interface every fitting algorithm of ``GaussianMixture`` implements.

An algorithm is one object in the registry of
:mod:`daskmix.mixture.algorithms`, under the name users pass as
``GaussianMixture(algorithm=...)``. It declares what it supports and reads,
validates its own parameters, runs one initialisation and says what a fitted
model gets from the run. It never touches the estimator beyond reading its
public parameters in :meth:`Algorithm.check`: everything :meth:`Algorithm.run`
needs comes in a :class:`FitSettings`, and what the fitted model publishes
goes back as data (:meth:`Algorithm.fitted_attributes`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from daskmix.mixture.kernels.suffstats import StatsLayout

__all__ = ["ANY_COVARIANCE", "Algorithm", "FitSettings"]

#: ``Algorithm.covariance_types`` of an algorithm that works with every covariance type.
ANY_COVARIANCE = None


@dataclass(frozen=True)
class FitSettings:
    """What a run reads of the estimator, passed explicitly.

    Attributes
    ----------
    covariance : object
        The covariance strategy, bound to the estimator's settings (for
        ``"factor"``, its ``n_factors``); ``covariance.name`` is its
        ``covariance_type``.
    n_components : int
    reg_covar : float
    tol : float
    max_iter : int
    split_every : int or None
    options : dict
        The estimator's parameters that the algorithm declares it reads
        (:attr:`Algorithm.parameters`), by name.
    """

    covariance: object
    n_components: int
    reg_covar: float
    tol: float
    max_iter: int
    split_every: object
    options: dict = field(default_factory=dict)

    def layout(self, n_features):
        """The packed layout of one pass's statistics vector.

        Parameters
        ----------
        n_features : int

        Returns
        -------
        StatsLayout
        """
        return StatsLayout(
            self.n_components, n_features,
            self.covariance.second_moment_shape(self.n_components, n_features),
        )


class Algorithm(ABC):
    """A fitting algorithm: one initialisation's run, from starting parameters to a result.

    Subclasses set the class attributes and implement :meth:`run`; the other
    methods have defaults that suit an algorithm which iterates passes over
    all the data (exact EM).

    Attributes
    ----------
    name : str
        The value of ``GaussianMixture(algorithm=...)``.
    covariance_types : frozenset of str or None
        The covariance types it fits; :data:`ANY_COVARIANCE` (None) for every
        registered one.
    parameters : frozenset of str
        The estimator parameters it reads beyond those every algorithm reads
        (``n_components``, ``tol``, ``max_iter``, ...). A parameter some other
        algorithm reads and this one does not is ignored by it: the
        estimator says so (see :func:`daskmix.mixture.algorithms.check_parameter_use`).
    lockstep : bool
        Whether model selection can fit many candidates with it at once,
        computing their passes together (exact EM only, so far).
    inline : bool
        Whether its passes (and those of its initialisation) all go through
        ``InputData.X``, so that a fit on small in-memory input runs them
        inline, in the calling thread without a Dask graph (see
        ``daskmix._validation``). Then :meth:`run` and
        :meth:`initial_rows` take ``data.X``, an ndarray for such input,
        and ``sample_weight`` an ndarray or None with it.
    scalable_init : bool
        Whether its initialisation must cost O(1) per row whatever
        ``n_components`` (``InitContext.scalable``): an algorithm whose
        passes do not grow with the number of components (truncated EM)
        would otherwise be dominated by an O(N K) initialisation.
    start_covariance_type : str or None
        The covariance type of the starting model :meth:`run` reads, when it
        reads less of it than the estimator's covariance type holds; None for
        the estimator's own. ESVI reads each component's mean variance only,
        so its initialisation computes a ``"spherical"`` model: O(K D) in the
        client instead of ``K`` full covariances and their factors (the
        mean of a component's variances, its covariance's trace over ``D``,
        is linear in the statistics and the prior, so both give the same
        start).
    iteration_unit, iteration_units : str
        What ``n_iter_`` and ``lower_bounds_`` count, singular and plural
        (for plots and summaries).
    lower_bound_name : str
        What ``lower_bound_`` is, for summaries.
    fitted_attribute_names : tuple of str
        Every attribute :meth:`fitted_attributes` may publish; a fit with
        another algorithm removes them.
    """

    name: str
    covariance_types: frozenset | None = ANY_COVARIANCE
    parameters: frozenset = frozenset()
    lockstep: bool = False
    inline: bool = False
    scalable_init: bool = False
    start_covariance_type: str | None = None
    iteration_unit: str = "EM iteration"
    iteration_units: str = "EM iterations"
    lower_bound_name: str = "mean log-likelihood per row"
    fitted_attribute_names: tuple = ()

    def __repr__(self):
        return f"<algorithm {self.name!r}>"

    def supports(self, covariance_type):
        """Whether this algorithm fits ``covariance_type``.

        Parameters
        ----------
        covariance_type : str

        Returns
        -------
        bool
        """
        return self.covariance_types is ANY_COVARIANCE or covariance_type in self.covariance_types

    def check(self, estimator, n_features):
        """Raise if the estimator's parameters do not allow this algorithm.

        Reads public parameters only; the covariance type's support is
        checked by the registry (:func:`daskmix.mixture.algorithms.check_supported`).
        Nothing to check here.

        Parameters
        ----------
        estimator : GaussianMixture
        n_features : int

        Raises
        ------
        ValueError
            Naming the parameter to change.
        """

    def initial_rows(self, settings, data, sample_weight, random_state):
        """The rows the initialisation draws its parameters from: all of them here.

        Parameters
        ----------
        settings : FitSettings
        data : InputData
        sample_weight : dask.array.Array or None
        random_state : numpy.random.RandomState

        Returns
        -------
        X : dask.array.Array
            ``data.X``: an ndarray for input that runs inline.
        sample_weight : dask.array.Array or None
        """
        return data.X, sample_weight

    def resume(self, settings, data, sample_weight):
        """An interrupted fit to continue (a checkpoint), or None: never here.

        Parameters
        ----------
        settings : FitSettings
        data : InputData
        sample_weight : dask.array.Array or None

        Returns
        -------
        tuple or None
            ``(start, lower_bound)``: :meth:`run` takes ``start`` as its
            ``params``.
        """
        return None

    def progress_scale(self, settings, n_samples):
        """The units of the progress bar: ``max_iter`` iterations of ``n_samples`` rows.

        Parameters
        ----------
        settings : FitSettings
        n_samples : int

        Returns
        -------
        total : int
            The most units (``iteration_units``) a run makes: ``max_iter``.
        rows_per_step : int
            Rows one step (an iteration, or an update) reads.
        steps_per_unit : int
            Steps in one unit: 1 here.
        """
        return settings.max_iter, n_samples, 1

    @abstractmethod
    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Run one initialisation to convergence.

        Parameters
        ----------
        settings : FitSettings
        data : InputData
        sample_weight : dask.array.Array or None
        params : GaussianParams or object
            Starting parameters (initial or, on a warm start, fitted), or
            what :meth:`resume` returned.
        lower_bound : float
            Lower bound before the first iteration (``-inf`` on a fresh start).
        on_iteration : callable
            ``on_iteration(n_iter, lower_bound, change)``, after every
            iteration (or update), for progress and logs.
        random_state : numpy.random.RandomState
            The fit's random state, for draws after the initialisation.
        previous : dict or None
            On a warm start, the attributes this algorithm published after
            the previous fit (those of :attr:`fitted_attribute_names` the
            estimator has); None otherwise.

        Returns
        -------
        RunResult
        """

    def truncated_inference(self, settings):
        """Whether a model it fitted evaluates new rows on truncated search spaces by default.

        ``GaussianMixture(inference="auto")`` asks this: True makes
        ``predict``, ``predict_proba`` and ``score_samples`` search each row's
        few best components instead of evaluating all of them (see
        :mod:`daskmix.mixture.algorithms.truncated_inference`). False here:
        every component, as the fit evaluated them.

        Parameters
        ----------
        settings : FitSettings
            The estimator's current settings.

        Returns
        -------
        bool
        """
        return False

    def fitted_attributes(self, result):
        """What a fitted model publishes from ``result``, beyond the standard attributes.

        Parameters
        ----------
        result : RunResult
            As :meth:`run` returned it (the best initialisation's).

        Returns
        -------
        dict
            Attribute name -> value; names among :attr:`fitted_attribute_names`.
        """
        return {}
