"""Console users in Redis, with argon2id password hashes and three roles.

``officer`` sees and acts on bank-channel cases; ``supervisor`` also reads the
audit trail and manages users; ``police`` sees police-channel reports only.
Hashing runs in a thread so a login never stalls the console's event loop.
Passwords follow ``alerts.passwords``; supervisors add a TOTP code
(``alerts.totp``), enrolled with ``txmon totp-enrol NAME``. Failed logins are
throttled by ``alerts.console.throttle``, not here.

Keys (``store.keys``, global slot):
  users              hash: name -> user record (JSON, with the hash and TOTP secret)
  login:totp:{name}  the last time step whose code logged the user in (no replay)
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
from redis.exceptions import WatchError

from alerts import passwords, totp
from alerts.audit import stamp
from alerts.routing import utc_now
from store import RedisClient
from store.keys import Keys

Role = Literal["officer", "supervisor", "police"]
ROLES: tuple[str, ...] = get_args(Role)
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
SECOND_FACTOR_ROLES = frozenset({"supervisor"})


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
    totp_secret: str = ""  # base32; empty: not enrolled

    def public(self) -> dict[str, object]:
        """What the console shows: never the hash."""
        return {
            "name": self.name,
            "role": self.role,
            "active": self.active,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "totp": bool(self.totp_secret),
        }


def check_password(password: str, name: str) -> None:
    try:
        passwords.check(password, name)
    except passwords.PasswordRefused as exc:
        raise UserError(str(exc)) from exc


def check_role(role: str) -> None:
    if role not in ROLES:
        msg = f"role must be one of {', '.join(ROLES)}, not {role!r}"
        raise UserError(msg)


class UserStore:
    def __init__(
        self,
        redis: RedisClient,
        prefix: str = "txmon:",
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.key = self.keys.users
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
        check_password(password, name)
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
            check_password(password, name)
            after.password_hash = await asyncio.to_thread(self.hasher.hash, password)
        await self.redis.hset(self.key, name, msgspec.json.encode(after))
        return before, after

    async def exists(self, name: str) -> bool:
        return bool(NAME.match(name)) and bool(await self.redis.hexists(self.key, name))

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches and the account is active (the second factor apart)."""
        user = await self.get(name) if NAME.match(name) else None
        hashed = user.password_hash if user is not None else self._dummy
        ok = await asyncio.to_thread(self._verify, hashed, password)
        if user is None or not ok or not user.active:
            return None
        if self.hasher.check_needs_rehash(user.password_hash):
            user.password_hash = await asyncio.to_thread(self.hasher.hash, password)
            await self.redis.hset(self.key, name, msgspec.json.encode(user))
        return user

    async def second_factor(self, user: User, code: str, now: float) -> bool:
        """Whether ``code`` is the user's current TOTP code, used for the first time.

        The accepted time step is stored with a check-and-set, so the same code sent
        twice (or by two requests at once) logs in once.
        """
        if not user.totp_secret:
            return False
        key = self.keys.totp_step(user.name)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                last = await pipe.get(key)
                step = totp.verify(user.totp_secret, code, now, int(last) if last is not None else -1)
                if step is None:
                    return False
                pipe.multi()
                pipe.set(key, step, ex=10 * totp.STEP_S)
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def enrol_totp(self, name: str) -> tuple[User, str]:
        """A new TOTP secret for ``name`` (replacing any); returns the user and the secret."""
        before = await self.get(name)
        if before is None:
            msg = f"no user {name}"
            raise UserError(msg)
        secret = totp.new_secret()
        after = msgspec.structs.replace(before, totp_secret=secret, updated_at=stamp(self.clock()))
        await self.redis.hset(self.key, name, msgspec.json.encode(after))
        await self.redis.delete(self.keys.totp_step(name))
        return after, secret

    async def change_own_password(self, user: User, current: str, new: str) -> User:
        """A user's own change, once ``current`` was checked (``authenticate``): the policy applies."""
        if new == current:
            msg = "the new password must differ from the current one"
            raise UserError(msg)
        _, after = await self.update(user.name, password=new)
        return after

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(hashed, password))
        except (VerificationError, InvalidHashError):
            return False
