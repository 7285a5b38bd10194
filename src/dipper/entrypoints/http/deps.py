"""FastAPI dependencies (``Annotated`` style): the container, the caller, permission checks."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from dipper.access import queries as access
from dipper.bootstrap import Container, UnitOfWork
from dipper.entrypoints.http.middleware import route_template
from dipper.kernel.errors import Unauthenticated
from dipper.kernel.messages import Command

SESSION_COOKIE = "dipper_session"

_bearer = HTTPBearer(
    auto_error=False, description="A staff session token (dps_…) or a partner API key (dpk_…)"
)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A partner API key (dpk_…)")


class ApiKeyCache:
    """Partner API keys resolved in the last few seconds, so that a machine client's every request
    does not cost a database round trip to authenticate.

    Only API keys (``dpk_``) are kept, by their SHA-256, for ``ttl`` seconds: revoking a key through
    this app clears the cache at once; another process (a second worker, the CLI) sees a revocation
    or a suspended bank within ``ttl``. Staff sessions are never cached: signing out takes effect
    on the next request."""

    def __init__(
        self, ttl: float = 5.0, max_size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self.clock = clock
        self._entries: dict[bytes, tuple[float, access.Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str) -> bytes | None:
        return hashlib.sha256(token.encode()).digest() if token.startswith("dpk_") else None

    def get(self, key: bytes) -> access.Principal | None:
        found = self._entries.get(key)
        if found is None or found[0] <= self.clock():
            return None
        return found[1]

    def put(self, key: bytes, principal: access.Principal) -> None:
        with self._lock:
            if len(self._entries) >= self.max_size:
                self._entries.clear()
            self._entries[key] = (self.clock() + self.ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# The dependencies are ``async``: a sync one costs a trip through the thread pool per request. What
# they do on the event loop is a few dictionary look-ups; a database read goes to the thread pool.


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def _token(request: Request, bearer: HTTPAuthorizationCredentials | None, api_key: str | None) -> str | None:
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    if api_key:
        return api_key
    # The console's cookie authenticates only safe reads here: a state-changing API call must
    # carry its credential in a header, which another site cannot make a browser send (CSRF).
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return request.cookies.get(SESSION_COOKIE)
    return None


async def get_principal(
    request: Request,
    container: ContainerDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> access.Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = _token(request, bearer, api_key)
    if not token:
        raise Unauthenticated("sign in or send an API key", code="unauthenticated")
    cache: ApiKeyCache | None = getattr(request.app.state, "api_keys", None)
    key = ApiKeyCache.key(token) if cache is not None else None
    principal = cache.get(key) if cache is not None and key is not None else None
    if principal is None:
        principal = await run_in_threadpool(access.authenticate, container.uow(None), token)
        if cache is not None and key is not None:
            cache.put(key, principal)
    request.state.principal = principal
    request.state.actor = principal.actor
    return principal


PrincipalDep = Annotated[access.Principal, Depends(get_principal)]


@dataclass(frozen=True)
class Ctx:
    """What a route needs: the container, the caller, and the request's id and action for the audit log."""

    container: Container
    principal: access.Principal
    request_id: str | None
    action: str

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    def uow(self) -> UnitOfWork:
        return self.container.uow(
            self.principal.tenant_id, self.principal.actor, request_id=self.request_id, action=self.action
        )

    def handle(self, command: Command) -> Any:
        return self.container.handle(
            command,
            actor=self.principal.actor,
            tenant_id=self.principal.tenant_id,
            request_id=self.request_id,
            action=self.action,
        )


def allow(*permissions: str) -> Callable[..., Awaitable[Ctx]]:
    """A dependency that lets the request through only with every named permission."""

    async def dependency(request: Request, container: ContainerDep, principal: PrincipalDep) -> Ctx:
        for p in permissions:
            principal.require(p)
        path = route_template(request.scope) or request.url.path
        return Ctx(
            container=container,
            principal=principal,
            request_id=getattr(request.state, "request_id", None),
            action=f"{request.method} {path}",
        )

    return dependency
