"""Sign-in, the current caller, users, partner API keys, maker-checker changes and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dipper.access import commands
from dipper.access import queries as access
from dipper.access.queries import Permission as P
from dipper.entrypoints.http.deps import SESSION_COOKIE, ContainerDep, Ctx, PrincipalDep, allow
from dipper.kernel.errors import PermissionDenied

auth_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(tags=["access"])

RoleName = Literal[
    "admin",
    "product_manager",
    "risk_analyst",
    "operations",
    "collector",
    "abs_analyst",
    "auditor",
    "read_only",
]


class LoginIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"tenant": "demo", "username": "admin", "password": "dipper-demo-2026"}]
        }
    )
    tenant: str = Field(min_length=1, max_length=32, description="The bank's code")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    tenant_id: str
    user_id: str


class MeOut(BaseModel):
    tenant_id: str
    tenant_code: str
    tenant_name: str
    actor_kind: str
    actor_id: str
    name: str
    roles: list[str]
    permissions: list[str]


@auth_router.post("/login", response_model=SessionOut)
def login(body: LoginIn, container: ContainerDep, response: Response) -> SessionOut:
    issued = container.handle(
        commands.Login(tenant_id=body.tenant, username=body.username, password=body.password),
        action="POST /api/v1/auth/login",
        tenant_id=None,  # ``tenant_id`` of Login carries the bank code; the session is scoped after sign-in
    )
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        httponly=True,
        samesite="lax",
        secure=container.settings.session_cookie_secure,
        max_age=container.settings.session_ttl_minutes * 60,
    )
    return SessionOut(token=issued.token, tenant_id=issued.tenant_id, user_id=issued.user_id)


@auth_router.post("/logout", status_code=204)
def logout(request: Request, ctx: Annotated[Ctx, Depends(allow())]) -> Response:
    """End the caller's staff session (an API key is revoked instead, under /api-keys)."""
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE, "")
    if token.startswith("dps_"):
        ctx.handle(commands.Logout(tenant_id=ctx.tenant_id, token=token))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@auth_router.get("/me", response_model=MeOut)
def me(principal: PrincipalDep) -> MeOut:
    return MeOut(
        tenant_id=principal.tenant_id,
        tenant_code=principal.tenant_code,
        tenant_name=principal.tenant_name,
        actor_kind=principal.actor.kind,
        actor_id=principal.actor.id,
        name=principal.actor.name,
        roles=list(principal.roles),
        permissions=sorted(principal.permissions),
    )


class TenantOut(BaseModel):
    id: str
    code: str
    name: str
    status: str
    settings: dict[str, Any]
    created_at: datetime


@router.get("/tenant", response_model=TenantOut)
def get_tenant(ctx: Annotated[Ctx, Depends(allow(P.TENANT_READ))]) -> Any:
    return access.get_tenant(ctx.uow())


class UserIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "li.na",
                    "display_name": "李娜",
                    "password": "Str0ng-pass!",
                    "roles": ["operations"],
                }
            ]
        }
    )
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field(default="", max_length=200)
    password: str = Field(min_length=10, max_length=256)
    roles: list[RoleName] = Field(min_length=1)


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]
    status: str
    created_at: datetime


class UserStatusIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "disabled"}]})
    status: Literal["active", "disabled"]


@router.get("/users", response_model=list[UserOut])
def list_users(ctx: Annotated[Ctx, Depends(allow(P.USERS_READ))]) -> Any:
    return access.list_users(ctx.uow())


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, ctx: Annotated[Ctx, Depends(allow(P.USERS_MANAGE))]) -> Any:
    user_id = ctx.handle(
        commands.CreateUser(
            tenant_id=ctx.tenant_id,
            username=body.username,
            display_name=body.display_name,
            password=body.password,
            roles=tuple(body.roles),
        )
    )
    return access.get_user(ctx.uow(), user_id)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: str, ctx: Annotated[Ctx, Depends(allow(P.USERS_READ))]) -> Any:
    return access.get_user(ctx.uow(), user_id)


@router.put("/users/{user_id}/status", response_model=UserOut)
def set_user_status(
    user_id: str, body: UserStatusIn, ctx: Annotated[Ctx, Depends(allow(P.USERS_MANAGE))]
) -> Any:
    ctx.handle(commands.SetUserStatus(tenant_id=ctx.tenant_id, user_id=user_id, status=body.status))
    return access.get_user(ctx.uow(), user_id)


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "edu-partner", "permissions": ["customers.read"]}]}
    )
    name: str = Field(min_length=1, max_length=200)
    permissions: list[str] = Field(min_length=1, max_length=64)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    permissions: list[str]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class IssuedApiKeyOut(ApiKeyOut):
    secret: str = Field(description="Shown once; only a hash is stored")


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(ctx: Annotated[Ctx, Depends(allow(P.API_KEYS_MANAGE))]) -> Any:
    return access.list_api_keys(ctx.uow())


