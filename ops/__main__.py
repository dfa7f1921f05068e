"""``make ops``: Kafka and Redis (unless up), a worker, the console, demo traffic with fraud scenarios
and Prometheus with txmon's alerting rules; prints the addresses; Ctrl-C stops what it started.

    python -m ops [--console-port 8080] [--worker-port 6068] [--prometheus-port 9090] [--rate 25]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import time
from datetime import datetime
from types import FrameType

from loadtest.stack import local_services, namespace_env
from ops.stack import ROOT, OpsStack, Ports


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--worker-port", type=int, default=6068)
    p.add_argument("--console-port", type=int, default=8080)
    p.add_argument("--prometheus-port", type=int, default=9090)
    p.add_argument("--rate", type=float, default=25.0, help="demo events per second")
    args = p.parse_args(argv)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    with local_services() as started_services:
        ns = namespace_env(f"ops{datetime.now().astimezone().strftime('%H%M')}", TXMON_BANK_CODE="DEMOBANK")
        env = {
            **os.environ,
            "TXMON_KAFKA_BOOTSTRAP": os.environ.get("TXMON_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            "TXMON_REDIS_URL": os.environ.get("TXMON_REDIS_URL", "redis://127.0.0.1:6379/0"),
            **ns,
        }
        ports = Ports(args.worker_port, args.console_port, args.prometheus_port)
        stack = OpsStack(env, ROOT / ".run" / "ops", ports, rate=args.rate, malformed_every=2_000)
        try:
            stack.start()  # Ctrl-C while starting: KeyboardInterrupt, and the finally stops what started
            signal.signal(signal.SIGINT, stop)
            signal.signal(signal.SIGTERM, stop)
            password = f"demo-{secrets.token_urlsafe(9)}"
            users = stack.create_users(password)
            _banner(stack, users, password, args.rate, started_services)
            while not stopping and (gone := stack.exited()) is None:
                time.sleep(0.5)
            if not stopping:
                print(f"[ops] the {gone} process exited early; see the logs in {stack.run_dir}")
                return 1
        finally:
            stack.stop()
            print(
                f"[ops] stopped the worker, the console, the traffic and Prometheus"
                f"{', and Kafka and Redis' if started_services else ''}"
            )
    return 0


def _banner(stack: OpsStack, users: list[str], password: str, rate: float, started_services: bool) -> None:
    u, logs = stack.urls, stack.run_dir
    print(
        "\n"
        f"  txmon console:   {u['console']}   (users {', '.join(users)}; password: {password})\n"
        f"  worker metrics:  {u['worker']}/metrics   health {u['worker']}/health\n"
        f"  console metrics: {u['console']}/metrics\n"
        f"  Prometheus:      {u['prometheus']}   alerts {u['prometheus']}/classic/alerts\n"
        f"  Grafana:         import deploy/grafana/txmon.json (provisioning: deploy/grafana/provisioning/)\n"
        f"  demo traffic:    {rate:g} events/s with fraud scenarios into {stack.env['TXMON_INPUT_TOPIC']}\n"
        f"  logs:            {logs}/worker.log console.log traffic.log prometheus/prometheus.log\n"
        f"  Ctrl-C stops the worker, the console, the traffic and Prometheus"
        f"{', and Kafka and Redis' if started_services else ''}.\n",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
