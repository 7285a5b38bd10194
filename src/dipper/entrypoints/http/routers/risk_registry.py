"""The model registry and decision strategies over HTTP, published through maker-checker.

- Models: ``POST /risk/models?name=...`` with a zip of a trained model directory as the body
  (``Content-Type: application/zip`` or ``application/octet-stream``; ``dipper risk register``
  makes it). The model is stored pending and a change request (kind ``risk.model.approve``) is
  opened; another person holding ``risk.approve`` decides it at
  ``/api/v1/changes/{change_id}/approve`` or ``/reject``. Only an approved model is ever used.
- Strategies: ``POST /risk/strategies`` stores a GoRules JDM document as the next version and asks
  for it to be published (kind ``risk.strategy.publish``); ``submit: false`` keeps a draft (for a
  challenger). ``GET``/``PUT /risk/strategies/{id}/tables`` read and replace the rows of the decision
  tables (the console's editor); a ``PUT`` is a new version, proposed for publishing.
- Champion/challenger: ``PUT /risk/strategies/{id}/split`` (kind ``risk.strategy.challenger``).

Bad documents answer 422 ``invalid_strategy_document`` (``details`` names the table, row and column
when a cell does not parse), ``unknown_model``, ``model_not_approved`` or ``model_kind_mismatch``;
bad uploads 422 ``invalid_model_archive`` or ``model_tampered``.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from dipper.access import queries as access
from dipper.access.queries import Permission
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.kernel.errors import ValidationFailed
from dipper.risk import commands
from dipper.risk import queries as registry

router = APIRouter(prefix="/risk", tags=["risk"])

Read = Annotated[Ctx, Depends(allow(Permission.RISK_READ))]
Change = Annotated[Ctx, Depends(allow(Permission.RISK_CHANGE))]
ModelId = Annotated[str, Path(min_length=1, max_length=64)]
StrategyId = Annotated[str, Path(min_length=1, max_length=64)]
VersionNo = Annotated[int, Path(ge=1, le=1_000_000)]


class ChangeRefOut(BaseModel):
    change_id: str = Field(description="Decide it at /api/v1/changes/{change_id}/approve or /reject")
    kind: str
    status: str
    target: str
    summary: str


class ModelOut(BaseModel):
    id: str
    name: str
    version: int
    kind: str
    role: str
    status: str = Field(description="pending, approved, rejected or retired")
    content_hash: str
    data_fingerprint: str = Field(description="sha256 of the training file")
    metrics_summary: dict[str, Any]
    artifact_size: int
    note: str
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    retired_at: datetime | None
    change_id: str | None
    change_status: str | None


class ModelDetailOut(ModelOut):
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    files: list[str] = Field(description="Read one at /risk/models/{id}/files/{path}")


class RegisteredOut(BaseModel):
    model: ModelOut
    change: ChangeRefOut


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=300)


class ModelRefOut(BaseModel):
    name: str
    version: int


class StrategyOut(BaseModel):
    id: str | None = Field(description="None for the packaged default")
    strategy_id: str
    version: int
    status: str = Field(description="draft, pending, published, challenger, rejected or retired")
    content_hash: str
    name_en: str
    name_zh: str
    models: dict[str, ModelRefOut | None]
    note: str
    source: str = Field(description="registry (this bank's version) or packaged (the built-in default)")
    created_by: str | None
    created_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    retired_at: datetime | None
    change_id: str | None
    change_status: str | None


class StrategyDetailOut(StrategyOut):
    document: dict[str, Any]


class StrategyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy_id: str = Field(min_length=1, max_length=64)
    document: dict[str, Any] = Field(
        description="A GoRules JDM document; its dipper.models block names the models it scores with: "
        '{"scorecard": {"name": "card", "version": 1}, "gbdt": {...}}'
    )
    note: str = Field(default="", max_length=500)
    submit: bool = Field(default=True, description="Propose publishing it now; false keeps a draft")


class VersionOut(BaseModel):
    strategy_id: str
    version: int
    status: str


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


class ColumnOut(BaseModel):
    id: str
    name: str
    field: str


class TableOut(BaseModel):
    id: str
    name: str
    hit_policy: str
    inputs: list[ColumnOut]
    outputs: list[ColumnOut]
    rules: list[dict[str, str]] = Field(description="Rows: column id -> cell text, plus _id and _description")


class TablesOut(BaseModel):
    strategy_id: str
    version: int
    status: str
    source: str
    content_hash: str
    models: dict[str, ModelRefOut | None]
    tables: list[TableOut]


class TablesIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "tables": {
                        "pricing": [
                            {"_id": "pricing-A", "pricing-grade": '"A"', "pricing-rate": "0.068"},
                            {"_id": "pricing-B", "pricing-grade": '"B"', "pricing-rate": "0.096"},
                        ]
                    },
                    "note": "cheaper grade A",
                }
            ]
        },
    )
    base_version: int | None = Field(default=None, ge=1, description="None: the published version")
    tables: dict[str, list[dict[str, str | None]]] = Field(
        description="Table id -> its new rows (every row, in order); tables not named keep theirs"
    )
    note: str = Field(default="", max_length=500)


class SplitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"challenger_version": 3, "share": "0.1"}]}
    )
    challenger_version: int | None = Field(default=None, ge=1, description="None ends the split")
    share: str = Field(
        min_length=1,
        max_length=12,
        description='The challenger\'s share, a decimal string from 0 to 1 ("0.1")',
    )
    note: str = Field(default="", max_length=500)


class SplitOut(BaseModel):
    id: str
    strategy_id: str
    challenger_version: int | None
    challenger_share: str
    status: str
    note: str
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None


class SplitStateOut(BaseModel):
    strategy_id: str
    champion_version: int | None
    active: SplitOut | None
    pending: list[SplitOut]


def _propose(ctx: Ctx, proposal: Any) -> dict[str, Any]:
    # The risk command checked everything and answered the change request; access records it.
    change_id = ctx.handle(proposal)
    change = access.get_change(ctx.uow(), change_id)
    return {**change, "change_id": change["id"]}


# -- models -------------------------------------------------------------------------------------------------


@router.get("/models", response_model=list[ModelOut])
def list_models(ctx: Read, name: Annotated[str | None, Query(max_length=64)] = None) -> Any:
    """The bank's models by name, newest version first."""
    return registry.list_models(ctx.uow(), name)


