"""One error body for every 4xx: ``{"code", "message", "details"}``.

Domain errors carry their own stable code; framework errors (bad JSON, unknown
route, wrong method) get one here. Unexpected exceptions are logged with the
request id and answered 500 with no internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from dipper.kernel.errors import DomainError

log = logging.getLogger("dipper.http")


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"], description="Stable machine-readable error code")
    message: str = Field(examples=["no such account"])
    details: dict[str, Any] = Field(default_factory=dict)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}

#: Documented on every route so that clients (and schemathesis) know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code.replace("_", " ")}
    for status, code in _STATUS_CODES.items()
    if status in {400, 401, 403, 404, 409, 422}
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"code": code, "message": message, "details": details or {}}
    return JSONResponse(body, status_code=status, headers=headers)


def _clean_validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    clean = []
    for e in errors:
        # Never echo the submitted value back: it may be personal data.
        clean.append(
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        )
    return clean


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return error_response(exc.http_status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422,
            "invalid_request",
            "the request does not match the schema",
            {"errors": _clean_validation_errors(list(exc.errors()))},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = getattr(request.state, "request_id", None)
        log.exception("unhandled error (request %s)", rid)
        return error_response(
            500, "internal_error", "internal error; quote the request id", {"request_id": rid}
        )
