"""``txmon console``, ``txmon create-user`` and ``txmon totp-enrol``: the officers' console with
its Kafka, Redis and case store, and its users.

printf '%s\\n' "$PASSWORD" | txmon create-user lan --role supervisor --password-stdin
txmon totp-enrol lan   # a new TOTP secret (a supervisor's second factor) for an authenticator app
txmon console          # http://127.0.0.1:8080 (TXMON_CONSOLE_HOST / TXMON_CONSOLE_PORT)

Served over TLS (``TXMON_CONSOLE_TLS_CERT``/``_KEY``, or behind a TLS proxy), the
cookies are ``Secure`` and HSTS is sent: by default everywhere except local
development, that is a console on a loopback address without a certificate
(``Settings.console_secure``).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import ssl
import sys
import uuid
from typing import Any

import msgspec
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from alerts.audit import SYSTEM, AuditTrail, Commands
from alerts.cases.db import migrate, open_pool
from alerts.cases.workflow import CaseWork
from alerts.console import create_app
from alerts.console.auth import SessionStore
from alerts.console.login import forwarded_client, remote_client
from alerts.console.throttle import LoginThrottle
from alerts.outbox import Outbox
from alerts.routing import utc_now
from alerts.totp import provisioning_uri
from alerts.users import SECOND_FACTOR_ROLES, UserError, UserStore
from rules.geo import load_geoip
from store import RedisClient
from streams.account_store import RedisAccountStore
from streams.case_sink import pg_config
from streams.hold_expiry import KafkaPublisher, hold_lifecycle
from streams.logs import configure_logging
from streams.settings import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Run the console until SIGINT or SIGTERM; then close the site, the producer and Redis."""
    s = settings
    redis = s.redis()
    publisher = KafkaPublisher(s, f"{s.app_id}-console")
    runner: web.AppRunner | None = None
    pool: AsyncConnectionPool | None = None
    try:
        await redis.ping()
        await publisher.start()
        lifecycle = hold_lifecycle(s, redis, publisher)
        users = UserStore(redis, s.state_prefix)
        geo = load_geoip(str(s.geoip_mmdb) if s.geoip_mmdb else None)
        store = pg_config(s)
        await asyncio.to_thread(migrate, store)
        pool = await open_pool(store, max_size=8)
        codes = [c.strip() for c in s.case_reason_codes.split(",") if c.strip()]
        work = CaseWork(lifecycle, pool, claim_ttl_s=s.case_claim_ttl_s, reason_codes=codes)
        secure = s.console_secure()
        app = create_app(
            redis,
            lifecycle,
            users,
            RedisAccountStore(redis, s.state_prefix),
            prefix=s.state_prefix,
            session_ttl_s=s.session_ttl_s,
            secure_cookies=secure,
            hsts_max_age_s=s.console_hsts_max_age_s,
            supervisor_totp=s.console_supervisor_totp,
            client_of=forwarded_client if s.console_trust_forwarded_for else remote_client,
            geo=geo,
            case_work=work,
            case_notify=store.conninfo(),
            kafka_answers=publisher.answers,
        )
        runner = web.AppRunner(app)
        await runner.setup()
        tls = _tls_context(s)
        await web.TCPSite(runner, s.console_host, s.console_port, ssl_context=tls).start()
        if not await users.all():
            log.warning("no console users yet: create the first supervisor with `txmon create-user NAME`")
        if not secure:
            log.warning("local development: cookies without Secure and no HSTS (console on %s)", s.console_host)
        scheme = "https" if tls is not None else "http"
        print(f"txmon console on {scheme}://{s.console_host}:{s.console_port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher.stop()
        if pool is not None:
            await pool.close()
        await redis.aclose()


def _tls_context(s: Settings) -> ssl.SSLContext | None:
    if s.console_tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(s.console_tls_cert, s.console_tls_key)
    return context


def run_console(settings: Settings) -> int:
    configure_logging(settings)
    asyncio.run(serve(settings))
    return 0


async def _audit(redis: RedisClient, settings: Settings, action: str, name: str, before: Any, after: Any) -> None:
    """The audit record of a CLI change; it waits in the outbox for the next flush."""
    trail = AuditTrail(redis, Outbox(redis, None, settings.state_prefix), settings.audit_topic, settings.state_prefix)
    record = Commands.record(SYSTEM, action, name, f"txmon {action}", f"cli-{uuid.uuid4()}", utc_now(), None)
    record.before, record.after = before, after
    async with redis.pipeline(transaction=True) as pipe:
        trail.stage(pipe, record)
        await pipe.execute()


async def create_user(
    settings: Settings, name: str, role: str, password: str, *, replace: bool
) -> tuple[str, str | None]:
    """Create (or with ``replace`` reset) a user; returns its public record and, for a
    supervisor, the new TOTP secret (None for the other roles)."""
    redis = settings.redis()
    try:
        users = UserStore(redis, settings.state_prefix)
        before = await users.get(name)
        user = await users.create(name, role, password, "txmon create-user", replace=replace)
        secret = None
        if role in SECOND_FACTOR_ROLES:
            user, secret = await users.enrol_totp(name)
        if before is not None:
            await SessionStore(redis, settings.state_prefix, settings.session_ttl_s).end_all(name)
            await LoginThrottle(redis, settings.state_prefix).forget_devices(name)
        was = {"role": before.role, "active": before.active} if before is not None else None
        now = {"role": user.role, "active": user.active, "totp": bool(user.totp_secret)}
        await _audit(redis, settings, "user_reset" if before is not None else "user_create", name, was, now)
        return msgspec.json.encode(user.public()).decode(), secret
    finally:
        await redis.aclose()


def _print_secret(name: str, secret: str) -> None:
    # On stderr: stdout keeps the one JSON line scripts read.
    print(f"totp secret: {secret}", file=sys.stderr)
    print(f"totp uri: {provisioning_uri(secret, name)}", file=sys.stderr)
    print("add it to an authenticator app now; it is not shown again", file=sys.stderr)


def create_user_command(settings: Settings, name: str, role: str, password_stdin: bool, replace: bool) -> int:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    try:
        public, secret = asyncio.run(create_user(settings, name, role, password, replace=replace))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(public)
    if secret is not None:
        _print_secret(name, secret)
    return 0


async def enrol_totp(settings: Settings, name: str) -> str:
    """A new TOTP secret for ``name`` (any role; required for supervisors); returns it."""
    redis = settings.redis()
    try:
        users = UserStore(redis, settings.state_prefix)
        before = await users.get(name)
        _, secret = await users.enrol_totp(name)
        await SessionStore(redis, settings.state_prefix, settings.session_ttl_s).end_all(name)
        await _audit(redis, settings, "totp_enrol", name, {"totp": bool(before and before.totp_secret)}, {"totp": True})
        return secret
    finally:
        await redis.aclose()


def enrol_totp_command(settings: Settings, name: str) -> int:
    try:
        secret = asyncio.run(enrol_totp(settings, name))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print_secret(name, secret)
    return 0
