"""A real Dask cluster, started as users start one: ``dask scheduler`` and ``dask worker``.

The scheduler and the workers are separate processes started from the
command line (``python -m dask scheduler`` is the ``dask scheduler``
command of this interpreter) on 127.0.0.1; tests connect with
``Client(address)``. The fixtures start and stop them, so nothing else has
to run first.

Three clusters:

- ``cluster``: session-scoped, shared by the tests that compare results
  with the threaded scheduler and the command-line tests;
- ``fresh_cluster``: function-scoped, for tests that kill a worker, so a
  dead worker never leaks into another test;
- ``mended_cluster``: one scheduler per module for tests that kill a worker,
  with every killed worker replaced by a new one before the next test (a
  worker costs less to start than a whole cluster).

Workers run without a nanny (``--no-nanny``): a SIGKILL then really
removes the worker, as when a Kubernetes pod or a machine is lost, instead
of the nanny quietly restarting it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from distributed import Client

#: The repository root: workers run there so that test modules are importable.
ROOT = Path(__file__).resolve().parents[2]

#: Seconds to wait for the scheduler and the workers to come up.
START_TIMEOUT = 60.0


@dataclass
class DaskProcess:
    """One ``dask scheduler`` or ``dask worker`` process and its log file."""

    name: str
    process: subprocess.Popen
    log: Path

    def output(self):
        """The last lines the process wrote (stdout and stderr)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-30:])

    def kill(self):
        """SIGKILL the process and reap it: no goodbye to the scheduler."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)



@dataclass
class DaskCluster:
    """A scheduler and its workers, each a process started with the ``dask`` command.

    Attributes
    ----------
    directory : Path
        Holds the scheduler file and the processes' logs.
    scheduler : DaskProcess
    workers : list of DaskProcess
    address : str
        ``tcp://127.0.0.1:<port>``, known once the scheduler is up.
    """

    directory: Path
    scheduler: DaskProcess = None
    workers: list = field(default_factory=list)
    address: str = None
    n_started: int = 0

    @property
    def scheduler_file(self):
        return self.directory / "scheduler.json"

    def _spawn(self, name, args):
        log = self.directory / f"{name}.log"
        with open(log, "wb") as stream:
            process = subprocess.Popen(
                [sys.executable, "-m", "dask", *args], cwd=ROOT, stdout=stream,
                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return DaskProcess(name, process, log)

    def start_scheduler(self):
        """Start ``dask scheduler`` on a free loopback port; wait for its file."""
        self.scheduler = self._spawn("scheduler", [
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(self.scheduler_file), "--no-show",
        ])
        deadline = time.monotonic() + START_TIMEOUT
        while not self.scheduler_file.exists():
            self._check_alive(self.scheduler, deadline, "the scheduler file")
            time.sleep(0.05)
        while True:
            try:
                self.address = json.loads(self.scheduler_file.read_text())["address"]
                return
            except (ValueError, KeyError):  # the file is being written
                self._check_alive(self.scheduler, deadline, "the scheduler file")
                time.sleep(0.05)

    def start_worker(self):
        """Start one ``dask worker`` (1 thread, no nanny); return its process."""
        name = f"worker-{self.n_started}"
        self.n_started += 1
        worker = self._spawn(name, [
            "worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1",
            "--no-nanny", "--memory-limit", "1GiB", "--no-dashboard", "--host", "127.0.0.1",
            "--name", name,
        ])
        self.workers.append(worker)
        return worker

    def replace_dead_workers(self, client):
        """Start a worker for each one that exited; wait until the scheduler sees just them."""
        dead = [w for w in self.workers if w.process.poll() is not None]
        if not dead:
            return
        self.workers = [w for w in self.workers if w not in dead]
        for _ in dead:
            self.start_worker()
        expected = {w.name for w in self.workers}
        deadline = time.monotonic() + START_TIMEOUT
        while {info["name"] for info in
               client.scheduler_info(n_workers=-1)["workers"].values()} != expected:
            for process in [self.scheduler, *self.workers]:
                self._check_alive(process, deadline, f"the workers {sorted(expected)}")
            time.sleep(0.1)
        client.run(_import_daskmix)

    def wait_for_workers(self, client, n_workers):
        """Wait until ``n_workers`` workers are connected; raise with the logs if not."""
        deadline = time.monotonic() + START_TIMEOUT
        while len(client.scheduler_info(n_workers=-1)["workers"]) < n_workers:
            for process in [self.scheduler, *self.workers]:
                self._check_alive(process, deadline, f"{n_workers} workers")
            time.sleep(0.1)

    def worker_address(self, worker, client):
        """The address under which the scheduler knows ``worker`` (matched by name)."""
        for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
            if info["name"] == worker.name:
                return address
        raise LookupError(f"{worker.name} is not connected")

    def _check_alive(self, process, deadline, waiting_for):
        if process.process.poll() is not None or time.monotonic() > deadline:
            state = ("exited with code " + str(process.process.returncode)
                     if process.process.poll() is not None else "still running")
            logs = "\n".join(f"--- {p.name} ({p.log}):\n{p.output()}"
                             for p in [self.scheduler, *self.workers])
            raise RuntimeError(
                f"the test cluster did not come up: waiting for {waiting_for}, "
                f"{process.name} {state}.\n{logs}"
            )

    def stop(self):
        """Stop every process: the workers, then the scheduler; SIGKILL after 10 s."""
        for group in (self.workers, [self.scheduler]):
            processes = [p.process for p in group if p is not None]
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 10
            for process in processes:
                try:
                    process.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def _import_daskmix():
    """Import what a worker needs to run daskmix's tasks."""
    import daskmix.mixture  # noqa: F401


def _running_cluster(directory, n_workers=2):
    """Start a scheduler and ``n_workers`` workers; yield ``(cluster, client)``."""
    cluster = DaskCluster(Path(directory))
    cluster.directory.mkdir(parents=True, exist_ok=True)
    try:
        cluster.start_scheduler()
        for _ in range(n_workers):
            cluster.start_worker()
        with Client(cluster.address, timeout="30s", set_as_default=False) as client:
            cluster.wait_for_workers(client, n_workers)
            # what the first task would import anyway: keeps start-up out of the tests
            client.run(_import_daskmix)
            yield cluster, client
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A shared scheduler + 2 workers and a client of it: ``(DaskCluster, Client)``.

    Do not kill its workers; use ``fresh_cluster`` for that.
    """
    yield from _running_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def fresh_cluster(tmp_path):
    """A scheduler + 2 workers for this test only, which may kill workers."""
    yield from _running_cluster(tmp_path / "cluster")


@pytest.fixture(scope="module")
def _module_cluster(tmp_path_factory):
    yield from _running_cluster(tmp_path_factory.mktemp("module-cluster"))


@pytest.fixture
def mended_cluster(_module_cluster):
    """The module's scheduler with 2 live workers; this test may kill them.

    Workers killed by an earlier test of the module are replaced first (new
    processes under new names), and the scheduler holds no data from it.
    """
    cluster, client = _module_cluster
    cluster.replace_dead_workers(client)
    deadline = time.monotonic() + 10  # an earlier test's keys are released asynchronously
    while any(client.who_has().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(client.who_has().values()), "data left on the cluster by an earlier test"
    return cluster, client
