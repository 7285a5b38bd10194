"""Domain errors with stable, machine-readable codes.

Every error a caller can cause carries a ``code`` that never changes once
published (clients branch on it), a human ``message`` and optional
``details``. The HTTP layer maps the error class to a status code; the code
itself stays the same across HTTP, CLI and console.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of all errors a caller can cause. Maps to a 4xx, never a 5xx."""

    http_status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ValidationFailed(DomainError):
    """Input is well-formed but breaks a business rule or a value constraint."""

    http_status = 422
    default_code = "validation_failed"


class NotFound(DomainError):
    """The object does not exist *for this tenant* (other tenants' objects look absent)."""

    http_status = 404
    default_code = "not_found"


class Conflict(DomainError):
    """The request collides with the current state: a duplicate key, a wrong status,
    or an idempotency key reused for different content."""

    http_status = 409
    default_code = "conflict"


class Unauthenticated(DomainError):
    http_status = 401
    default_code = "unauthenticated"


class PermissionDenied(DomainError):
    http_status = 403
    default_code = "permission_denied"


class CurrencyMismatch(ValidationFailed):
    default_code = "currency_mismatch"


class UnbalancedEntry(ValidationFailed):
    default_code = "unbalanced_entry"
