"""Helpers shared by the tests and the benchmarks; not public API.

:class:`SlowWorker` turns one ``distributed`` worker into a straggler, the
situation asynchronous EM exists for. It lives in the package (not in the
test or benchmark files) because worker processes must be able to import it.
"""

from __future__ import annotations

import time

from distributed import WorkerPlugin
from distributed.threadpoolexecutor import ThreadPoolExecutor

__all__ = ["DelayedThreadPoolExecutor", "SlowWorker"]


class DelayedThreadPoolExecutor(ThreadPoolExecutor):
    """A worker's thread pool that sleeps ``delay`` seconds before every task.

    Parameters
    ----------
    delay : float
        Seconds.
    **kwargs
        Passed to ``distributed``'s ``ThreadPoolExecutor``.
    """

    def __init__(self, delay, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay

    def submit(self, fn, /, *args, **kwargs):
        delay = self.delay

        def delayed(*a, **k):
            time.sleep(delay)
            return fn(*a, **k)

        return super().submit(delayed, *args, **kwargs)


class SlowWorker(WorkerPlugin):
    """Make the worker at ``address`` a straggler: every task starts ``delay`` s late.

    The scheduler does not see the delay as task time (it happens before the
    task runs), as with a worker on a slower or busier machine.

    Parameters
    ----------
    address : str
        The worker to slow down; the others are left alone.
    delay : float
        Seconds added before each task.
    """

    name = "daskmix-slow-worker"

    def __init__(self, address, delay):
        self.address, self.delay = address, delay

    def setup(self, worker):
        if worker.address == self.address:
            worker.executors["default"] = DelayedThreadPoolExecutor(
                self.delay, max_workers=worker.state.nthreads,
                thread_name_prefix="slow-worker",
            )
