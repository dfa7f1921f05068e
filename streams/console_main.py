"""``txmon console`` and ``txmon create-user``: the officers' console with its Kafka and Redis.

printf '%s\\n' "$PASSWORD" | txmon create-user lan --role supervisor --password-stdin
txmon console        # http://127.0.0.1:8080 (TXMON_CONSOLE_HOST / TXMON_CONSOLE_PORT)
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import sys
import uuid

import msgspec
from aiohttp import web
from redis.asyncio import Redis

from alerts.audit import SYSTEM, AuditTrail, Commands, Outbox
from alerts.console import create_app
from alerts.console.auth import SessionStore
from alerts.routing import utc_now
from alerts.users import UserError, UserStore
from rules.geo import load_geoip
from streams.hold_expiry import KafkaPublisher, hold_lifecycle
from streams.settings import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Run the console until SIGINT or SIGTERM; then close the site, the producer and Redis."""
    s = settings
    redis = Redis.from_url(s.redis_url.get_secret_value())
    publisher = KafkaPublisher(s, f"{s.app_id}-console")
    runner: web.AppRunner | None = None
    try:
        await redis.ping()
        await publisher.start()
        lifecycle = hold_lifecycle(s, redis, publisher)
        users = UserStore(redis, s.state_prefix)
        geo = load_geoip(str(s.geoip_mmdb) if s.geoip_mmdb else None)
        app = create_app(redis, lifecycle, users, prefix=s.state_prefix, session_ttl_s=s.session_ttl_s, geo=geo)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, s.console_host, s.console_port).start()
        if not await users.all():
            log.warning("no console users yet: create the first supervisor with `txmon create-user NAME`")
        print(f"txmon console on http://{s.console_host}:{s.console_port}", flush=True)
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
        await redis.aclose()


def run_console(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings))
    return 0


async def create_user(settings: Settings, name: str, role: str, password: str, *, replace: bool) -> str:
    """Create (or with ``replace`` reset) a user; the audit record waits in the outbox for the next flush."""
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    try:
        users = UserStore(redis, settings.state_prefix)
        before = await users.get(name)
        user = await users.create(name, role, password, "txmon create-user", replace=replace)
        if before is not None:
            await SessionStore(redis, settings.state_prefix, settings.session_ttl_s).end_all(name)
        trail = AuditTrail(
            redis, Outbox(redis, None, settings.state_prefix), settings.audit_topic, settings.state_prefix
        )
        action = "user_reset" if before is not None else "user_create"
        record = Commands.record(SYSTEM, action, name, "txmon create-user", f"cli-{uuid.uuid4()}", utc_now(), None)
        record.before = {"role": before.role, "active": before.active} if before is not None else None
        record.after = {"role": user.role, "active": user.active}
        pipe = redis.pipeline(transaction=True)
        trail.stage(pipe, record)
        await pipe.execute()
        return msgspec.json.encode(user.public()).decode()
    finally:
        await redis.aclose()


def create_user_command(settings: Settings, name: str, role: str, password_stdin: bool, replace: bool) -> int:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    try:
        print(asyncio.run(create_user(settings, name, role, password, replace=replace)))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
