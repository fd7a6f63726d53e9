"""MiniBatchKMeans on small in-memory input: predict, transform and score run inline.

The same calls with ``INLINE_MAX_ROWS = 0`` take the Dask graph path on the
same data (one chunk there too), and must give the same results to the bit.
"""

from __future__ import annotations

import numpy as np

import daskmix._validation
from daskmix import MiniBatchKMeans


def test_outputs_equal_graph_path(blobs, monkeypatch):
    X, _ = blobs
    km = MiniBatchKMeans(3, random_state=0, batch_size=200).fit(X)
    rows, weights = X[:100], np.linspace(0.5, 2.0, 100)
    inline = (km.predict(rows), km.transform(rows), km.score(rows, sample_weight=weights))
    monkeypatch.setattr(daskmix._validation, "INLINE_MAX_ROWS", 0)
    graph = (km.predict(rows), km.transform(rows), km.score(rows, sample_weight=weights))
    assert inline[0].dtype == graph[0].dtype == np.int32
    np.testing.assert_array_equal(inline[0], graph[0])
    np.testing.assert_array_equal(inline[1], graph[1])
    assert inline[2] == graph[2]
    # and the labels are those of the nearest centre
    distances = ((rows[:, None, :] - km.cluster_centers_[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(inline[0], distances.argmin(axis=1))
