"""The FastAPI application: one factory, given a container (the composition root)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from dipper import __version__
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.http import errors
from dipper.entrypoints.http.deps import ApiKeyCache
from dipper.entrypoints.http.middleware import Metrics, MetricsMiddleware, RequestIdMiddleware
from dipper.entrypoints.http.routers import access, accounting, customers, loans, products, repayments, system
from dipper.entrypoints.http.routers import batch as batch_routes
from dipper.entrypoints.http.routers import risk_decisions as risk_decision_routes
from dipper.entrypoints.http.routers import risk_registry as risk_registry_routes

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

TAGS = [
    {"name": "system", "description": "Health, readiness and metrics"},
    {"name": "auth", "description": "Staff sign-in and the current caller"},
    {"name": "access", "description": "Users, partner API keys, maker-checker and the audit log"},
    {
        "name": "accounting",
        "description": "Chart of accounts, journal entries, balances and the trial balance",
    },
    {"name": "customers", "description": "Borrowers' identities (personal data encrypted and masked)"},
    {"name": "products", "description": "Loan products: versioned terms, published through maker-checker"},
    {"name": "loans", "description": "Credit lines, offers with APR, loans, disbursement and reconciliation"},
    {"name": "risk", "description": "Model registry and strategies, published through maker-checker"},
]


#: The fewest sync requests (routes run in a thread) in flight at once.
MIN_REQUEST_THREADS = 10


def request_threads(container: Container) -> int:
    """Sync requests in flight at once: as many as the database pool keeps connections. More would
    only queue on the GIL, and open and close a connection each beyond the pool's size."""
    size = getattr(container.engine.pool, "size", None)
    return max(MIN_REQUEST_THREADS, size() if callable(size) else 0)


def create_app(container: Container | None = None, *, with_console: bool = True) -> FastAPI:
    container = container or bootstrap()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = request_threads(container)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="dipper",
        version=__version__,
        description="Open retail-credit platform for small and mid-size banks. "
        "Every error body is `{code, message, details}`; money is integer minor units (fen) with a currency.",
        openapi_tags=TAGS,
    )
    app.state.container = container
    app.state.api_keys = ApiKeyCache()
    metrics = Metrics()
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(system.router)
    for router in (
        access.auth_router,
        access.router,
        accounting.router,
        customers.router,
        products.router,
        loans.router,
        repayments.router,
        batch_routes.router,
        risk_registry_routes.router,
        risk_decision_routes.router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=errors.ERROR_RESPONSES)
    if with_console:
        from dipper.entrypoints.console import pages

        pages.install(app)

        @app.get("/", include_in_schema=False)
        def _root() -> Any:
            return RedirectResponse("/console/")

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
