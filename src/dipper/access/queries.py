"""Read side of the access module: who is calling, and lists for the console and API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from dipper.access.adapters import ApiKey, ChangeRequest, LoginSession, Tenant, User, token_hash
from dipper.access.domain import ROLE_PERMISSIONS, ChangeKind, Permission, Role, permissions_for
from dipper.access.handlers import CHANGE_KINDS, register_change_kind
from dipper.kernel.errors import NotFound, PermissionDenied, Unauthenticated
from dipper.kernel.uow import Actor
from dipper.persistence.audit import AuditEntry
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "ROLE_PERMISSIONS",
    "ChangeKind",
    "Permission",
    "Principal",
    "Role",
    "authenticate",
    "permissions_for",
    "register_change_kind",
]


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a staff user (session) or a partner (API key), always of one bank."""

    tenant_id: str
    tenant_code: str
    tenant_name: str
    actor: Actor
    permissions: frozenset[str]
    roles: tuple[str, ...] = ()

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(
                f"this needs the permission {permission}", details={"permission": permission}
            )

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def authenticate(uow: SqlAlchemyUnitOfWork, token: str) -> Principal:
    """Resolve a bearer token (session ``dps_…`` or partner key ``dpk_…``) to a principal."""
    now = uow.clock.now()  # the same clock that stamped the session's expiry at sign-in
    digest = token_hash(token)
    with uow:
        s = uow.session
        if token.startswith("dps_"):
            row = s.execute(
                select(LoginSession, User, Tenant)
                .join(User, User.id == LoginSession.user_id)
                .join(Tenant, Tenant.id == LoginSession.tenant_id)
                .where(LoginSession.token_hash == digest)
                .execution_options(skip_tenant_scope=True)
            ).first()
            if row is None:
                raise Unauthenticated("unknown or expired session", code="invalid_token")
            sess, user, tenant = row
            if sess.revoked_at is not None or sess.expires_at <= now or user.status != "active":
                raise Unauthenticated("unknown or expired session", code="invalid_token")
            if tenant.status != "active":
                raise Unauthenticated("this bank is suspended", code="tenant_suspended")
            return Principal(
                tenant_id=tenant.id,
                tenant_code=tenant.code,
                tenant_name=tenant.name,
                actor=Actor(kind="user", id=user.id, name=user.username),
                permissions=permissions_for(user.roles),
                roles=tuple(user.roles),
            )
        if token.startswith("dpk_"):
            key_row = s.execute(
                select(ApiKey, Tenant)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.key_hash == digest)
                .execution_options(skip_tenant_scope=True)
            ).first()
            if key_row is None or key_row[0].revoked_at is not None or key_row[1].status != "active":
                raise Unauthenticated("unknown or revoked API key", code="invalid_token")
            key, tenant = key_row
            return Principal(
                tenant_id=tenant.id,
                tenant_code=tenant.code,
                tenant_name=tenant.name,
                actor=Actor(kind="api_key", id=key.id, name=key.name),
                permissions=frozenset(key.permissions),
            )
    raise Unauthenticated("missing or malformed credentials", code="invalid_token")


def _user_view(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "roles": list(u.roles),
        "status": u.status,
        "created_at": u.created_at,
    }


def tenant_by_code(uow: SqlAlchemyUnitOfWork, code: str) -> dict[str, Any] | None:
    with uow:
        t = uow.session.scalar(select(Tenant).where(Tenant.code == code))
        return None if t is None else _tenant_view(t)


def _tenant_view(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "code": t.code,
        "name": t.name,
        "status": t.status,
        "settings": dict(t.settings),
        "created_at": t.created_at,
    }


def list_tenants(uow: SqlAlchemyUnitOfWork) -> list[dict[str, Any]]:
    """Every bank of the installation: for the operator (CLI), never exposed per bank over HTTP."""
    if uow.tenant_id is not None:
        raise PermissionDenied("listing banks is an installation-level read", code="permission_denied")
    with uow:
        return [_tenant_view(t) for t in uow.session.scalars(select(Tenant).order_by(Tenant.code))]


