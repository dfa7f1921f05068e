"""Login throttling: per client, per user and globally, with exponential backoff, and a bound on
the password hashing one console process does at once.

- **Per client** (its IP): after ``client_free`` failures in ``window_s``, each
  further failure doubles the wait before the next attempt (capped at
  ``max_backoff_s``); one attempt at a time per client.
- **Per user**, only for names that exist (no key is ever made for a name that
  does not): after ``user_free`` failures, attempts for that user wait likewise,
  *except* from a browser that logged in as that user before and carries its
  *device token* (an HttpOnly cookie set at each successful login). Others'
  failures alone never lock a real user out of a browser they already used.
- **Globally**: beyond ``global_free`` failures a minute (a spray from many
  clients), attempts without a device token wait until the minute has passed.
- **Hashing**: at most ``hash_slots`` argon2 verifications run at once and at most
  ``hash_queue`` wait; the rest are refused at once, so a flood of bad logins
  cannot starve the officers' requests of CPU or of the event loop.

Keys (``store.keys.Keys.login_throttle``, global slot):
  login:client:{client}  hash: failures, next allowed attempt (epoch s); expires after the window
  login:busy:{client}    an attempt of that client in flight (a few seconds)
  login:user:{name}      hash: failures, next allowed attempt (existing users only)
  login:global:{minute}  failures in that minute
  login:devices:{name}   sorted set: SHA-256 of the device tokens the user logged in from
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from store import RedisClient
from store.keys import Keys

DEVICE_COOKIE = "txmon_device"
DEVICE_TTL_S = 90 * 86_400
DEVICES_KEPT = 20


@dataclass(frozen=True, slots=True)
class Limits:
    window_s: int = 15 * 60
    client_free: int = 5
    user_free: int = 10
    global_free: int = 300  # failures a minute, all clients together
    max_backoff_s: int = 15 * 60
    hash_slots: int = 1
    hash_queue: int = 8
    busy_s: int = 10


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an attempt was not even checked, and when to try again."""

    error: str
    message: str
    retry_after_s: int


def backoff_s(failures: int, free: int, cap: int) -> int:
    """0 while ``failures`` < ``free``; then 1, 2, 4, ... seconds, at most ``cap``.

    >>> [backoff_s(n, 5, 900) for n in (4, 5, 6, 7, 20)]
    [0, 1, 2, 4, 900]
    """
    if failures < free:
        return 0
    return int(min(2 ** min(failures - free, 30), cap))


def _int(raw: object) -> int:
    return int(raw.decode() if isinstance(raw, bytes) else raw) if raw is not None else 0  # type: ignore[call-overload]


class LoginThrottle:
    def __init__(
        self,
        redis: RedisClient,
        prefix: str = "txmon:",
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.p = Keys(prefix).login_throttle
        self.limits = limits or Limits()
        self.clock = clock
        self._slots = asyncio.Semaphore(self.limits.hash_slots)
        self._waiting = 0

    # --- before an attempt

    async def admit(self, client: str, user: str | None, device_ok: bool) -> Refusal | None:
        """None: go ahead (then call ``done``); a Refusal: answer 429 without checking anything.

        ``user`` is the name only when such a user exists; ``device_ok`` when the
        request carries a device token of that user.
        """
        now, lim = self.clock(), self.limits
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(f"{self.p}client:{client}", "next")
        pipe.get(self._global_key(now))
        pipe.get(self._global_key(now - 60))
        if user is not None:
            pipe.hget(f"{self.p}user:{user}", "next")
        client_next, this_minute, last_minute, *user_next = await pipe.execute()
        wait = _int(client_next) - now
        if wait > 0:
            return Refusal("throttled", "too many failed logins from here; wait", math.ceil(wait))
        if not device_ok:
            if _int(this_minute) + _int(last_minute) >= lim.global_free:
                return Refusal("throttled", "too many failed logins; wait", 60 - int(now) % 60)
            wait = _int(user_next[0]) - now if user_next else 0
            if wait > 0:
                return Refusal("throttled", "too many failed logins; wait", math.ceil(wait))
        if not await self.redis.set(f"{self.p}busy:{client}", b"1", nx=True, ex=lim.busy_s):
            return Refusal("throttled", "one login attempt at a time", 1)
        return None

    async def done(self, client: str) -> None:
        await self.redis.delete(f"{self.p}busy:{client}")

    @asynccontextmanager
    async def hashing(self) -> AsyncIterator[bool]:
        """Yields False (do not hash) when too many verifications are queued already."""
        if self._waiting >= self.limits.hash_queue:
            yield False
            return
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield True
        finally:
            self._slots.release()

    # --- after an attempt

    async def failed(self, client: str, user: str | None) -> None:
        now, lim = self.clock(), self.limits
        keys = [f"{self.p}client:{client}"] + ([f"{self.p}user:{user}"] if user is not None else [])
        # ``async with``: on a Redis Cluster a transaction holds its connection until reset
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hincrby(key, "failures", 1)
                pipe.expire(key, lim.window_s)
            minute = self._global_key(now)
            pipe.incr(minute)
            pipe.expire(minute, 180)
            counts = (await pipe.execute())[0 : 2 * len(keys) : 2]
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, failures, free in zip(keys, counts, (lim.client_free, lim.user_free), strict=False):
                wait = backoff_s(int(failures), free, lim.max_backoff_s)
                if wait:
                    pipe.hset(key, "next", int(now) + wait)
            await pipe.execute()

    async def succeeded(self, client: str) -> None:
        await self.redis.delete(f"{self.p}client:{client}")

    def _global_key(self, now: float) -> str:
        return f"{self.p}global:{int(now) // 60}"

    # --- device tokens

    async def issue_device(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        key = f"{self.p}devices:{user}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {_digest(token): self.clock()})
            pipe.zremrangebyrank(key, 0, -DEVICES_KEPT - 1)  # the newest few browsers only
            pipe.expire(key, DEVICE_TTL_S)
            await pipe.execute()
        return token

    async def device_ok(self, user: str, token: str | None) -> bool:
        if not token:
            return False
        seen = await self.redis.zscore(f"{self.p}devices:{user}", _digest(token))
        return seen is not None and self.clock() - float(seen) < DEVICE_TTL_S

    async def forget_devices(self, user: str) -> None:
        """After a password change or reset: old browsers earn their exemption again."""
        await self.redis.delete(f"{self.p}devices:{user}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
