"""Console users in Redis, with argon2id password hashes and three roles.

``officer`` sees and acts on bank-channel cases; ``supervisor`` also reads the
audit trail and manages users; ``police`` sees police-channel reports only.
Hashing runs in a thread so a login never stalls the console's event loop.

Keys (under the state prefix):
  users                hash: name -> user record (JSON, with the hash)
  login:failures:{name} failed logins in the current lock-out window
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal, get_args

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis

from alerts.audit import stamp
from alerts.routing import utc_now

Role = Literal["officer", "supervisor", "police"]
ROLES: tuple[str, ...] = get_args(Role)
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_FAILURES = 10
LOCKOUT_S = 15 * 60


class UserError(ValueError):
    """A user command that cannot be done as asked (bad name, role, password; exists; unknown)."""

    retriable = False


class User(msgspec.Struct, kw_only=True):
    name: str
    role: str
    password_hash: str
    active: bool = True
    created_at: str
    created_by: str
    updated_at: str = ""

    def public(self) -> dict[str, object]:
        """What the console shows: never the hash."""
        return {
            "name": self.name,
            "role": self.role,
            "active": self.active,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
        }


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        msg = f"a password needs at least {MIN_PASSWORD} characters"
        raise UserError(msg)


def check_role(role: str) -> None:
    if role not in ROLES:
        msg = f"role must be one of {', '.join(ROLES)}, not {role!r}"
        raise UserError(msg)


class UserStore:
    def __init__(
        self,
        redis: Redis,
        prefix: str = "txmon:",
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.redis = redis
        self.key = f"{prefix}users"
        self.failures = f"{prefix}login:failures:"
        self.hasher = hasher or PasswordHasher()
        self.clock = clock
        self._decode = msgspec.json.Decoder(User).decode
        # Compared against when the name is unknown, so timing does not reveal which names exist.
        self._dummy = self.hasher.hash("txmon-no-such-user")

    async def get(self, name: str) -> User | None:
        raw = await self.redis.hget(self.key, name)
        return None if raw is None else self._decode(raw)

    async def all(self) -> list[User]:
        raws = await self.redis.hvals(self.key)
        return sorted((self._decode(r) for r in raws), key=lambda u: u.name)

    async def create(self, name: str, role: str, password: str, by: str, *, replace: bool = False) -> User:
        """Add a user (``replace``: or reset an existing one's role and password)."""
        if not NAME.match(name):
            msg = f"user names are 2-32 characters: lower-case letters, digits, '.', '_', '-' (got {name!r})"
            raise UserError(msg)
        check_role(role)
        check_password(password)
        user = User(
            name=name,
            role=role,
            password_hash=await asyncio.to_thread(self.hasher.hash, password),
            created_at=stamp(self.clock()),
            created_by=by,
        )
        value = msgspec.json.encode(user)
        if replace:
            await self.redis.hset(self.key, name, value)
        elif not await self.redis.hsetnx(self.key, name, value):
            msg = f"user {name} already exists"
            raise UserError(msg)
        return user

    async def update(
        self, name: str, *, role: str | None = None, active: bool | None = None, password: str | None = None
    ) -> tuple[User, User]:
        """Change role, active flag or password; returns (before, after)."""
        before = await self.get(name)
        if before is None:
            msg = f"no user {name}"
            raise UserError(msg)
        after = msgspec.structs.replace(before, updated_at=stamp(self.clock()))
        if role is not None:
            check_role(role)
            after.role = role
        if active is not None:
            after.active = active
        if password is not None:
            check_password(password)
            after.password_hash = await asyncio.to_thread(self.hasher.hash, password)
        await self.redis.hset(self.key, name, msgspec.json.encode(after))
        return before, after

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches and the account is active and not locked out."""
        failures_key = self.failures + name
        failures = int(await self.redis.get(failures_key) or 0)
        user = await self.get(name) if NAME.match(name) else None
        hashed = user.password_hash if user is not None else self._dummy
        ok = await asyncio.to_thread(self._verify, hashed, password)
        if user is None or not ok or not user.active or failures >= MAX_FAILURES:
            pipe = self.redis.pipeline(transaction=True)
            pipe.incr(failures_key)
            pipe.expire(failures_key, LOCKOUT_S)
            await pipe.execute()
            return None
        await self.redis.delete(failures_key)
        if self.hasher.check_needs_rehash(user.password_hash):
            user.password_hash = await asyncio.to_thread(self.hasher.hash, password)
            await self.redis.hset(self.key, name, msgspec.json.encode(user))
        return user

    async def locked_out(self, name: str) -> bool:
        return int(await self.redis.get(self.failures + name) or 0) >= MAX_FAILURES

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(hashed, password))
        except (VerificationError, InvalidHashError):
            return False