@router.post("/models", response_model=RegisteredOut, status_code=201)
def register_model(
    ctx: Change,
    archive: Annotated[
        bytes,
        Body(
            media_type="application/octet-stream",
            description="The model directory, zipped (manifest.json at the top); "
            "sent as application/zip or application/octet-stream",
        ),
    ],
    name: Annotated[str, Query(min_length=1, max_length=64)],
    note: Annotated[str, Query(max_length=500)] = "",
    role: Annotated[str, Query(max_length=32)] = "application",
) -> Any:
    """Register a trained model: verified against its manifest, stored pending, proposed for approval."""
    proposal = ctx.handle(
        commands.RegisterModel(tenant_id=ctx.tenant_id, name=name, archive=archive, note=note, role=role)
    )
    change = _propose(ctx, proposal)
    return {"model": registry.get_model(ctx.uow(), change["target"]), "change": change}


@router.get("/models/{model_id}", response_model=ModelDetailOut)
def get_model(model_id: ModelId, ctx: Read) -> Any:
    return registry.get_model(ctx.uow(), model_id)


@router.get("/models/{model_id}/files/{path:path}", response_class=Response)
def model_file(model_id: ModelId, path: str, ctx: Read) -> Response:
    """One file of the model (``report/report.html``, ``metrics.json``, ...), verified against the
    registered hash first; ``archive.zip`` is the whole model."""
    content = registry.model_file(ctx.uow(), model_id, path)
    media = "application/zip" if path == "archive.zip" else mimetypes.guess_type(path)[0] or "text/plain"
    if media.startswith("text/") or media == "application/json":
        media += "; charset=utf-8"
    # The report is the trainer's HTML: no scripts run from it.
    return Response(content, media_type=media, headers={"Content-Security-Policy": "script-src 'none'"})


@router.post("/models/{model_id}/retire", response_model=ModelOut)
def retire_model(model_id: ModelId, body: RetireIn, ctx: Change) -> Any:
    """Retire a model at once (409 ``model_in_use`` while a published or challenger version names it)."""
    ctx.handle(commands.RetireModel(tenant_id=ctx.tenant_id, model_id=model_id, reason=body.reason))
    return registry.get_model(ctx.uow(), model_id)