@router.post("/api-keys", response_model=IssuedApiKeyOut, status_code=201)
def issue_api_key(body: ApiKeyIn, ctx: Annotated[Ctx, Depends(allow(P.API_KEYS_MANAGE))]) -> Any:
    if ctx.principal.actor.kind != "user":
        raise PermissionDenied("only staff users issue API keys", code="permission_denied")
    issued = ctx.handle(
        commands.IssueApiKey(tenant_id=ctx.tenant_id, name=body.name, permissions=tuple(body.permissions))
    )
    return {**access.get_api_key(ctx.uow(), issued.api_key_id), "secret": issued.secret}


@router.get("/api-keys/{api_key_id}", response_model=ApiKeyOut)
def get_api_key(api_key_id: str, ctx: Annotated[Ctx, Depends(allow(P.API_KEYS_MANAGE))]) -> Any:
    return access.get_api_key(ctx.uow(), api_key_id)


@router.delete("/api-keys/{api_key_id}", response_model=ApiKeyOut)
def revoke_api_key(
    api_key_id: str, request: Request, ctx: Annotated[Ctx, Depends(allow(P.API_KEYS_MANAGE))]
) -> Any:
    ctx.handle(commands.RevokeApiKey(tenant_id=ctx.tenant_id, api_key_id=api_key_id))
    request.app.state.api_keys.clear()  # no request after this one gets in with the key
    return access.get_api_key(ctx.uow(), api_key_id)


class ChangeIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "tenant.settings",
                    "target": "tenant",
                    "summary": "Lower the APR ceiling",
                    "payload": {"apr_ceiling": "0.18"},
                }
            ]
        }
    )
    kind: str = Field(min_length=1, max_length=64)
    target: str = Field(default="", max_length=200)
    summary: str = Field(default="", max_length=500)
    payload: dict[str, Any]


class DecisionIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "checked against the board minutes"}]})
    note: str = Field(default="", max_length=500)


class ChangeOut(BaseModel):
    id: str
    kind: str
    target: str
    summary: str
    payload: dict[str, Any]
    status: str
    maker_id: str
    checker_id: str | None
    created_at: datetime
    decided_at: datetime | None
    decision_note: str


@router.get("/changes", response_model=list[ChangeOut])
def list_changes(
    ctx: Annotated[Ctx, Depends(allow(P.CHANGES_READ))],
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = None,
) -> Any:
    return access.list_changes(ctx.uow(), status)


@router.post("/changes", response_model=ChangeOut, status_code=201)
def propose_change(body: ChangeIn, ctx: Annotated[Ctx, Depends(allow(P.CHANGES_READ))]) -> Any:
    change_id = ctx.handle(
        commands.ProposeChange(
            tenant_id=ctx.tenant_id,
            kind=body.kind,
            target=body.target,
            summary=body.summary,
            payload=body.payload,
        )
    )
    return access.get_change(ctx.uow(), change_id)


@router.get("/changes/{change_id}", response_model=ChangeOut)
def get_change(change_id: str, ctx: Annotated[Ctx, Depends(allow(P.CHANGES_READ))]) -> Any:
    return access.get_change(ctx.uow(), change_id)


@router.post("/changes/{change_id}/approve", response_model=ChangeOut)
def approve_change(
    change_id: str, body: DecisionIn, ctx: Annotated[Ctx, Depends(allow(P.CHANGES_READ))]
) -> Any:
    ctx.handle(
        commands.DecideChange(tenant_id=ctx.tenant_id, change_id=change_id, approve=True, note=body.note)
    )
    return access.get_change(ctx.uow(), change_id)


@router.post("/changes/{change_id}/reject", response_model=ChangeOut)
def reject_change(
    change_id: str, body: DecisionIn, ctx: Annotated[Ctx, Depends(allow(P.CHANGES_READ))]
) -> Any:
    ctx.handle(
        commands.DecideChange(tenant_id=ctx.tenant_id, change_id=change_id, approve=False, note=body.note)
    )
    return access.get_change(ctx.uow(), change_id)


class AuditEntryOut(BaseModel):
    id: str
    occurred_at: datetime
    actor_kind: str
    actor_id: str
    request_id: str | None
    action: str
    entity_type: str
    entity_id: str
    operation: str
    changed_fields: list[str]
    before_digest: str | None
    after_digest: str | None


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    total: int


@router.get("/audit", response_model=AuditPageOut)
def audit_log(
    ctx: Annotated[Ctx, Depends(allow(P.AUDIT_READ))],
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    page = access.audit_log(
        ctx.uow(), entity_type=entity_type, entity_id=entity_id, actor_id=actor_id, limit=limit, offset=offset
    )
    return {"entries": page.entries, "total": page.total}
