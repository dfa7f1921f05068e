"""Fixtures of the fault suite: generated traffic with its ground truth, runs, a private Redis.

Kafka is the session's (``tests.integration.conftest``); each run has its own topics, group and Redis prefix.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.faults.harness import FaultRun, Traffic
from tests.integration.conftest import (
    Services,
    free_port,
    services,  # noqa: F401  (the session servers, as in tests/integration)
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def traffic() -> Traffic:
    """30,000 records for 1,500 customers with a fraud scenario every 250 and a malformed record
    every 2,000, and what the back-test decides on them (shared by the fault tests: ~5 s)."""
    return Traffic.generate(events=30_000, accounts=1_500)


@pytest.fixture
def fault_run(services: Services, tmp_path: Path, traffic: Traffic) -> Iterator[Callable[..., FaultRun]]:  # noqa: F811
    runs: list[FaultRun] = []

    def make(redis_url: str | None = None) -> FaultRun:
        run = FaultRun(services, tmp_path, traffic, redis_url)
        runs.append(run)
        return run

    yield make
    for run in runs:
        for w in run.workers:
            w.stop(signal.SIGKILL if w.proc is not None and w.proc.poll() is None else signal.SIGTERM, timeout=10)


class PrivateRedis:
    """A Redis of one test, without persistence (like the local setup), that it can restart empty."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is not installed (make install)"
        args = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*args, "--dir", str(self.folder)], stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 20
        with redis.Redis.from_url(self.url) as client:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "private redis did not start"
                    time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # no shutdown save: an empty restart, as after a crash without persistence
            self.proc.wait(10)

    def restart_empty(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
