"""Debian's Prometheus server on 127.0.0.1, scraping txmon with its alerting rules loaded.

The configuration is ``deploy/prometheus/prometheus.yml`` with the targets,
intervals and paths of this run; the server is started and stopped by PID.

    with PrometheusServer(run_dir, port, {"txmon-worker": ["127.0.0.1:6066"]}) as prom:
        prom.query('up{job="txmon-worker"}')
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "txmon-rules.yml"


class PrometheusError(RuntimeError):
    pass


def binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        msg = "the prometheus server is missing: run `bash deploy/ops-tools.sh install` (Debian's prometheus)"
        raise PrometheusError(msg)
    return found


def render_config(targets: dict[str, list[str]], rules: Path = RULES, interval: str = "15s") -> dict[str, Any]:
    """``prometheus.yml`` with these targets per job, scrape and evaluation ``interval`` and ``rules``."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["global"] = {**config["global"], "scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(rules)]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    unknown = set(targets) - set(jobs)
    if unknown:
        msg = f"no scrape job {sorted(unknown)} in {CONFIG}"
        raise PrometheusError(msg)
    for name, job in jobs.items():
        job["static_configs"] = [{"targets": targets.get(name, [])}]
    return config


class PrometheusServer:
    def __init__(self, run_dir: Path, port: int, targets: dict[str, list[str]], interval: str = "15s") -> None:
        self.run_dir = run_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config_path = run_dir / "prometheus.yml"
        self.log_path = run_dir / "prometheus.log"
        self.config = render_config(targets, interval=interval)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        command = [
            binary(),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.run_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = f"prometheus exited with {self.proc.returncode}; {self.log_path}:\n{self.log_tail()}"
                raise PrometheusError(msg)
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:  # noqa: S310 (loopback)
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        msg = f"prometheus not ready after {timeout:.0f} s; {self.log_path}:\n{self.log_tail()}"
        raise PrometheusError(msg)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the PID this object started; SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a Prometheus HTTP API answer; an error answer (bad query) raises with its message."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (loopback)
                body = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            msg = f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
            raise PrometheusError(msg)
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) ``expr`` gives now."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def healthy_targets(self) -> dict[str, int]:
        """How many targets of each job answered their last scrape."""
        counts: dict[str, int] = {}
        for target in self.api("targets")["activeTargets"]:
            if target["health"] == "up":
                job = target["labels"]["job"]
                counts[job] = counts.get(job, 0) + 1
        return counts

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""
