"""R6b's shared store: which accounts used each foreign IP, across all workers.

Accounts are spread over partitions, so one foreign IP's accounts are seen by
several workers. Each IP has one sorted set in Redis (member: account, score:
the latest time the account was seen there). Workers add with ``ZADD GT``
(commutative: the order in which workers write does not matter, and a
redelivered batch writes the same values again), then trim to the newest
``MAX_IP_ACCOUNTS`` within ``IP_RETENTION_MS``; the key expires with the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from rules.state import IP_RETENTION_MS, MAX_IP_ACCOUNTS


class IpAccountStore:
    def __init__(self, redis: Redis, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.prefix = f"{prefix}ip:"

    def queue_load(self, pipe: Pipeline, ips: Sequence[str]) -> int:
        """Queue one ZRANGE per IP; returns how many replies to expect."""
        for ip in ips:
            pipe.zrange(self.prefix + ip, 0, -1, withscores=True)
        return len(ips)

    @staticmethod
    def unpack(ips: Sequence[str], replies: Sequence[list[tuple[bytes, float]]]) -> dict[str, dict[str, int]]:
        return {
            ip: {member.decode(): int(score) for member, score in reply}
            for ip, reply in zip(ips, replies, strict=True)
            if reply
        }

    def save(
        self,
        pipe: Pipeline,
        updates: Mapping[str, Mapping[str, int]],
        loaded: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        """Queue the batch's updates. ``loaded`` (what this batch read) tells when trimming is
        due, so most IPs cost two commands; another worker's additions are trimmed by the next
        batch that sees them."""
        loaded = loaded or {}
        for ip, seen in updates.items():
            key, before = self.prefix + ip, loaded.get(ip, {})
            pipe.zadd(key, dict(seen), gt=True)
            oldest_kept = max(seen.values()) - IP_RETENTION_MS
            if before and min(before.values()) <= oldest_kept:
                pipe.zremrangebyscore(key, "-inf", oldest_kept)
            if len(before.keys() | seen.keys()) > MAX_IP_ACCOUNTS:
                pipe.zremrangebyrank(key, 0, -(MAX_IP_ACCOUNTS + 1))
            pipe.pexpire(key, IP_RETENTION_MS)

    async def accounts(self, ip: str) -> dict[str, int]:
        """The accounts stored for one IP (for the console and tests)."""
        reply: list[tuple[bytes, float]] = await self.redis.zrange(self.prefix + ip, 0, -1, withscores=True)  # type: ignore[assignment]
        return self.unpack([ip], [reply]).get(ip, {})
