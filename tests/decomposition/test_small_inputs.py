"""IncrementalPCA on small in-memory input: transform and inverse_transform run inline.

The same calls with ``INLINE_MAX_ROWS = 0`` take the Dask graph path on the
same data (one chunk there too), and must give the same results to the bit.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

import daskmix._validation
from daskmix import IncrementalPCA


def test_transforms_equal_graph_path(blobs, monkeypatch):
    X, _ = blobs
    pca = IncrementalPCA(2, whiten=True).fit(X)
    rows = X[:100]
    projected = pca.transform(rows)
    back = pca.inverse_transform(projected)
    monkeypatch.setattr(daskmix._validation, "INLINE_MAX_ROWS", 0)
    np.testing.assert_array_equal(projected, pca.transform(rows))
    np.testing.assert_array_equal(back, pca.inverse_transform(projected))
    # up to each component's sign, scikit-learn's PCA projects the same way
    reference = PCA(2, whiten=True).fit(X).transform(rows)
    signs = np.sign((projected * reference).sum(axis=0))
    np.testing.assert_allclose(projected * signs, reference, rtol=1e-6, atol=1e-8)
