"""The fraud officers' console: an aiohttp app serving a bilingual web UI and its JSON API.

It reads the worker's Redis records and acts only through ``alerts.lifecycle``,
so it never blocks the worker. ``streams.console_main`` builds its
dependencies from the settings and runs it (``txmon console``), among them the worker's
account store (``streams.account_store.RedisAccountStore``) for the accounts' states.

    app = create_app(redis, lifecycle, users, accounts, session_ttl_s=8 * 3600)

The security controls are the app's, not a route's: the guard middleware
(session, CSRF, role; a route without a permission mark is refused), the
``on_response_prepare`` hook (security headers, HSTS, no ``Server`` banner on
every response), the error middleware (no traceback ever reaches a browser),
and the login throttle. Routes added to ``routes()`` get all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from alerts.cases.workflow import CaseWork
from alerts.console import casework, pages
from alerts.console.api import ConsoleApi
from alerts.console.auth import SessionStore, guard, json_error, security_headers
from alerts.console.cases import AccountStates, CaseReader, Geo
from alerts.console.login import ClientOf, CookiePolicy, LoginApi, remote_client
from alerts.console.metrics import ConsoleMetrics
from alerts.console.throttle import Limits, LoginThrottle
from alerts.lifecycle import HoldLifecycle
from alerts.users import UserStore
from store import RedisClient

__all__ = ["create_app"]
log = logging.getLogger(__name__)


def create_app(
    redis: RedisClient,
    lifecycle: HoldLifecycle,
    users: UserStore,
    accounts: AccountStates,
    *,
    prefix: str = "txmon:",
    session_ttl_s: int = 8 * 3600,
    secure_cookies: bool = False,
    hsts_max_age_s: int = 0,
    supervisor_totp: bool = False,
    client_of: ClientOf = remote_client,
    login_limits: Limits | None = None,
    flush_interval_s: float = 5.0,
    scan: int = 2_000,
    geo: Geo | None = None,
    metrics: ConsoleMetrics | None = None,
    case_work: CaseWork | None = None,
    case_notify: str | None = None,
    kafka_answers: Callable[[], Awaitable[bool]] | None = None,
    login_clock: Callable[[], float] = time.time,
) -> web.Application:
    """The console app; ``flush_interval_s`` 0 turns off the background outbox flush.

    ``accounts`` is the worker's account store (``streams.account_store``), read for the
    case detail's account profile.

    ``secure_cookies`` and ``hsts_max_age_s`` > 0 belong to a console served over
    TLS; ``supervisor_totp`` makes a TOTP code mandatory for every supervisor.
    ``metrics`` (default: a new ``ConsoleMetrics``) serves ``/metrics`` and counts requests.
    With ``case_work`` the case store's queue and workflow are served too (``casework``);
    ``case_notify`` (a PostgreSQL conninfo) turns on their live updates.
    ``kafka_answers`` is the readiness probe of the console's Kafka producer (``/ready``).
    ``login_clock`` is the login throttle's clock (tests stop it to check the backoff).
    """
    metrics = metrics or ConsoleMetrics()
    sessions = SessionStore(redis, prefix, session_ttl_s)
    api = ConsoleApi(redis, lifecycle, users, sessions, CaseReader(redis, accounts, prefix, scan, geo), kafka_answers)
    login = LoginApi(
        users,
        sessions,
        LoginThrottle(redis, prefix, login_limits, clock=login_clock),
        lifecycle,
        cookies=CookiePolicy(secure=secure_cookies, session_ttl_s=session_ttl_s),
        client_of=client_of,
        supervisor_totp=supervisor_totp,
    )
    # metrics inside _unexpected: it sees a handler's exception (a Redis error) before the plain 500
    app = web.Application(middlewares=[_unexpected, metrics.middleware, guard(sessions), api.errors])
    app.on_response_prepare.append(security_headers(hsts_max_age_s if secure_cookies else 0))
    app.add_routes(login.routes())
    app.add_routes(api.routes())
    app.add_routes(pages.routes())
    if case_work is not None:
        casework.register(app, case_work.pool, case_work, case_notify)
    if flush_interval_s > 0:

        async def flusher(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(_flush_forever(lifecycle, flush_interval_s, metrics))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(flusher)
    return app


@web.middleware
async def _unexpected(request: web.Request, handler: Any) -> web.StreamResponse:
    """A bug answers a plain 500 (logged here with its traceback), never aiohttp's page."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal", "the console failed on this request; see its log")


async def _flush_forever(lifecycle: HoldLifecycle, interval_s: float, metrics: ConsoleMetrics) -> None:
    """Deliver what a Kafka outage left in the outbox, without waiting for the next command."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            sent = await lifecycle.flush_outbox()
        except (RedisError, OSError) as exc:
            metrics.redis_errors.labels("console").inc()
            log.warning("outbox flush failed: %r", exc)
            continue
        except Exception as exc:  # a Kafka client error: the outbox keeps the messages
            metrics.kafka_errors.labels("console").inc()
            log.warning("outbox flush could not publish: %r", exc)
            continue
        if sent:
            log.info("outbox: published %d pending messages", sent)
