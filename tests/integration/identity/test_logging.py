"""Structured, scrubbed logging (``dipper.entrypoints.logging``)."""

from __future__ import annotations

import io
import json
import logging

from dipper.entrypoints.logging import bind_request_id, configure_logging

ID_NUMBER = "110105199003071239"
PHONE = "13800138000"
CARD = "6222021234567890128"


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_request_id_and_scrubbed_message(restore_logging):
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    log = logging.getLogger("dipper.test")
    log.debug("not shown at INFO %s", PHONE)
    with bind_request_id("req-42"):
        log.info("customer %s phone %s card %s", ID_NUMBER, PHONE, CARD)
    log.warning("outside a request: %(phone)s", {"phone": PHONE})
    first, second = _lines(out)
    assert first["msg"] == "customer 110***********1239 phone 138****8000 card 622202*********0128"
    assert first["request_id"] == "req-42" and first["level"] == "INFO" and first["logger"] == "dipper.test"
    assert first["ts"].endswith("Z")
    assert second["request_id"] == "-" and second["msg"] == "outside a request: 138****8000"
    assert PHONE not in out.getvalue()


def test_exceptions_stacks_and_request_ids_are_scrubbed(restore_logging):
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    log = logging.getLogger("dipper.test")
    try:
        raise RuntimeError(f"duplicate {ID_NUMBER}")
    except RuntimeError:
        log.exception("failed")
    with bind_request_id(PHONE):  # a caller picks its own X-Request-ID
        log.info("with stack", stack_info=True)
    text = out.getvalue()
    assert ID_NUMBER not in text and PHONE not in text
    exc_line, stack_line = _lines(out)
    assert "RuntimeError: duplicate 110***********1239" in exc_line["exc"]
    assert stack_line["request_id"] == "138****8000" and "stack" in stack_line


def test_a_broken_format_string_neither_raises_nor_leaks(restore_logging):
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    logging.getLogger("dipper.test").info("two %s %s", PHONE)  # noqa: PLE1206 - one argument short, on purpose
    (line,) = _lines(out)
    assert PHONE not in line["msg"] and "138****8000" in line["msg"]


def test_key_value_format(restore_logging):
    out = io.StringIO()
    configure_logging("INFO", fmt="kv", stream=out)
    with bind_request_id("abc"):
        logging.getLogger("dipper.test").info("phone %s", PHONE)
    line = out.getvalue().strip()
    assert ' level=INFO logger=dipper.test request_id=abc msg="phone 138****8000"' in line
    assert line.startswith("ts=")


def test_uvicorn_loggers_are_routed_through_the_filter(restore_logging):
    # What uvicorn's default config does: its own handler, no propagation.
    stray = io.StringIO()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(stray))
    access.propagate = False

    out = io.StringIO()
    configure_logging("INFO", stream=out)
    access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:1234", "GET", f"/x?phone={PHONE}", "1.1", 200)
    assert stray.getvalue() == ""
    (line,) = _lines(out)
    assert line["logger"] == "uvicorn.access"
    assert line["msg"] == '10.0.0.1:1234 - "GET /x?phone=138****8000 HTTP/1.1" 200'


def test_configure_is_idempotent(restore_logging):
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    handler = configure_logging("WARNING", stream=second)
    root = logging.getLogger()
    assert root.handlers == [handler] and root.level == logging.WARNING
    logging.getLogger("dipper.test").warning("once")
    assert first.getvalue() == "" and len(_lines(second)) == 1


def test_sqlalchemy_result_rows_are_redacted(restore_logging):
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)  # sqlalchemy defaults itself to WARNING
    logging.getLogger("sqlalchemy.engine.Engine").debug("Row %r", ("id", "欧阳娜娜"))
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")
    rows, statement = _lines(out)
    assert "欧阳娜娜" not in out.getvalue()
    assert rows["msg"].startswith("Row <redacted")
    assert statement["msg"] == "SELECT 1"
