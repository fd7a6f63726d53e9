"""daskmix quick start: fit a Gaussian mixture on a dask array and on a pandas DataFrame.

Run with ``python examples/quickstart.py``; it takes a few seconds.
"""

import dask.array as da
import numpy as np
import pandas as pd

from daskmix import GaussianMixture


def three_blobs(n_rows, seed=0):
    """Rows from three well separated 2-D Gaussian blobs, as a NumPy array."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    labels = rng.integers(0, 3, size=n_rows)
    return centres[labels] + rng.normal(size=(n_rows, 2))


def dask_array_example():
    """Fit on a chunked dask array; predictions stay lazy until computed."""
    X = da.from_array(three_blobs(100_000), chunks=(10_000, 2))  # 10 chunks of rows
    gm = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)

    # Fitted attributes are small, concrete NumPy arrays.
    print("dask array input")
    print("  converged:", gm.converged_, "after", gm.n_iter_, "iterations")
    print("  weights:  ", np.round(gm.weights_, 3))
    print("  means:    ", np.round(gm.means_, 2).tolist())

    # Dask in, dask out: nothing is computed until .compute().
    labels = gm.predict(X)
    proba = gm.predict_proba(X)
    print("  predict returns", type(labels).__name__, "with chunks", labels.chunks[0][:3], "...")
    print("  first labels:", labels[:8].compute())
    print("  proba rows sum to 1:", bool(np.allclose(proba.sum(axis=1).compute(), 1.0)))
    print("  mean log-likelihood:", round(gm.score(X), 4), " BIC:", round(gm.bic(X), 1))


def pandas_example():
    """Fit on a pandas DataFrame; column names are kept as ``feature_names_in_``."""
    df = pd.DataFrame(three_blobs(5_000, seed=1), columns=["height", "width"])
    gm = GaussianMixture(n_components=3, covariance_type="diag", random_state=0).fit(df)

    print("pandas DataFrame input")
    print("  feature names:", list(gm.feature_names_in_))
    print("  labels of the first rows:", gm.predict(df.head(5)))
    print("  means:", np.round(gm.means_, 2).tolist())


if __name__ == "__main__":
    dask_array_example()
    pandas_example()
