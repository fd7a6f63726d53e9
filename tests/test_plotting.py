"""daskmix.plotting: the artists drawn match the model, and the figures are written."""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Ellipse
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs

from daskmix import GaussianMixture, IncrementalPCA, plotting
from daskmix.mixture import select_model
from daskmix.mixture.covariance import COVARIANCE_TYPES
from tests._covariance_cases import covariance_settings
from tests.conftest import as_dask


@pytest.fixture(scope="module")
def data():
    """Four blobs in three sheared dimensions, two of them overlapping, as a dask array."""
    X, _ = make_blobs(1500, n_features=3, centers=[[0, 0, 0], [2.5, 0, 0], [8, 6, 0],
                                                   [-6, 7, 3]],
                      cluster_std=[1.0, 1.0, 0.7, 1.3], random_state=0)
    X = X @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.4], [0.0, 0.0, 1.0]])
    return X, as_dask(X, (500, 500, 500))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(ax, tmp_path, name):
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path, dpi=60)
    assert path.stat().st_size > 5000  # a real picture, not an empty canvas
    return path


def test_lower_bounds(data, tmp_path):
    _, X = data
    gm = GaussianMixture(4, random_state=0, init_params="random", tol=1e-4, max_iter=500).fit(X)
    ax = plotting.plot_lower_bounds(gm)
    (line,) = ax.get_lines()
    assert_array_equal(line.get_xdata(), np.arange(1, gm.n_iter_ + 1))
    assert_array_equal(line.get_ydata(), gm.lower_bounds_)
    assert ax.get_xlabel() == "EM iteration"
    assert ax.get_ylabel() == "lower bound (mean log-likelihood per row)"
    assert ax.get_title() == f"GaussianMixture: converged after {gm.n_iter_} EM iterations"
    _save(ax, tmp_path, "lower_bounds")


@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_criteria(data, tmp_path, criterion):
    _, X = data
    _, scores = select_model(X, n_components=[1, 2, 3, 4, 5], covariance_type=["full", "diag"],
                             init_params="k-means++", random_state=0, criterion=criterion)
    ax = plotting.plot_criteria(scores)
    lines = {line.get_label(): line for line in ax.get_lines()}
    for covariance_type in ("full", "diag"):
        rows = scores[scores["covariance_type"] == covariance_type]
        assert_array_equal(lines[covariance_type].get_xdata(), rows["n_components"])
        assert_array_equal(lines[covariance_type].get_ydata(), rows[criterion])
    best = scores[scores["selected"]].iloc[0]
    star = lines[f"lowest: {best['n_components']} {best['covariance_type']}"]
    assert star.get_marker() == "*"
    assert_array_equal(star.get_ydata(), [best[criterion]])
    assert ax.get_ylabel() == f"{criterion.upper()} (lower is better)"
    _save(ax, tmp_path, f"criteria_{criterion}")


def test_criteria_rejects_an_unknown_criterion(data):
    X, _ = data
    _, scores = select_model(X[:300], n_components=[1, 2], random_state=0)
    with pytest.raises(ValueError, match="criterion must be"):
        plotting.plot_criteria(scores, criterion="loglik")


def _on_contour(ellipse, mean, cov, n_std):
    """Mahalanobis distances of the ellipse outline's points from ``mean`` under ``cov``."""
    # points of the unit circle through the patch transform: the outline in data coordinates
    t = np.linspace(0, 2 * np.pi, 50)
    points = ellipse.get_patch_transform().transform(np.column_stack([np.cos(t), np.sin(t)]))
    diff = points - mean
    return np.sqrt(np.einsum("ij,jk,ik->i", diff, np.linalg.inv(cov), diff))


@pytest.mark.parametrize("covariance_type", sorted(COVARIANCE_TYPES))
def test_ellipses_are_the_projected_contours(data, tmp_path, covariance_type):
    _, X_dask = data
    gm = GaussianMixture(4, random_state=0, **covariance_settings(covariance_type)).fit(X_dask)
    ax = plotting.plot_ellipses(gm, X_dask, projection=(0, 1), n_std=2.0, max_points=700)
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 4
    covs = gm._covariance.dense_covariances(gm.covariances_, 4, 3)
    for k, ellipse in enumerate(ellipses):
        mean = gm.means_[k, :2]
        assert_allclose(ellipse.center, mean)
        assert_allclose(_on_contour(ellipse, mean, covs[k][:2, :2], 2.0), 2.0, rtol=1e-6)
    (points,) = ax.collections
    assert len(points.get_offsets()) == 700
    assert ax.get_xlabel() == "feature 0" and ax.get_ylabel() == "feature 1"
    _save(ax, tmp_path, f"ellipses_{covariance_type}")


def test_ellipses_on_principal_components(data, tmp_path):
    X, _ = data
    gm = GaussianMixture(4, random_state=0).fit(X)
    pca = IncrementalPCA(2).fit(X)
    ax = plotting.plot_ellipses(gm, X, projection=pca, n_std=1.0)
    P = pca.components_
    for k, ellipse in enumerate(p for p in ax.patches if isinstance(p, Ellipse)):
        mean = P @ (gm.means_[k] - pca.mean_)
        assert_allclose(ellipse.center, mean, atol=1e-12)
        assert_allclose(_on_contour(ellipse, mean, P @ gm.covariances_[k] @ P.T, 1.0), 1.0,
                        rtol=1e-6)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("PC 1", "PC 2")
    _save(ax, tmp_path, "ellipses_pca")


@pytest.mark.parametrize(
    "projection, match",
    [((0, 0), "two distinct indices"), ((0, 5), "two distinct indices"),
     (np.ones((2, 4)), r"shape \(2, 4\)"), (IncrementalPCA(1), "at least 2 components")],
)
def test_ellipses_reject_bad_projections(data, projection, match):
    X, _ = data
    gm = GaussianMixture(2, random_state=0).fit(X[:300])
    if isinstance(projection, IncrementalPCA):
        projection.fit(X)
    with pytest.raises(ValueError, match=match):
        plotting.plot_ellipses(gm, projection=projection)


def test_responsibilities_histogram(data, tmp_path):
    X, X_dask = data
    gm = GaussianMixture(4, random_state=0).fit(X)
    ax = plotting.plot_responsibilities(gm, X_dask, bins=10, log=True)
    proba = gm.predict_proba(X)
    labels, largest = proba.argmax(axis=1), proba.max(axis=1)
    containers = ax.containers
    assert len(containers) == 4
    for k, bars in enumerate(containers):
        heights = np.array([bar.get_height() for bar in bars])
        expected, _ = np.histogram(largest[labels == k], bins=np.linspace(0, 1, 11))
        assert_array_equal(heights, expected)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel().startswith("largest responsibility")
    _save(ax, tmp_path, "responsibilities")


def test_responsibilities_histogram_of_truncated_inference(data):
    X, X_dask = data
    gm = GaussianMixture(6, covariance_type="diag", algorithm="truncated", n_active=2,
                         n_neighbors=3, random_state=0).fit(X)
    ax = plotting.plot_responsibilities(gm, X_dask, bins=10)  # sparse chunks
    proba = gm.predict_proba(X).toarray()
    labels, largest = proba.argmax(axis=1), proba.max(axis=1)
    for k, bars in enumerate(ax.containers):
        heights = np.array([bar.get_height() for bar in bars])
        expected, _ = np.histogram(largest[labels == k], bins=np.linspace(0, 1, 11))
        assert_array_equal(heights, expected)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'daskmix\[plot\]'"):
        plotting._axes(None)
