"""Process-wide logging: one structured line per record, with the request id, and personal data scrubbed.

``configure_logging(level)`` replaces the root handlers with one stream handler
carrying ``ScrubFilter``, which runs ``kernel.masking.scrub`` over the fully
formatted message (``msg % args``), the exception text and the stack of every
record before it is written. Resident IDs, mobile numbers and bank card numbers
therefore never reach the log even when a developer logs them by mistake, or
when SQLAlchemy echoes statement parameters. Names cannot be recognized by a
pattern: never log them (the identity module logs none and stores ciphertext).
SQLAlchemy's DEBUG result rows are decrypted values, so ``ResultRowFilter``
redacts them whole.

Never turn on ``create_engine(echo=...)``: it attaches its own stdout handler to
the engine's logger, which bypasses these filters. Raise the level of the
``sqlalchemy.engine`` logger instead.

Uvicorn's own loggers are emptied and made to propagate to the root, so access
lines (which contain paths and query strings) go through the same filter. Run
uvicorn with ``log_config=None`` after calling ``configure_logging``; its default
config would install unfiltered handlers again.

The request id comes from ``request_id_var``; the HTTP request-id middleware
should set it for the duration of each request (``bind_request_id``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

from dipper.kernel.masking import scrub

request_id_var: ContextVar[str | None] = ContextVar("dipper_request_id", default=None)

#: Loggers that install their own handlers; they are routed through the root handler instead.
THIRD_PARTY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "gunicorn.error",
    "gunicorn.access",
)

_MARK = "_dipper_handler"


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[None]:
    """Set the request id seen by log records for the duration of a block (one request)."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


class ScrubFilter(logging.Filter):
    """Mask personal data in a record in place; never drops a record.

    Installed on the handler (not on a logger) so that it also sees records
    propagated from every library's logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide (or leak) the record
            message = f"{record.msg!s} {record.args!r}"
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Format the traceback now so the formatter uses the scrubbed text (exception
            # messages, e.g. IntegrityError, quote parameters).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        request_id = getattr(record, "request_id", None)
        if isinstance(request_id, str):
            record.request_id = scrub(request_id)  # a caller chooses its X-Request-ID: it could be a phone
        return True


class ResultRowFilter(logging.Filter):
    """Redact the result rows SQLAlchemy logs at DEBUG.

    SQLAlchemy logs each fetched row *after* type processing, so encrypted columns appear
    decrypted there, and a name has no pattern ``scrub`` could find. Statements and their
    parameters (ciphertexts and blind indexes) are kept; only row contents go.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("sqlalchemy.engine") and record.msg == "Row %r":
            record.msg = "Row <redacted: result rows may hold decrypted personal data>"
            record.args = None
        return True


class RequestIdFilter(logging.Filter):
    """Stamp ``record.request_id`` from the context (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or "-"
        return True


def _timestamp(record: logging.LogRecord) -> str:
    instant = datetime.fromtimestamp(record.created, UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, request_id, msg[, exc][, stack]."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # ensure_ascii=False: Chinese text stays readable (and greppable) in the log.
        return json.dumps(entry, ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=INFO logger=… request_id=… msg="…"`` for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        message = json.dumps(record.getMessage(), ensure_ascii=False)
        line = (
            f"ts={_timestamp(record)} level={record.levelname} logger={record.name} "
            f"request_id={getattr(record, 'request_id', '-')} msg={message}"
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += f" exc={json.dumps(record.exc_text, ensure_ascii=False)}"
        if record.stack_info:
            line += f" stack={json.dumps(record.stack_info, ensure_ascii=False)}"
        return line


def configure_logging(
    level: str | int = "INFO",
    *,
    fmt: Literal["json", "kv"] = "json",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install the one root handler (structured, scrubbed) and route third-party loggers through it.

    Idempotent: calling it again replaces the handler it installed before. Returns the handler.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _MARK, True)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(ResultRowFilter())
    handler.addFilter(ScrubFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if getattr(old, _MARK, False):
            old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)

    for name in THIRD_PARTY_LOGGERS:
        lg = logging.getLogger(name)
        for old in list(lg.handlers):
            lg.removeHandler(old)
        lg.propagate = True
        lg.setLevel(logging.NOTSET)
    return handler
