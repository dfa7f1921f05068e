"""The Redis client txmon uses: a plain ``Redis`` or, for a Redis Cluster, ``RedisCluster``.

A cluster is chosen by ``TXMON_REDIS_CLUSTER=true`` or by a ``redis+cluster://`` (TLS:
``rediss+cluster://``) URL; the URL's host part may list several seed nodes,
comma-separated (``redis+cluster://user:pass@10.0.0.1:7000,10.0.0.2:7000``). User, password,
TLS and the other query options come from the URL exactly as for one Redis.

Keys of one slot (``store.keys``) are what a transaction, a WATCH or a script may span;
multi-key reads across slots go through ``get_many``, pipelined per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline
from redis.asyncio.connection import SSLConnection, parse_url

RedisClient: TypeAlias = Redis | RedisCluster
Pipe: TypeAlias = Pipeline | ClusterPipeline
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def connect(url: str, *, cluster: bool = False, **options: Any) -> RedisClient:
    """A client for ``url``: a cluster client when ``cluster`` or the URL says so."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)
    cluster = cluster or parts.scheme in CLUSTER_SCHEMES
    credentials, _, hosts = parts.netloc.rpartition("@")
    seeds = [h.strip() for h in hosts.split(",") if h.strip()]
    if not cluster:
        if len(seeds) > 1:
            msg = "TXMON_REDIS_URL lists several hosts: set TXMON_REDIS_CLUSTER=true for a Redis Cluster"
            raise ValueError(msg)
        return Redis.from_url(urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")), **options)
    nodes: list[ClusterNode] = []
    kwargs: dict[str, Any] = {}
    for seed in seeds:
        netloc = f"{credentials}@{seed}" if credentials else seed
        kwargs = dict(parse_url(urlunsplit((scheme, netloc, "", parts.query, ""))))
        nodes.append(ClusterNode(kwargs.pop("host"), kwargs.pop("port", 6379)))
    if not nodes:
        msg = "TXMON_REDIS_URL names no Redis Cluster node"
        raise ValueError(msg)
    if kwargs.pop("connection_class", None) is SSLConnection:
        kwargs["ssl"] = True
    if kwargs.pop("db", 0):
        msg = "a Redis Cluster has only database 0: drop the /N from TXMON_REDIS_URL"
        raise ValueError(msg)
    return RedisCluster(startup_nodes=nodes, **kwargs, **options)


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


def queue_get_many(pipe: Any, keys: Sequence[str], cluster: bool) -> list[list[int]]:
    """Queue reads of ``keys`` on ``pipe``: one MGET, or on a cluster one GET per key (a
    cluster pipeline refuses MGET; it groups the GETs by node and sends each node its
    share at once, so it is still one round trip per node). Returns, per queued command,
    the positions in ``keys`` it answers, for ``unpack_many``."""
    if not keys:
        return []
    if not cluster:
        pipe.mget(list(keys))
        return [list(range(len(keys)))]
    for k in keys:
        pipe.get(k)
    return [[i] for i in range(len(keys))]


def unpack_many(size: int, groups: Sequence[Sequence[int]], replies: Sequence[Sequence[Any]]) -> list[Any]:
    out: list[Any] = [None] * size
    for positions, reply in zip(groups, replies, strict=True):
        if len(positions) == 1 and not isinstance(reply, list):  # a GET
            out[positions[0]] = reply
            continue
        for i, value in zip(positions, reply, strict=True):
            out[i] = value
    return out


async def get_many(client: RedisClient, keys: Sequence[str]) -> list[Any]:
    """MGET that works across slots."""
    if not keys:
        return []
    pipe = client.pipeline(transaction=False)
    groups = queue_get_many(pipe, keys, is_cluster(client))
    return unpack_many(len(keys), groups, await pipe.execute())
