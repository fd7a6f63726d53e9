"""Per-chunk kernels of the Gaussian mixture: pure NumPy and numba, no dask import."""
