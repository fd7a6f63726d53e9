"""One BLAS thread for work where a multithreaded BLAS only adds hand-off costs.

``threadpoolctl.threadpool_limits`` inspects every loaded library each time
it is entered (about 4 ms here, with NumPy's and SciPy's OpenBLAS and
OpenMP loaded): paid once per pass and once per M-step, that was 2% of a
truncated-EM iteration. A ``ThreadpoolController`` does the inspection once
and then limits in microseconds.
"""

from __future__ import annotations

import contextlib
import functools

__all__ = ["SERIAL_BLAS_FEATURES", "blas_for_matrices", "single_blas_thread"]

#: Below this many rows and columns, per-component linear algebra (one
#: Cholesky factorisation, eigendecomposition or a few triangular solves of
#: at most this size per component) runs on one BLAS thread: OpenBLAS's
#: threads only add hand-off costs at that size, and on a loaded machine
#: (Dask workers computing the next pass meanwhile, as in asynchronous EM)
#: they made the M-step of 400 factor components of 64 features 18 times
#: slower; 4096 Cholesky inverses of 32 x 32 took 1.7 ms each instead of
#: 0.22 ms, so a factor start at 4096 components spent 80 s in them.
SERIAL_BLAS_FEATURES = 256


@functools.cache
def _controller():
    # SciPy's BLAS is loaded by scipy.linalg: import it first, so that the
    # controller, which sees only the libraries loaded when it is built,
    # limits it too
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_blas_thread():
    """A context manager that runs BLAS on one thread.

    Returns
    -------
    contextlib.AbstractContextManager
    """
    return _controller().limit(limits=1, user_api="blas")


def blas_for_matrices(size):
    """:func:`single_blas_thread` for loops over matrices smaller than ``SERIAL_BLAS_FEATURES``.

    Parameters
    ----------
    size : int
        Rows (or columns) of the matrices the loop factorises.

    Returns
    -------
    contextlib.AbstractContextManager
        One BLAS thread below the threshold, no limit at or above it.
    """
    return single_blas_thread() if size < SERIAL_BLAS_FEATURES else contextlib.nullcontext()
