"""Algorithms that fit a Gaussian mixture: each one a loop over passes of Dask graphs."""
