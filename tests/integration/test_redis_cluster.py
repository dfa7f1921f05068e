"""txmon on a real Redis Cluster (3 masters, 3 replicas, from Debian's redis-server): the worker,
the console and the CLI do on it what they do on one Redis, the R6b Lua script is exactly
``rules.ip_cluster.merge_ip`` on both, and the keys spread over every master."""

from __future__ import annotations

import random
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from rules.ip_cluster import MAX_VISITS, IpVisits, merge_ip
from rules.state import IP_RETENTION_MS, MAX_IP_ACCOUNTS
from store import connect
from store.keys import Keys
from streams.ip_accounts import IpAccountStore
from tests.integration.conftest import (
    ROOT,
    Cluster,
    Services,
    TopicReader,
    Worker,
    add_to_suspicious_list,
    free_port,
    make_worker,
    send,
    sync_redis,
)
from tests.integration.test_console_e2e import ConsoleProcess
from tests.integration.test_pipeline import US_IP, Account, _of

pytestmark = pytest.mark.integration
W = 86_400_000


def _random_updates(rng: random.Random, n_accounts: int) -> list[IpVisits]:
    """Batches of visits: near and far apart, equal starts with different ids, more accounts
    than the store keeps, and visits older than it keeps."""
    out = []
    for _ in range(rng.randint(3, 8)):
        batch: IpVisits = {}
        for _ in range(rng.randint(1, 6)):
            start = rng.choice([0, 5, W // 2, W, 3 * W, 9 * W, 20 * W]) + rng.randint(0, 3)
            visit = (
                start,
                start + rng.choice([0, 1, W // 3]),
                f"e{rng.randint(0, 9)}",
                rng.choice(["Login", "Transfer"]),
            )
            batch.setdefault(f"A{rng.randint(0, n_accounts)}", []).append(visit)
        out.append(batch)
    return out


@pytest.mark.parametrize("where", ["single", "cluster"])
async def test_the_lua_merge_is_merge_ip(where: str, services: Services, redis_cluster: Cluster) -> None:
    url = services.redis_url if where == "single" else redis_cluster.env["TXMON_REDIS_URL"]
    client = connect(url, cluster=where == "cluster")
    store = IpAccountStore(client, f"lua{uuid.uuid4().hex[:6]}:")
    rng = random.Random(11)
    try:
        for case in range(40):
            ip, expected = f"203.0.113.{case}", cast(IpVisits, {})
            for batch in _random_updates(rng, MAX_IP_ACCOUNTS + 8 if case % 4 == 0 else 5):
                batch = {a: sorted(v) for a, v in batch.items()}
                expected = merge_ip(expected, batch, W)
                got = (await store.merge({ip: batch}, W))[ip]
                assert got == expected, case
            assert all(len(v) <= MAX_VISITS for v in expected.values()) and len(expected) <= MAX_IP_ACCOUNTS
        assert 0 < await client.pttl(store.keys.ip_accounts(ip)) <= IP_RETENTION_MS
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def cluster_worker(
    services: Services, redis_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    w = make_worker(
        services, tmp_path_factory.mktemp("cluster-worker"), **redis_cluster.env, TXMON_TOPIC_PARTITIONS="8"
    )
    w.start()
    try:
        yield w
    finally:
        w.stop()


def _reader(w: Worker, name: str) -> TopicReader:
    return TopicReader(w.services.bootstrap, w.topics[name])


def _wait(reader: TopicReader, account: str, n: int, timeout: float = 40) -> list[dict[str, Any]]:
    reader.wait_for(lambda rs: len(_of(rs, account)) >= n, timeout)
    return _of(reader.records, account)


def _post(url: str, body: dict[str, Any], cookie: str = "", csrf: str = "") -> tuple[int, dict[str, Any], str]:
    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if cookie:
        request.add_header("Cookie", cookie)
        request.add_header("X-CSRF-Token", csrf)
    with urllib.request.urlopen(request, timeout=20) as r:  # noqa: S310
        return r.status, orjson.loads(r.read()), r.headers.get("Set-Cookie", "")


def test_worker_console_and_cli_work_on_the_cluster(
    cluster_worker: Worker, producer: Any, redis_cluster: Cluster, tmp_path: Path
) -> None:
    w = cluster_worker
    alerts, holds, audit = _reader(w, "alerts"), _reader(w, "holds"), _reader(w, "audit")
    try:
        # txmon suspicious add: the worker applies it to the cluster
        mule = "77" + uuid.uuid4().hex[:8]
        add_to_suspicious_list(w, mule)
        payer = Account()
        send(producer, w.topics["input"], [*payer.onboard(), {**payer.transfer(7_000_000), "dest_account": mule}])
        [r7] = _wait(alerts, payer.id, 1)
        assert (r7["rule_id"], r7["action"]) == ("R7", "hold")
        [hold] = _wait(holds, payer.id, 1)
        # an R6b ring across partitions: three accounts on one foreign IP, all three alerted
        ring = [Account() for _ in range(3)]
        logins = [a.ev("login", device_id="phone-1", ip=US_IP) for a in ring]
        send(
            producer,
            w.topics["input"],
            [e for a, login in zip(ring, logins, strict=True) for e in [*a.onboard(), login]],
        )
        for a, login in zip(ring, logins, strict=True):
            got = [x for x in _wait(alerts, a.id, 2) if x["rule_id"] == "R6b"]
            assert [x["event_id"] for x in got] == [login["event_id"]], w.log_tail()

        # txmon create-user and the console, both on the cluster; an officer releases the hold
        officer, password = "cluster-officer", "pw-" + uuid.uuid4().hex
        env = {**w.env, "TXMON_CONSOLE_PORT": str(free_port()), "TXMON_SESSION_TTL_S": "600"}
        created = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "streams.cli", "create-user", officer, "--role", "officer", "--password-stdin"],
            input=password + "\n",
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        console = ConsoleProcess(env, int(env["TXMON_CONSOLE_PORT"]), tmp_path / "console.log")
        console.start()
        try:
            _, me, cookie = _post(f"{console.url}/api/login", {"user": officer, "password": password})
            session = cookie.split(";", 1)[0]
            status, outcome, _ = _post(
                f"{console.url}/api/cases/{hold['hold_id']}/release",
                {"reason": "customer called, payee known", "command_id": f"c-{uuid.uuid4()}"},
                session,
                me["csrf"],
            )
            assert status == 200 and outcome["outcome"]["changed"] is True, console.log_tail()
        finally:
            console.stop()
        released = _wait(holds, payer.id, 2)[-1]
        assert (released["hold_id"], released["status"]) == (hold["hold_id"], "released")
        audit.wait_for(lambda rs: any(orjson.loads(r.value).get("action") == "release" for r in rs), 30)
        assert any(orjson.loads(r.value).get("who") == officer for r in audit.records)
        r = sync_redis(w.env)
        keys = Keys(w.env["TXMON_STATE_PREFIX"])
        assert r.get(keys.account_hold(payer.id)) is None and r.exists(keys.account_state(payer.id)) == 1
    finally:
        for reader in (alerts, holds, audit):
            reader.close()


def keys_per_master(cluster: Cluster, prefix: str) -> dict[str, int]:
    """How many of ``prefix``'s keys each master holds."""
    r = cluster.client()
    try:
        out = {}
        for node in r.get_primaries():
            client = r.get_redis_connection(node)
            out[f"{node.host}:{node.port}"] = sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))
        return out
    finally:
        r.close()


def test_account_keys_spread_over_every_master(cluster_worker: Worker, producer: Any, redis_cluster: Cluster) -> None:
    accounts = [Account() for _ in range(150)]
    send(producer, cluster_worker.topics["input"], [e for a in accounts for e in a.onboard()])
    r = sync_redis(cluster_worker.env)
    keys = Keys(cluster_worker.env["TXMON_STATE_PREFIX"])
    deadline = time.monotonic() + 60
    while sum(r.exists(keys.account_state(a.id)) for a in accounts[-5:]) < 5:
        assert time.monotonic() < deadline, cluster_worker.log_tail()
        time.sleep(0.5)
    spread = keys_per_master(redis_cluster, cluster_worker.env["TXMON_STATE_PREFIX"])
    print(f"keys per master: {spread}")
    assert len(spread) == 3 and all(n >= 30 for n in spread.values()), spread
