"""One BLAS thread for work where a multithreaded BLAS only adds hand-off costs.

``threadpoolctl.threadpool_limits`` inspects every loaded library each time
it is entered (about 4 ms here, with NumPy's and SciPy's OpenBLAS and
OpenMP loaded): paid once per pass and once per M-step, that was 2% of a
truncated-EM iteration. A ``ThreadpoolController`` does the inspection once;
its BLAS libraries' controllers are kept, and :func:`single_blas_thread`
sets and restores their thread counts directly (about 25 us, half of
``ThreadpoolController.limit``'s bookkeeping: it runs on every inline pass,
a ``predict`` on a few rows included).

BLAS thread counts are global to the process, so the limit is counted: the
first of overlapping limits (nested, or entered by several threads at once,
as a server predicting in several threads does) saves the counts, the last
one to leave restores them. Saving and restoring per limit would leave BLAS
on one thread for good when two threads overlap.
"""

from __future__ import annotations

import contextlib
import functools
import threading

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
def _blas_libraries():
    # SciPy's BLAS is loaded by scipy.linalg: import it first, so that the
    # controller, which sees only the libraries loaded when it is built,
    # limits it too
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


class _Limit:
    """The process's one BLAS limit: entered by every overlapping user, lifted by the last."""

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = ()

    def enter(self):
        with self._lock:
            if self._users == 0:
                libraries = _blas_libraries()
                self._saved = [(library, library.get_num_threads()) for library in libraries]
                for library in libraries:
                    library.set_num_threads(1)
            self._users += 1

    def exit(self):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for library, n_threads in self._saved:
                    library.set_num_threads(n_threads)


_LIMIT = _Limit()


@contextlib.contextmanager
def single_blas_thread():
    """A context manager that runs BLAS on one thread, and restores the counts after.

    Yields
    ------
    None
    """
    _LIMIT.enter()
    try:
        yield
    finally:
        _LIMIT.exit()


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
