"""daskmix: Gaussian mixture models on Dask with scikit-learn's API."""

from daskmix._state import load
from daskmix._version import __version__
from daskmix.cluster import MiniBatchKMeans
from daskmix.decomposition import IncrementalPCA
from daskmix.exceptions import ModelFileError
from daskmix.mixture import BayesianGaussianMixture, GaussianMixture

__all__ = [
    "BayesianGaussianMixture",
    "GaussianMixture",
    "IncrementalPCA",
    "MiniBatchKMeans",
    "ModelFileError",
    "__version__",
    "load",
]