def get_tenant(uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    with uow:
        t = uow.session.scalar(select(Tenant).where(Tenant.id == uow.tenant_id))
        if t is None:
            raise NotFound("no such tenant", code="tenant_not_found")
        return _tenant_view(t)


def list_users(uow: SqlAlchemyUnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [_user_view(u) for u in uow.session.scalars(select(User).order_by(User.username))]


def get_user(uow: SqlAlchemyUnitOfWork, user_id: str) -> dict[str, Any]:
    with uow:
        u = uow.session.scalar(select(User).where(User.id == user_id))
        if u is None:
            raise NotFound("no such user", code="user_not_found")
        return _user_view(u)


def find_user_by_username(uow: SqlAlchemyUnitOfWork, username: str) -> dict[str, Any] | None:
    with uow:
        u = uow.session.scalar(select(User).where(User.username == username))
        return None if u is None else _user_view(u)


def _key_view(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "permissions": list(k.permissions),
        "created_by": k.created_by,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
    }


def list_api_keys(uow: SqlAlchemyUnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [_key_view(k) for k in uow.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))]


def get_api_key(uow: SqlAlchemyUnitOfWork, api_key_id: str) -> dict[str, Any]:
    with uow:
        k = uow.session.scalar(select(ApiKey).where(ApiKey.id == api_key_id))
        if k is None:
            raise NotFound("no such API key", code="api_key_not_found")
        return _key_view(k)


def _change_view(c: ChangeRequest) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "target": c.target,
        "summary": c.summary,
        "payload": dict(c.payload),
        "status": c.status,
        "maker_id": c.maker_id,
        "checker_id": c.checker_id,
        "created_at": c.created_at,
        "decided_at": c.decided_at,
        "decision_note": c.decision_note,
    }


def list_changes(
    uow: SqlAlchemyUnitOfWork, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    with uow:
        q = select(ChangeRequest).order_by(ChangeRequest.created_at.desc()).limit(limit)
        if status:
            q = q.where(ChangeRequest.status == status)
        return [_change_view(c) for c in uow.session.scalars(q)]


def get_change(uow: SqlAlchemyUnitOfWork, change_id: str) -> dict[str, Any]:
    with uow:
        c = uow.session.scalar(select(ChangeRequest).where(ChangeRequest.id == change_id))
        if c is None:
            raise NotFound("no such change request", code="change_not_found")
        return _change_view(c)


def change_kinds() -> list[dict[str, str]]:
    return [
        {"kind": k, "approve_permission": r.kind.approve_permission, "description": r.kind.description}
        for k, r in sorted(CHANGE_KINDS.items())
    ]


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]
    total: int


def audit_log(
    uow: SqlAlchemyUnitOfWork,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """Audit entries of this bank only (the audit table is filtered explicitly: it is not ``TenantScoped``
    because installation-level actions such as creating a bank have no tenant)."""
    with uow:
        q = select(AuditEntry).where(AuditEntry.tenant_id == uow.tenant_id)
        if entity_type:
            q = q.where(AuditEntry.entity_type == entity_type)
        if entity_id:
            q = q.where(AuditEntry.entity_id == entity_id)
        if actor_id:
            q = q.where(AuditEntry.actor_id == actor_id)
        if since:
            q = q.where(AuditEntry.occurred_at >= since)
        if until:
            q = q.where(AuditEntry.occurred_at < until)
        total = uow.session.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = uow.session.scalars(
            q.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
        )
        entries = [
            {
                "id": e.id,
                "occurred_at": e.occurred_at,
                "actor_kind": e.actor_kind,
                "actor_id": e.actor_id,
                "request_id": e.request_id,
                "action": e.action,
                "entity_type": e.entity_type,
                "entity_id": e.entity_id,
                "operation": e.operation,
                "changed_fields": list(e.changed_fields or []),
                "before_digest": e.before_digest,
                "after_digest": e.after_digest,
            }
            for e in rows
        ]
        return AuditPage(entries=entries, total=total)
