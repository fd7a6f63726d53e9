"""Matrix decompositions: incremental PCA."""

from daskmix.decomposition._incremental_pca import IncrementalPCA

__all__ = ["IncrementalPCA"]
