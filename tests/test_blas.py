"""The process's BLAS limit: one thread inside, the configured counts restored after."""

from __future__ import annotations

import threading

from threadpoolctl import threadpool_info

from daskmix import _blas
from daskmix._blas import single_blas_thread


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_limit_applies_and_restores():
    before = _blas_threads()
    with single_blas_thread():
        assert set(_blas_threads()) == {1}
        with single_blas_thread():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before


class _FakeLibrary:
    """A BLAS whose thread count is global to the process, as OpenBLAS's is."""

    def __init__(self, n_threads):
        self.n_threads = n_threads

    def get_num_threads(self):
        return self.n_threads

    def set_num_threads(self, n_threads):
        self.n_threads = n_threads


def test_overlapping_limits_of_two_threads_restore_the_counts(monkeypatch):
    # thread A enters, B enters, A leaves (B still limited), B leaves: a limit
    # that saved and restored on its own would leave one thread for good
    # (B saved A's 1) or lift B's limit while it runs (A restored 4)
    library = _FakeLibrary(4)
    monkeypatch.setattr(_blas, "_blas_libraries", lambda: (library,))
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with single_blas_thread():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with single_blas_thread():
            b_in.set()
            a_out.wait(10)
            seen["b after a left"] = library.n_threads

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert seen["b after a left"] == 1
    assert library.n_threads == 4
