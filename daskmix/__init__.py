"""daskmix: Gaussian mixture models on Dask with scikit-learn's API."""

from daskmix._version import __version__
from daskmix.mixture import GaussianMixture

__all__ = ["GaussianMixture", "__version__"]
