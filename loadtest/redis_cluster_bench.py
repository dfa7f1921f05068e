"""One worker's events/s on one Redis and on a Redis Cluster, in the same run, and how the
keys spread over the cluster's masters afterwards.

    make bench-redis                       # 200,000 events
    python -m loadtest.redis_cluster_bench --events 500000

Kafka and the single Redis are the local services (``deploy/services.sh``, started if they
are not up); the cluster (3 masters, 3 replicas) is started by ``deploy/redis-cluster.sh`` on
free ports and stopped at the end. Both workers read the same topic, each in a group of
its own, one after the other on this machine; events/s counts from a worker's first fetch to
its last record.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from loadtest.bank_traffic import Generator
from loadtest.scenario_labels import SUSPICIOUS_FILE
from loadtest.send import produce
from loadtest.stack import (
    ROOT,
    SIMULATED_CLOCK,
    WorkerProcess,
    cluster_ports,
    load_suspicious_list,
    local_services,
    namespace_env,
)
from streams.settings import Settings

BOOTSTRAP = "127.0.0.1:9092"
SINGLE = "redis://127.0.0.1:6379/0"
PORTS = cluster_ports(6)  # free now, with their cluster bus ports
CLUSTER_SCRIPT = ROOT / "deploy" / "redis-cluster.sh"


def _cluster(action: str, run_dir: Path) -> None:
    env = {**os.environ, "TXMON_RUN_DIR": str(run_dir), "TXMON_REDIS_CLUSTER_PORTS": ",".join(map(str, PORTS))}
    subprocess.run(["bash", str(CLUSTER_SCRIPT), action], env=env, check=action == "up")


def _judge(name: str, env: dict[str, str], events: int, port: int) -> float:
    """Run one worker until it has handled ``events`` records; returns its events/s."""
    worker = WorkerProcess(env, port, ROOT / ".run" / f"bench-redis-{name}.log")
    worker.start()
    try:
        deadline = time.monotonic() + 900
        while sum(worker.metric("txmon_records_total").values()) < events:
            if time.monotonic() > deadline:
                msg = f"{name}: the worker did not finish in 900 s"
                raise RuntimeError(msg)
            time.sleep(0.2)
        done = time.time()
        first = worker.metric("txmon_first_fetch_timestamp_seconds").get("", done)
    finally:
        worker.stop()
    return events / max(done - first, 1e-9)


def keys_per_master(prefix: str) -> dict[str, int]:
    client = redis.RedisCluster(host="127.0.0.1", port=PORTS[0])
    try:
        return {
            f"{n.host}:{n.port}": sum(
                1 for _ in client.get_redis_connection(n).scan_iter(match=f"{prefix}*", count=2000)
            )
            for n in client.get_primaries()
        }
    finally:
        client.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    args = parser.parse_args(argv)
    run_dir = ROOT / ".run" / "bench-redis"
    with local_services():
        _cluster("up", run_dir)
        try:
            single = namespace_env("bs", TXMON_KAFKA_BOOTSTRAP=BOOTSTRAP, TXMON_REDIS_URL=SINGLE, **SIMULATED_CLOCK)
            topic = single["TXMON_INPUT_TOPIC"]
            subprocess.run([sys.executable, "-m", "streams.cli", "topics"], env={**os.environ, **single}, check=True)
            produce(Generator(7, args.accounts).take(args.events), Settings(kafka_bootstrap=BOOTSTRAP), topic)
            cluster_url = f"redis://127.0.0.1:{PORTS[0]},127.0.0.1:{PORTS[1]}/0"
            on_cluster = namespace_env(
                "bc",
                TXMON_KAFKA_BOOTSTRAP=BOOTSTRAP,
                TXMON_REDIS_URL=cluster_url,
                TXMON_REDIS_CLUSTER="true",
                **SIMULATED_CLOCK,
            )
            on_cluster["TXMON_INPUT_TOPIC"] = topic
            rates = {}
            for name, env, port in (("single", single, 6081), ("cluster", on_cluster, 6082)):
                subprocess.run([sys.executable, "-m", "streams.cli", "topics"], env={**os.environ, **env}, check=True)
                load_suspicious_list(env, SUSPICIOUS_FILE)
                rates[name] = _judge(name, env, args.events, port)
            spread = keys_per_master(on_cluster["TXMON_STATE_PREFIX"])
        finally:
            _cluster("down", run_dir)
    total = sum(spread.values())
    print(f"{args.events:,} events, {args.accounts:,} accounts, one worker each:")
    print(f"  one Redis      {rates['single']:>10,.0f} events/s")
    print(f"  Redis Cluster  {rates['cluster']:>10,.0f} events/s ({rates['cluster'] / rates['single']:.0%})")
    print("  keys per master: " + ", ".join(f"{node} {n:,} ({n / total:.1%})" for node, n in spread.items()))
    return {"rates": rates, "keys_per_master": spread}


if __name__ == "__main__":
    main()
