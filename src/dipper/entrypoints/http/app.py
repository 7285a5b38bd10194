"""The FastAPI application: one factory, given a container (the composition root)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from dipper import __version__
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.http import errors
from dipper.entrypoints.http.middleware import Metrics, MetricsMiddleware, RequestIdMiddleware
from dipper.entrypoints.http.routers import access, accounting, customers, loans, products, repayments, system
from dipper.entrypoints.http.routers import batch as batch_routes

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
]


def create_app(container: Container | None = None, *, with_console: bool = True) -> FastAPI:
    container = container or bootstrap()
    app = FastAPI(
        title="dipper",
        version=__version__,
        description="Open retail-credit platform for small and mid-size banks. "
        "Every error body is `{code, message, details}`; money is integer minor units (fen) with a currency.",
        openapi_tags=TAGS,
    )
    app.state.container = container
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
