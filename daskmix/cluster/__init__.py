"""Clustering stages (k-means kernels; the public estimators come later)."""
