"""One BLAS thread for work where a multithreaded BLAS only adds hand-off costs.

``threadpoolctl.threadpool_limits`` inspects every loaded library each time
it is entered (about 4 ms here, with NumPy's and SciPy's OpenBLAS and
OpenMP loaded): paid once per pass and once per M-step, that was 2% of a
truncated-EM iteration. A ``ThreadpoolController`` does the inspection once
and then limits in microseconds.
"""

from __future__ import annotations

import functools

__all__ = ["single_blas_thread"]


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