# -- strategies ---------------------------------------------------------------------------------------------


@router.get("/strategies", response_model=list[StrategyOut])
def list_strategies(ctx: Read) -> Any:
    """Every stored version, newest first per id, and the packaged default while none is published."""
    return registry.list_strategies(ctx.uow())


@router.post("/strategies", status_code=201, response_model=ChangeRefOut | VersionOut)
def propose_strategy(body: StrategyIn, ctx: Change) -> Any:
    """Store a document as the next version and propose publishing it (or keep a draft)."""
    if not body.submit:
        version = ctx.handle(
            commands.DraftStrategy(
                tenant_id=ctx.tenant_id, strategy_id=body.strategy_id, document=body.document, note=body.note
            )
        )
        return {"strategy_id": body.strategy_id, "version": version, "status": "draft"}
    proposal = ctx.handle(
        commands.ProposeStrategy(
            tenant_id=ctx.tenant_id, strategy_id=body.strategy_id, document=body.document, note=body.note
        )
    )
    return _propose(ctx, proposal)


@router.get("/strategies/{strategy_id}", response_model=StrategyDetailOut)
def get_strategy(strategy_id: StrategyId, ctx: Read) -> Any:
    """The published version (or the packaged default) with its document."""
    return registry.get_strategy(ctx.uow(), strategy_id)


@router.get("/strategies/{strategy_id}/versions/{version}", response_model=StrategyDetailOut)
def get_strategy_version(strategy_id: StrategyId, version: VersionNo, ctx: Read) -> Any:
    return registry.get_strategy(ctx.uow(), strategy_id, version)


@router.post(
    "/strategies/{strategy_id}/versions/{version}/submit", response_model=ChangeRefOut, status_code=201
)
def submit_strategy(strategy_id: StrategyId, version: VersionNo, body: SubmitIn, ctx: Change) -> Any:
    """Propose publishing a draft (or a challenger, or a retired version again)."""
    proposal = ctx.handle(
        commands.SubmitStrategy(
            tenant_id=ctx.tenant_id, strategy_id=strategy_id, version=version, note=body.note
        )
    )
    return _propose(ctx, proposal)


@router.get("/strategies/{strategy_id}/tables", response_model=TablesOut)
def get_tables(strategy_id: StrategyId, ctx: Read, version: Annotated[int | None, Query(ge=1)] = None) -> Any:
    """The decision tables of a version (default: the published one) as rows, for editing."""
    return registry.strategy_tables(ctx.uow(), strategy_id, version)


@router.put("/strategies/{strategy_id}/tables", response_model=ChangeRefOut, status_code=201)
def put_tables(strategy_id: StrategyId, body: TablesIn, ctx: Change) -> Any:
    """Replace the rows of some tables: a new version, proposed for publishing."""
    tables = {t: [{k: v or "" for k, v in row.items()} for row in rows] for t, rows in body.tables.items()}
    proposal = ctx.handle(
        commands.EditStrategyTables(
            tenant_id=ctx.tenant_id,
            strategy_id=strategy_id,
            base_version=body.base_version,
            tables=tables,
            note=body.note,
        )
    )
    return _propose(ctx, proposal)


@router.get("/strategies/{strategy_id}/split", response_model=SplitStateOut)
def get_split(strategy_id: StrategyId, ctx: Read) -> Any:
    """The champion version, the active champion/challenger split and any waiting for approval."""
    return registry.strategy_split(ctx.uow(), strategy_id)


@router.put("/strategies/{strategy_id}/split", response_model=ChangeRefOut, status_code=201)
def set_split(strategy_id: StrategyId, body: SplitIn, ctx: Change) -> Any:
    """Propose a challenger and its share (or end the split): applied once another person approves."""
    try:
        share = Decimal(body.share)
    except InvalidOperation:
        raise ValidationFailed("share must be a decimal string such as 0.1", code="invalid_split") from None
    proposal = ctx.handle(
        commands.SetChallenger(
            tenant_id=ctx.tenant_id,
            strategy_id=strategy_id,
            challenger_version=body.challenger_version,
            share=share,
            note=body.note,
        )
    )
    return _propose(ctx, proposal)
