"""Console pages of risk decisions and of the manual review queue (风控决策与人工复核).

- ``/console/risk/reviews``: the gray-zone queue (open and assigned cases, oldest first; or the
  resolved ones by status).
- ``/console/risk/decisions``: the bank's decisions, newest first, filtered by outcome.
- ``/console/risk/decisions/{id}``: one decision: outcome, offer, score and probability of default,
  reasons (in the page's language), feature values, versions and the inputs (personal fields
  masked); replay it; and its review case: take it, approve it with a limit and a rate within the
  product's bounds, or decline it, with a note (``risk.approve``; never the person who submitted it).

Everything goes through ``risk.queries`` and ``risk.commands``, like the API.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dipper.access.queries import Permission
from dipper.entrypoints.console import i18n
from dipper.entrypoints.console.pages import (
    CSRF_FIELD,
    MODULE_LINKS,
    PREFIX,
    Console,
    ConsoleDep,
    ModuleLink,
    PostedForm,
    _page_number,
    _posted_csrf_ok,
    render,
    render_error,
    router,
)
from dipper.kernel.errors import DomainError
from dipper.risk import commands as risk_commands
from dipper.risk import queries as risk

PAGE_SIZE = 20
CASE_FILTERS = ("", "approved", "declined")
DECISION_FILTERS = ("", "approve", "review", "decline")
_NOTICES = {"assigned", "approved", "declined"}

MODULE_LINKS["risk"] = (
    *MODULE_LINKS.get("risk", ()),
    ModuleLink(
        "risk_decisions.reviews.title",
        "risk_decisions.reviews.summary",
        f"{PREFIX}/risk/reviews",
        Permission.RISK_READ,
    ),
    ModuleLink(
        "risk_decisions.decisions.title",
        "risk_decisions.decisions.summary",
        f"{PREFIX}/risk/decisions",
        Permission.RISK_READ,
    ),
)


def _page(c: Console, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        c.request,
        name,
        status=status,
        title_key=context.pop("title_key", "risk_decisions.reviews.title"),
        active="module:risk",
        **context,
    )


def _handle(c: Console, command: Any) -> Any:
    return c.container.handle(
        command,
        actor=c.principal.actor,
        tenant_id=c.principal.tenant_id,
        request_id=getattr(c.request.state, "request_id", None),
        action=f"{c.request.method} {c.request.url.path}",
    )


def _percent(rate: str | None) -> str:
    if rate is None:
        return "—"
    return f"{format((Decimal(rate) * 100).normalize(), 'f')}%"


def _pages(total: int, page: int) -> dict[str, int]:
    last = max(1, -(-total // PAGE_SIZE))
    return {"page": min(page, last), "last": last, "total": total}


# --------------------------------------------------------------------------- the queue and the list


@router.get("/risk/reviews")
def reviews_page(c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    status = str(c.request.query_params.get("status", ""))
    if status not in CASE_FILTERS:
        status = ""
    page = min(_page_number(str(c.request.query_params.get("page", "1"))), 100_000)
    result = risk.list_review_cases(
        c.uow(), status=status or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return _page(
        c,
        "risk_reviews.html",
        title_key="risk_decisions.reviews.title",
        cases=result.cases,
        case_status=status,
        filters=CASE_FILTERS,
        paging=_pages(result.total, page),
        query=lambda **kw: urlencode({k: v for k, v in {"status": status, **kw}.items() if v}),
        percent=_percent,
    )


@router.get("/risk/decisions")
def decisions_page(c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    outcome = str(c.request.query_params.get("decision", ""))
    if outcome not in DECISION_FILTERS:
        outcome = ""
    page = min(_page_number(str(c.request.query_params.get("page", "1"))), 100_000)
    result = risk.list_decisions(
        c.uow(), decision=outcome or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return _page(
        c,
        "risk_decisions.html",
        title_key="risk_decisions.decisions.title",
        decisions=result.decisions,
        outcome=outcome,
        filters=DECISION_FILTERS,
        paging=_pages(result.total, page),
        query=lambda **kw: urlencode({k: v for k, v in {"decision": outcome, **kw}.items() if v}),
        percent=_percent,
    )


# --------------------------------------------------------------------------- one decision


def _detail(
    c: Console,
    decision_id: str,
    *,
    status: int = 200,
    error: str = "",
    replay: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    view = risk.get_decision(c.uow(), decision_id)
    record = view["record"]
    language = i18n.request_language(c.request)
    case = view["review_case"]
    me = c.principal.actor.id
    open_case = case is not None and case["status"] in ("open", "assigned")
    can_work = open_case and c.principal.can(Permission.RISK_APPROVE) and view["created_by"] != me
    bounds = (view["inputs"].get("bounds") or {}) if isinstance(view["inputs"], dict) else {}
    notice = str(c.request.query_params.get("done", ""))
    return _page(
        c,
        "risk_decision_detail.html",
        status=status,
        title_key="risk_decisions.decision.title",
        d=view,
        record=record,
        reasons=[{**r, "shown": r["text"].get(language) or r["code"]} for r in record.get("reasons", [])],
        features=sorted(record.get("features", {}).items()),
        case=case,
        can_assign=can_work and (case["assignee"] != me),
        can_resolve=can_work and case["assignee"] in (None, me),
        own=view["created_by"] == me,
        bounds=bounds,
        percent=_percent,
        error=error,
        replay=replay,
        form=form or {},
        notice=notice if notice in _NOTICES else "",
    )


@router.get("/risk/decisions/{decision_id}")
def decision_page(decision_id: str, c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    return _detail(c, decision_id[:64])


@router.post("/risk/decisions/{decision_id}/replay")
def decision_replay(decision_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.RISK_READ)
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    result = _handle(
        c, risk_commands.ReplayDecision(tenant_id=c.principal.tenant_id, decision_id=decision_id[:64])
    )
    return _detail(c, decision_id[:64], replay=result)


def _yuan_to_fen(text: str) -> int | None:
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None
    fen = value * 100
    if not value.is_finite() or fen != fen.to_integral_value() or fen <= 0 or fen > 10**12:
        return None
    return int(fen)


@router.post("/risk/reviews/{case_id}/assign")
def review_assign(case_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.RISK_APPROVE)
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    decision_id = str(form.get("decision_id", ""))[:64]
    try:
        _handle(c, risk_commands.AssignCase(tenant_id=c.principal.tenant_id, case_id=case_id[:64]))
    except DomainError as e:
        return _detail(c, decision_id, status=e.http_status, error=f"[{e.code}] {e.message}")
    return RedirectResponse(f"{PREFIX}/risk/decisions/{decision_id}?done=assigned", status_code=303)


@router.post("/risk/reviews/{case_id}/resolve")
def review_resolve(case_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.RISK_APPROVE)
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    decision_id = str(form.get("decision_id", ""))[:64]
    outcome = str(form.get("outcome", ""))
    limit_text = str(form.get("limit_yuan", ""))[:20]
    rate_text = str(form.get("annual_rate", "")).strip()[:20]
    note = str(form.get("note", ""))[:1000]
    shown = {"limit_yuan": limit_text, "annual_rate": rate_text, "note": note}
    limit = rate = None
    if outcome == "approve":
        limit = _yuan_to_fen(limit_text)
        if limit is None:
            return _detail(c, decision_id, status=422, error="[invalid_limit] " + limit_text, form=shown)
        try:
            rate = Decimal(rate_text)
        except InvalidOperation:
            return _detail(c, decision_id, status=422, error="[invalid_rate] " + rate_text, form=shown)
    try:
        _handle(
            c,
            risk_commands.ResolveCase(
                tenant_id=c.principal.tenant_id,
                case_id=case_id[:64],
                outcome=outcome,
                note=note,
                limit_minor=limit,
                annual_rate=rate,
            ),
        )
    except DomainError as e:
        return _detail(c, decision_id, status=e.http_status, error=f"[{e.code}] {e.message}", form=shown)
    done = "approved" if outcome == "approve" else "declined"
    return RedirectResponse(f"{PREFIX}/risk/decisions/{decision_id}?done={done}", status_code=303)
