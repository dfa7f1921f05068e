"""Prometheus metrics of the officers' console, served at ``/metrics`` by one middleware.

The middleware is the outermost one, so it sees every answer the console
gives (the guard's 401/403/redirects included) and times it. Labels are
bounded by the code, never by what a client sends: the route is the matched
route's template (``/api/cases/{case_id}/{action}``), unknown paths are
``unmatched``, unusual methods are ``other``, and officer actions are named
by the handler (or the case action) only once the action succeeded.

    metrics = ConsoleMetrics()
    app = web.Application(middlewares=[metrics.middleware, ...])
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from redis.exceptions import RedisError

from alerts.console.api import CASE_ACTIONS

__all__ = ["ConsoleMetrics"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LOGIN_ROUTE = "/api/login"
NOT_ACTIONS = frozenset({LOGIN_ROUTE, "/api/logout"})
# Login answers by status, as alerts.console.login gives them: wrong credentials (or code) 401, a
# supervisor without an enrolled second factor 403, throttled (client, user or busy) 429.
LOGIN_OUTCOMES = {200: "success", 400: "invalid", 401: "rejected", 403: "second_factor_required", 429: "throttled"}


class ConsoleMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter(
            "txmon_console_requests", "Console HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "txmon_console_request_duration_seconds",
            "Time to answer a console HTTP request",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.logins = Counter(
            "txmon_console_logins",
            "Login attempts by outcome: success, rejected, throttled, second_factor_required, invalid",
            ["outcome"],
            registry=r,
        )
        self.actions = Counter(
            "txmon_console_officer_actions", "Officer actions that succeeded, by kind", ["action"], registry=r
        )
        self.redis_errors = Counter(
            "txmon_redis_errors", "Redis commands or pipelines that failed, by component", ["component"], registry=r
        )
        self.kafka_errors = Counter(
            "txmon_kafka_errors", "Kafka calls that failed, by component", ["component"], registry=r
        )
        for outcome in sorted(set(LOGIN_OUTCOMES.values()) | {"other"}):
            self.logins.labels(outcome)
        for action in sorted(CASE_ACTIONS):  # the everyday actions start at 0; the rarer ones appear when used
            self.actions.labels(action)
        self.redis_errors.labels("console")
        self.kafka_errors.labels("console")

    def exposition(self) -> web.Response:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway.
        return web.Response(body=generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/metrics" and request.method == "GET":
            return self.exposition()
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # redirects and aiohttp's own 404/405
            status = exc.status
            raise
        except RedisError:
            self.redis_errors.labels("console").inc()
            raise
        finally:
            self._observe(request, status, time.perf_counter() - started)

    def _observe(self, request: web.Request, status: int, seconds: float) -> None:
        method = request.method if request.method in METHODS else "other"
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)
        if route == LOGIN_ROUTE and method == "POST":
            self.logins.labels(LOGIN_OUTCOMES.get(status, "other")).inc()
        elif method not in SAFE_METHODS and status < 400 and route not in NOT_ACTIONS and resource is not None:
            handler = request.match_info.handler
            action = request.match_info.get("action") or getattr(handler, "__name__", "other")
            self.actions.labels(action).inc()
