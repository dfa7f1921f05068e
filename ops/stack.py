"""A worker, the console, demo traffic with fraud scenarios and a Prometheus scraping both, by PID.

``make ops`` runs it on the local Kafka and Redis (``python -m ops``); the
Prometheus-scrape integration test runs it on the test session's servers.
Every process is started in its own session and stopped by its PID, last
started first.

    stack = OpsStack(env, Path(".run/ops"), ports)
    try:
        stack.start()
        ...
    finally:
        stack.stop()
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.stack import start_healthy, stop_process
from ops.prometheus import PrometheusServer

ROOT = Path(__file__).resolve().parents[1]
SUSPICIOUS_DEMO = ROOT / "loadtest" / "suspicious_demo.csv"


@dataclass(frozen=True)
class Ports:
    worker: int = 6068
    console: int = 8080
    prometheus: int = 9090


@dataclass
class OpsStack:
    env: dict[str, str]  # the whole environment: TXMON_* with the stack's own topics and prefix
    run_dir: Path
    ports: Ports = field(default_factory=Ports)
    rate: float = 25.0  # events per second
    scenario_every: int = 100
    malformed_every: int = 100_000_000
    seed: int = 7
    scrape_interval: str = "15s"
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list, init=False)
    prometheus: PrometheusServer | None = field(default=None, init=False)

    @property
    def urls(self) -> dict[str, str]:
        p = self.ports
        return {
            "worker": f"http://127.0.0.1:{p.worker}",
            "console": f"http://127.0.0.1:{p.console}",
            "prometheus": f"http://127.0.0.1:{p.prometheus}",
        }

    def _env(self) -> dict[str, str]:
        return {**self.env, "TXMON_WEB_PORT": str(self.ports.worker), "TXMON_CONSOLE_PORT": str(self.ports.console)}

    def txmon(self, *args: str, stdin: str | None = None) -> str:
        """Run a ``txmon`` command on the stack's settings; its output, or an error with it."""
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "streams.cli", *args],
            env=self._env(),
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            msg = f"txmon {' '.join(args)} failed: {done.stderr[-2000:]}"
            raise RuntimeError(msg)
        return done.stdout

    def create_users(self, password: str, prefix: str = "demo") -> list[str]:
        names = []
        for role in ("officer", "supervisor", "police"):
            name = f"{prefix}-{role}"
            self.txmon("create-user", name, "--role", role, "--password-stdin", "--replace", stdin=password + "\n")
            names.append(name)
        return names

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env, logs = self._env(), self.run_dir
        self.txmon("topics")
        self.txmon("suspicious", "load", str(SUSPICIOUS_DEMO), "--by", "ops")
        worker = start_healthy(
            ["-m", "streams.cli", "worker", "--quiet"], env, logs / "worker.log", f"{self.urls['worker']}/health", 180
        )
        self.procs.append(("worker", worker))
        console = start_healthy(
            ["-m", "streams.cli", "console"], env, logs / "console.log", f"{self.urls['console']}/health", 90
        )
        self.procs.append(("console", console))
        traffic = [
            *("--bootstrap", env["TXMON_KAFKA_BOOTSTRAP"], "--topic", env["TXMON_INPUT_TOPIC"]),
            *("--events", "100000000", "--rate", str(self.rate), "--seed", str(self.seed)),
            *("--scenario-every", str(self.scenario_every), "--malformed-every", str(self.malformed_every)),
        ]
        with (logs / "traffic.log").open("ab") as log:
            sender = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "loadtest.send", *traffic],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(("traffic", sender))
        targets = {
            "txmon-worker": [f"127.0.0.1:{self.ports.worker}"],
            "txmon-console": [f"127.0.0.1:{self.ports.console}"],
        }
        self.prometheus = PrometheusServer(logs / "prometheus", self.ports.prometheus, targets, self.scrape_interval)
        self.prometheus.start()

    def exited(self) -> str | None:
        """The name of a started process that has exited, if any."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name
        if self.prometheus is not None and self.prometheus.proc is not None and self.prometheus.proc.poll() is not None:
            return "prometheus"
        return None

    def stop(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        while self.procs:
            _, proc = self.procs.pop()
            stop_process(proc, timeout=30)

    def get(self, name: str, path: str) -> bytes:
        with urllib.request.urlopen(f"{self.urls[name]}{path}", timeout=5) as r:  # noqa: S310 (loopback)
            return bytes(r.read())
