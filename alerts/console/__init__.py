"""The fraud officers' console: an aiohttp app serving a bilingual web UI and its JSON API.

It reads the worker's Redis records and acts only through ``alerts.lifecycle``,
so it never blocks the worker. ``streams.console_main`` builds its
dependencies from the settings and runs it (``txmon console``).

    app = create_app(redis, lifecycle, users, session_ttl_s=8 * 3600)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from alerts.console import pages
from alerts.console.api import ConsoleApi
from alerts.console.auth import SessionStore, guard
from alerts.console.cases import CaseReader, Geo
from alerts.lifecycle import HoldLifecycle
from alerts.users import UserStore

__all__ = ["create_app"]
log = logging.getLogger(__name__)


def create_app(
    redis: Redis,
    lifecycle: HoldLifecycle,
    users: UserStore,
    *,
    prefix: str = "txmon:",
    session_ttl_s: int = 8 * 3600,
    secure_cookies: bool = False,
    flush_interval_s: float = 5.0,
    scan: int = 2_000,
    geo: Geo | None = None,
) -> web.Application:
    """The console app; ``flush_interval_s`` 0 turns off the background outbox flush."""
    sessions = SessionStore(redis, prefix, session_ttl_s)
    api = ConsoleApi(
        redis, lifecycle, users, sessions, CaseReader(redis, prefix, scan, geo), secure_cookies=secure_cookies
    )
    app = web.Application(middlewares=[guard(sessions), api.errors])
    app.add_routes(api.routes())
    app.add_routes(pages.routes())
    if flush_interval_s > 0:

        async def flusher(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(_flush_forever(lifecycle, flush_interval_s))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(flusher)
    return app


async def _flush_forever(lifecycle: HoldLifecycle, interval_s: float) -> None:
    """Deliver what a Kafka outage left in the outbox, without waiting for the next command."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            sent = await lifecycle.flush_outbox()
        except (RedisError, OSError) as exc:
            log.warning("outbox flush failed: %r", exc)
            continue
        except Exception as exc:  # a Kafka client error: the outbox keeps the messages
            log.warning("outbox flush could not publish: %r", exc)
            continue
        if sent:
            log.info("outbox: published %d pending messages", sent)
