"""Console pages of the model registry and of decision strategies (模型库与策略).

- ``/console/risk/models``: the bank's models (status, AUC/KS, fingerprints); an upload form for a
  zipped model directory (``risk.change``).
- ``/console/risk/models/{id}``: one model: figures, manifest, files and the training report (served
  from the stored artifact, verified first), approve/reject for a checker, retire.
- ``/console/risk/strategies``: every version of every strategy, with the champion/challenger split.
- ``/console/risk/strategies/{id}``: the decision tables of a version as editable rows; saving them is
  a new version proposed for publishing; approve/reject for a checker; the champion/challenger form.

Approvals happen here, on the object's page (as for loan products), through access's
``DecideChange``: access enforces the four eyes (the maker never decides their own change).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from dipper.access import commands as access_commands
from dipper.access import queries as access
from dipper.access.queries import Permission
from dipper.entrypoints.console.pages import (
    CSRF_FIELD,
    MODULE_LINKS,
    PREFIX,
    Console,
    ConsoleDep,
    ModuleLink,
    PostedForm,
    _posted_csrf_ok,
    render,
    render_error,
    router,
    shorten,
)
from dipper.kernel.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from dipper.risk import commands as risk_commands
from dipper.risk import queries as registry

__all__ = ["rows_from_form"]

MODEL_KINDS = ("scorecard", "gbdt")
MODEL_STATUSES = ("pending", "approved", "rejected", "retired")
STRATEGY_STATUSES = ("draft", "pending", "published", "challenger", "rejected", "retired")
_NOTICES = {"registered", "approved", "rejected", "retired", "submitted", "split_submitted"}
_CELL = re.compile(r"^cell:([A-Za-z0-9_.\-]{1,64}):(\d{1,4}):([A-Za-z0-9_.\-]{1,64})$")
_MAX_UPLOAD = 64 * 1024 * 1024

MODULE_LINKS["risk"] = (
    *MODULE_LINKS.get("risk", ()),
    ModuleLink(
        "risk_registry.models.title",
        "risk_registry.models.summary",
        f"{PREFIX}/risk/models",
        Permission.RISK_READ,
    ),
    ModuleLink(
        "risk_registry.strategies.title",
        "risk_registry.strategies.summary",
        f"{PREFIX}/risk/strategies",
        Permission.RISK_READ,
    ),
)


def _page(c: Console, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        c.request,
        name,
        status=status,
        title_key=context.pop("title_key", "risk_registry.models.title"),
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


def _send(c: Console, command: Any) -> Any:
    """A registry command, and the change request it answers (the checker decides it)."""
    result = _handle(c, command)
    if isinstance(result, access_commands.ProposeChange):
        return _handle(c, result)
    return result


def _usernames(c: Console) -> dict[str, str]:
    if not c.principal.can(Permission.USERS_READ):
        return {}
    return {u["id"]: u["username"] for u in access.list_users(c.uow())}


def _pending(c: Console, targets: set[str], usernames: dict[str, str]) -> list[dict[str, Any]]:
    me = c.principal.actor.id
    return [
        {
            **ch,
            "maker": usernames.get(ch["maker_id"], shorten(ch["maker_id"])),
            "can_decide": c.principal.can(Permission.RISK_APPROVE) and ch["maker_id"] != me,
            "own": ch["maker_id"] == me,
        }
        for ch in registry.pending_registry_changes(c.uow())
        if ch["target"] in targets
    ]


def _notice(c: Console) -> str:
    done = c.request.query_params.get("done", "")
    return done if done in _NOTICES else ""


def _error_text(e: DomainError) -> str:
    return f"[{e.code}] {e.message}"


def _csrf_refused(c: Console, form: FormData) -> Response | None:
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    return None


# --------------------------------------------------------------------------- models


def _models_page(
    c: Console, *, status: int = 200, error: str = "", form: dict[str, str] | None = None
) -> Response:
    return _page(
        c,
        "risk_models.html",
        status=status,
        models=registry.list_models(c.uow()),
        can_register=c.principal.can(Permission.RISK_CHANGE),
        error=error,
        form=form or {},
        notice=_notice(c),
    )


@router.get("/risk/models")
def models_list(c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    return _models_page(c)


@router.post("/risk/models")
def models_register(c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.RISK_CHANGE)
    if (refused := _csrf_refused(c, form)) is not None:
        return refused
    name = str(form.get("name", "")).strip()[:64]
    note = str(form.get("note", "")).strip()[:500]
    upload = form.get("archive")
    shown = {"name": name, "note": note}
    if not isinstance(upload, UploadFile):
        return _models_page(c, status=422, error="[invalid_model_archive] no file", form=shown)
    data = upload.file.read(_MAX_UPLOAD + 1)
    try:
        change_id = _send(
            c,
            risk_commands.RegisterModel(tenant_id=c.principal.tenant_id, name=name, archive=data, note=note),
        )
    except (ValidationFailed, Conflict, NotFound, PermissionDenied) as e:
        return _models_page(c, status=e.http_status, error=_error_text(e), form=shown)
    model_id = access.get_change(c.uow(), change_id)["target"]
    return RedirectResponse(f"{PREFIX}/risk/models/{model_id}?done=registered", status_code=303)


def _model_page(c: Console, model_id: str, *, status: int = 200, error: str = "") -> Response:
    model = registry.get_model(c.uow(), model_id)
    usernames = _usernames(c)
    manifest = model["manifest"]
    validation = (model["metrics"].get("validation") or {}) if isinstance(model["metrics"], dict) else {}
    return _page(
        c,
        "risk_model_detail.html",
        status=status,
        title_key="risk_registry.models.title",
        model=model,
        validation=[(k, v) for k, v in validation.items() if isinstance(v, int | float | str)],
        training=manifest.get("training_data") or {},
        inputs=manifest.get("inputs") or [],
        libraries=manifest.get("libraries") or {},
        pending=_pending(c, {model_id}, usernames),
        maker=usernames.get(model["created_by"], shorten(model["created_by"])),
        checker=usernames.get(model["approved_by"] or "", shorten(model["approved_by"])),
        has_report="report/report.html" in model["files"],
        can_retire=c.principal.can(Permission.RISK_CHANGE) and model["status"] != "retired",
        error=error,
        notice=_notice(c),
    )


@router.get("/risk/models/{model_id}")
def model_detail(model_id: str, c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    return _model_page(c, model_id)


@router.get("/risk/models/{model_id}/files/{path:path}")
def model_file(model_id: str, path: str, c: ConsoleDep) -> Response:
    """A file of the stored model (the training report and its plots), verified against its hash."""
    c.require(Permission.RISK_READ)
    content = registry.model_file(c.uow(), model_id, path)
    suffix = path.rsplit(".", 1)[-1].lower()
    media = {
        "html": "text/html; charset=utf-8",
        "png": "image/png",
        "json": "application/json",
        "csv": "text/csv; charset=utf-8",
        "zip": "application/zip",
    }.get(suffix, "text/plain; charset=utf-8")
    return Response(
        content,
        media_type=media,
        headers={
            # The report is the trainer's HTML: it may show its own images and styles, never run a script.
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _decide(c: Console, form: FormData, change_id: str, decision: str, targets: set[str]) -> str | Response:
    """Approve or reject a registry change about one of ``targets``; the ``done`` notice, or a page."""
    c.require(Permission.RISK_APPROVE)
    if decision not in {"approve", "reject"}:
        return render_error(c.request, 404, "error.404.message")
    if (refused := _csrf_refused(c, form)) is not None:
        return refused
    change = access.get_change(c.uow(), change_id)
    if change["target"] not in targets or change["kind"] not in registry.REGISTRY_KINDS:
        return render_error(c.request, 404, "error.404.message")
    _handle(
        c,
        access_commands.DecideChange(
            tenant_id=c.principal.tenant_id,
            change_id=change_id,
            approve=decision == "approve",
            note=str(form.get("note", ""))[:500],
        ),
    )
    return "approved" if decision == "approve" else "rejected"


@router.post("/risk/models/{model_id}/changes/{change_id}/{decision}")
def model_decide(model_id: str, change_id: str, decision: str, c: ConsoleDep, form: PostedForm) -> Response:
    try:
        done = _decide(c, form, change_id, decision, {model_id})
    except (ValidationFailed, Conflict, PermissionDenied) as e:
        return _model_page(c, model_id, status=e.http_status, error=_error_text(e))
    if isinstance(done, Response):
        return done
    return RedirectResponse(f"{PREFIX}/risk/models/{model_id}?done={done}", status_code=303)


@router.post("/risk/models/{model_id}/retire")
def model_retire(model_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.RISK_CHANGE)
    if (refused := _csrf_refused(c, form)) is not None:
        return refused
    try:
        _handle(
            c,
            risk_commands.RetireModel(
                tenant_id=c.principal.tenant_id, model_id=model_id, reason=str(form.get("reason", ""))[:300]
            ),
        )
    except (ValidationFailed, Conflict) as e:
        return _model_page(c, model_id, status=e.http_status, error=_error_text(e))
    return RedirectResponse(f"{PREFIX}/risk/models/{model_id}?done=retired", status_code=303)


# --------------------------------------------------------------------------- strategies


@router.get("/risk/strategies")
def strategies_list(c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    versions = registry.list_strategies(c.uow())
    ids = sorted({v["strategy_id"] for v in versions})
    splits = {sid: registry.strategy_split(c.uow(), sid) for sid in ids}
    return _page(
        c,
        "risk_strategies.html",
        title_key="risk_registry.strategies.title",
        versions=versions,
        strategy_ids=ids,
        splits=splits,
    )


def rows_from_form(form: Any, tables: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """The editor's cells (``cell:<table>:<row>:<column>``) back into rows per table, in row order.

    A row marked ``delete:<table>:<row>`` is dropped, and so is a row whose cells are all empty
    (the blank row each table offers for adding one)."""
    columns = {t["id"]: {c["id"] for c in t["inputs"] + t["outputs"]} | {"_description"} for t in tables}
    found: dict[str, dict[int, dict[str, str]]] = {}
    for key in form:
        match = _CELL.match(str(key))
        if match is None:
            continue
        table, row, column = match.group(1), int(match.group(2)), match.group(3)
        if table not in columns or column not in columns[table]:
            raise ValidationFailed(
                f"unknown cell {key}",
                code="invalid_strategy_document",
                details={"table": table, "column": column},
            )
        value = form.get(key)
        found.setdefault(table, {}).setdefault(row, {})[column] = str(
            value if isinstance(value, str) else ""
        )[:1000]
    out: dict[str, list[dict[str, str]]] = {}
    for table, rows in found.items():
        kept = []
        for number in sorted(rows):
            cells = rows[number]
            if form.get(f"delete:{table}:{number}") or not any(v.strip() for v in cells.values()):
                continue
            rule_id = str(form.get(f"rowid:{table}:{number}", "") or "")[:64]
            kept.append({**cells, **({"_id": rule_id} if rule_id else {})})
        out[table] = kept
    return out


def _strategy_page(
    c: Console,
    strategy_id: str,
    version: int | None,
    *,
    status: int = 200,
    error: str = "",
    edited: dict[str, list[dict[str, str]]] | None = None,
) -> Response:
    view = registry.strategy_tables(c.uow(), strategy_id, version)
    versions = [v for v in registry.list_strategies(c.uow()) if v["strategy_id"] == strategy_id]
    split = (
        registry.strategy_split(c.uow(), strategy_id)
        if any(v["source"] == "registry" for v in versions)
        else None
    )
    usernames = _usernames(c)
    targets = {v["id"] for v in versions if v["id"]} | {s["id"] for s in (split or {}).get("pending", [])}
    tables = view["tables"]
    if edited is not None:  # show the analyst's rows again with the reason they were refused
        tables = [{**t, "rules": edited.get(t["id"], t["rules"])} for t in tables]
    can_change = c.principal.can(Permission.RISK_CHANGE)
    publish_pending = any(
        ch["kind"] == registry.STRATEGY_PUBLISH_KIND and ch["payload"].get("strategy_id") == strategy_id
        for ch in registry.pending_registry_changes(c.uow())
    )
    return _page(
        c,
        "risk_strategy_detail.html",
        status=status,
        title_key="risk_registry.strategies.title",
        view=view,
        tables=tables,
        versions=versions,
        split=split,
        pending=_pending(c, targets, usernames),
        challenger_choices=[
            v["version"]
            for v in versions
            if v["source"] == "registry" and v["status"] in ("draft", "challenger", "retired", "rejected")
        ],
        can_edit=can_change and not publish_pending,
        publish_pending=publish_pending,
        can_split=can_change and split is not None and split["champion_version"] is not None,
        error=error,
        notice=_notice(c),
    )


@router.get("/risk/strategies/{strategy_id}")
def strategy_detail(strategy_id: str, c: ConsoleDep, version: int | None = None) -> Response:
    c.require(Permission.RISK_READ)
    return _strategy_page(c, strategy_id, version)


@router.post("/risk/strategies/{strategy_id}/tables")
def strategy_save_tables(strategy_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    """The edited rows become a new version, proposed for publishing (a checker approves it)."""
    c.require(Permission.RISK_CHANGE)
    if (refused := _csrf_refused(c, form)) is not None:
        return refused
    base_text = str(form.get("base_version", "") or "")
    base = int(base_text) if base_text.isdigit() else None
    tables = registry.strategy_tables(c.uow(), strategy_id, base)["tables"]
    rows: dict[str, list[dict[str, str]]] | None = None
    try:
        rows = rows_from_form(form, tables)
        _send(
            c,
            risk_commands.EditStrategyTables(
                tenant_id=c.principal.tenant_id,
                strategy_id=strategy_id,
                base_version=base,
                tables=rows,
                note=str(form.get("note", ""))[:500],
            ),
        )
    except (ValidationFailed, Conflict, NotFound) as e:
        return _strategy_page(c, strategy_id, base, status=e.http_status, error=_error_text(e), edited=rows)
    return RedirectResponse(f"{PREFIX}/risk/strategies/{strategy_id}?done=submitted", status_code=303)


@router.post("/risk/strategies/{strategy_id}/changes/{change_id}/{decision}")
def strategy_decide(
    strategy_id: str, change_id: str, decision: str, c: ConsoleDep, form: PostedForm
) -> Response:
    versions = [v for v in registry.list_strategies(c.uow()) if v["strategy_id"] == strategy_id and v["id"]]
    split = registry.strategy_split(c.uow(), strategy_id) if versions else {"pending": []}
    targets = {v["id"] for v in versions} | {s["id"] for s in split["pending"]}
    try:
        done = _decide(c, form, change_id, decision, targets)
    except (ValidationFailed, Conflict, PermissionDenied) as e:
        return _strategy_page(c, strategy_id, None, status=e.http_status, error=_error_text(e))
    if isinstance(done, Response):
        return done
    return RedirectResponse(f"{PREFIX}/risk/strategies/{strategy_id}?done={done}", status_code=303)


@router.post("/risk/strategies/{strategy_id}/split")
def strategy_split(strategy_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.RISK_CHANGE)
    if (refused := _csrf_refused(c, form)) is not None:
        return refused
    version_text = str(form.get("challenger_version", "") or "")
    try:
        share = Decimal(str(form.get("share", "0") or "0").strip())
    except InvalidOperation:
        return _strategy_page(c, strategy_id, None, status=422, error="[invalid_split] share")
    percent_share = share / 100  # the form asks for a percentage
    try:
        _send(
            c,
            risk_commands.SetChallenger(
                tenant_id=c.principal.tenant_id,
                strategy_id=strategy_id,
                challenger_version=int(version_text) if version_text.isdigit() else None,
                share=percent_share,
                note=str(form.get("note", ""))[:500],
            ),
        )
    except (ValidationFailed, Conflict, NotFound) as e:
        return _strategy_page(c, strategy_id, None, status=e.http_status, error=_error_text(e))
    query = urlencode({"done": "split_submitted"})
    return RedirectResponse(f"{PREFIX}/risk/strategies/{strategy_id}?{query}", status_code=303)
