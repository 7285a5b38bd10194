"""Pure-ASGI middleware: request ids and Prometheus metrics (cheap on the hot path)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from dipper.entrypoints.logging import bind_request_id

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_PARAM = re.compile(r"{(\w+)(:[^}]*)?}")


def route_template(scope: Any) -> str | None:
    """The full path template of the matched route (``/api/v1/users/{user_id}``).

    Routers included with a prefix only know their own part of the path, so the prefix is
    recovered from the concrete path."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return None
    params = scope.get("path_params") or {}
    try:
        rendered = _PARAM.sub(lambda m: str(params[m.group(1)]), template)
    except KeyError:
        return str(template)
    path = scope.get("path", "")
    if rendered and path.endswith(rendered):
        return str(path[: len(path) - len(rendered)] + template)
    return str(template)


class RequestIdMiddleware:
    """Reuse a caller's well-formed X-Request-ID or mint one; echo it on the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((REQUEST_ID_HEADER, rid.encode()))
            await send(message)

        with bind_request_id(rid):
            await self.app(scope, receive, send_with_id)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dipper_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dipper_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


class MetricsMiddleware:
    """Count and time requests by route template (not raw path, to keep label cardinality bounded)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            template = route_template(scope) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
