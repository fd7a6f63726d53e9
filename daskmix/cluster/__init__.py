"""Clustering stages: mini-batch k-means and k-means|| seeding."""

from daskmix.cluster._minibatch_kmeans import MiniBatchKMeans

__all__ = ["MiniBatchKMeans"]
