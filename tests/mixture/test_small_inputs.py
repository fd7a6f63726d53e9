"""Small in-memory input runs inline: the same kernels and results as the Dask graph path.

Inline input (NumPy, at most ``INLINE_MAX_ROWS`` rows) runs every pass in
the calling thread with no graph; ``INLINE_MAX_ROWS = 0`` (the ``graph``
fixture) forces the graph path on the same data, so each test compares the
two paths on one input. Such an input is one chunk on the graph path too,
so the results agree to the bit.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import daskmix._validation
from daskmix import GaussianMixture
from daskmix._dask import inputs as _inputs
from tests._covariance_cases import ALL_TYPES, covariance_settings

ROW_METHODS = ("predict", "predict_proba", "score_samples")


@pytest.fixture
def graph(monkeypatch):
    """A switch: inside ``with graph():``, NumPy input takes the Dask graph path."""
    import contextlib

    @contextlib.contextmanager
    def switch():
        with monkeypatch.context() as patch:
            patch.setattr(daskmix._validation, "INLINE_MAX_ROWS", 0)
            yield

    return switch


@pytest.fixture
def no_graph(monkeypatch):
    """Fail the test if an in-memory array becomes a dask array or a scheduler runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask graph was built or run for inline input")

    monkeypatch.setattr(_inputs, "from_memory", refuse)
    with dask.config.set(scheduler=refuse):
        yield


def _fitted(model):
    """Every fitted attribute of ``model`` (names ending in ``_``), by name."""
    return {name: value for name, value in vars(model).items()
            if name.endswith("_") and not name.startswith("_")}


def assert_same_fit(inline, graph):
    a, b = _fitted(inline), _fitted(graph)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)


def _fit_both(graph, X, **params):
    inline = GaussianMixture(**params).fit(X)
    with graph():
        on_graph = GaussianMixture(**params).fit(X)
    return inline, on_graph


@pytest.mark.parametrize("covariance_type", ALL_TYPES)
def test_fit_and_outputs_equal_graph_path(blobs, graph, covariance_type):
    X, _ = blobs
    params = dict(n_components=3, random_state=0, **covariance_settings(covariance_type))
    inline, on_graph = _fit_both(graph, X, **params)
    assert_same_fit(inline, on_graph)
    rows = X[:100]
    for method in ROW_METHODS:
        got = getattr(inline, method)(rows)
        with graph():
            expected = getattr(inline, method)(rows)
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got, expected, err_msg=method)
    with graph():
        expected = (inline.score(rows), inline.bic(rows), inline.aic(rows))
    assert (inline.score(rows), inline.bic(rows), inline.aic(rows)) == expected


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_initialisation_draws_the_same(blobs, graph, init_params):
    X, _ = blobs
    inline, on_graph = _fit_both(graph, X, n_components=3, covariance_type="diag",
                                 init_params=init_params, random_state=5, max_iter=3)
    assert_same_fit(inline, on_graph)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_restarts_weights_and_warm_start_equal_graph_path(blobs, graph):
    X, _ = blobs
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    params = dict(n_components=3, covariance_type="full", n_init=2, random_state=1, max_iter=3)
    inline = GaussianMixture(**params).fit(X, sample_weight=weights)
    with graph():
        on_graph = GaussianMixture(**params).fit(X, sample_weight=weights)
    assert_same_fit(inline, on_graph)
    # dask weights with NumPy rows take the graph path, with the same result
    assert_same_fit(
        GaussianMixture(**params).fit(X, sample_weight=da.from_array(weights, chunks=250)),
        inline,
    )
    inline.set_params(warm_start=True, max_iter=2).fit(X)
    with graph():
        on_graph.set_params(warm_start=True, max_iter=2).fit(X)
    assert_same_fit(inline, on_graph)


def test_verbose_output_equal_graph_path(blobs, graph, capsys):
    X, _ = blobs
    params = dict(n_components=3, random_state=0, verbose=1, verbose_interval=1, n_init=2)
    GaussianMixture(**params).fit(X)
    inline = capsys.readouterr().out
    with graph():
        GaussianMixture(**params).fit(X)
    assert inline == capsys.readouterr().out
    assert "Iteration 1" in inline


def test_nonfinite_input_raises_the_same_error(blobs, graph):
    X = blobs[0].copy()
    X[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity") as inline:
        GaussianMixture(3, random_state=0).fit(X)
    with graph(), pytest.raises(ValueError, match="NaN or infinity") as on_graph:
        GaussianMixture(3, random_state=0).fit(X)
    assert str(inline.value) == str(on_graph.value)


def test_inline_input_builds_no_graph(blobs, no_graph):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    for method in ROW_METHODS + ("score", "bic", "aic"):
        getattr(gm, method)(X[:10])
    assert gm.converged_


def test_threshold_decides_the_path(blobs, monkeypatch):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="spherical", random_state=0).fit(X)
    made = []
    original = _inputs.from_memory
    monkeypatch.setattr(_inputs, "from_memory",
                        lambda *args: made.append(args[0].shape) or original(*args))
    monkeypatch.setattr(daskmix._validation, "INLINE_MAX_ROWS", 50)
    gm.predict(X[:50])
    assert made == []
    gm.predict(X[:51])
    assert made == [(51, X.shape[1])]


def test_dask_input_stays_lazy(blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    lazy = gm.predict_proba(da.from_array(X[:100], chunks=50))
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), gm.predict_proba(X[:100]))


def test_non_inline_algorithms_take_the_graph_path(blobs, monkeypatch):
    X, _ = blobs
    made = []
    original = _inputs.from_memory
    monkeypatch.setattr(_inputs, "from_memory",
                        lambda *args: made.append(args[0].shape) or original(*args))
    with pytest.warns(ConvergenceWarning):
        GaussianMixture(3, algorithm="minibatch", batch_size=100, max_iter=1,
                        random_state=0).fit(X)
    assert made
