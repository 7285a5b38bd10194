"""Handlers of the access module: one plain function per command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dipper.access import commands, domain, events
from dipper.access.adapters import (
    DUMMY_HASH,
    ApiKey,
    ChangeRequest,
    LoginSession,
    Tenant,
    User,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from dipper.persistence.base import utcnow
from dipper.persistence.uow import SqlAlchemyUnitOfWork

Applier = Callable[[dict[str, Any], str, SqlAlchemyUnitOfWork], None]


@dataclass(frozen=True)
class _RegisteredKind:
    kind: domain.ChangeKind
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    apply: Applier


CHANGE_KINDS: dict[str, _RegisteredKind] = {}


def register_change_kind(
    kind: domain.ChangeKind,
    *,
    validate: Callable[[dict[str, Any]], dict[str, Any]],
    apply: Applier,
) -> None:
    """Modules register what may be changed under four eyes, how to check it and how to apply it."""
    CHANGE_KINDS[kind.name] = _RegisteredKind(kind, validate, apply)


def create_tenant(cmd: commands.CreateTenant, uow: SqlAlchemyUnitOfWork) -> str:
    domain.check_tenant_code(cmd.code)
    if not cmd.name.strip():
        raise ValidationFailed("tenant name is required", code="invalid_tenant_name")
    with uow:
        if uow.session.scalar(select(Tenant.id).where(Tenant.code == cmd.code)):
            raise Conflict(f"tenant {cmd.code!r} exists", code="tenant_exists")
        settings = _validate_tenant_settings(cmd.settings) if cmd.settings else {}
        uow.session.add(Tenant(id=cmd.tenant_id, code=cmd.code, name=cmd.name.strip(), settings=settings))
        uow.emit(events.TenantCreated(tenant_id=cmd.tenant_id, code=cmd.code, name=cmd.name))
        uow.commit()
    return cmd.tenant_id


def create_user(cmd: commands.CreateUser, uow: SqlAlchemyUnitOfWork) -> str:
    domain.check_username(cmd.username)
    domain.check_password(cmd.password)
    if not cmd.roles:
        raise ValidationFailed("a user needs at least one role", code="invalid_roles")
    domain.permissions_for(cmd.roles)
    with uow:
        if uow.session.scalar(select(User.id).where(User.username == cmd.username)):
            raise Conflict(f"user {cmd.username!r} exists", code="user_exists")
        user = User(
            username=cmd.username,
            display_name=cmd.display_name.strip() or cmd.username,
            password_hash=hash_password(cmd.password),
            roles=sorted(set(cmd.roles)),
        )
        uow.session.add(user)
        try:
            uow.commit()
        except IntegrityError:
            raise Conflict(f"user {cmd.username!r} exists", code="user_exists") from None
        return user.id


def set_user_status(cmd: commands.SetUserStatus, uow: SqlAlchemyUnitOfWork) -> None:
    if cmd.status not in {"active", "disabled"}:
        raise ValidationFailed("status is active or disabled", code="invalid_status")
    with uow:
        user = uow.session.scalar(select(User).where(User.id == cmd.user_id))
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        if user.id == uow.actor.id and cmd.status == "disabled":
            raise Conflict("you cannot disable yourself", code="cannot_disable_self")
        user.status = cmd.status
        if cmd.status == "disabled":
            for sess in uow.session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)):
                sess.revoked_at = sess.revoked_at or utcnow()
        uow.commit()


@dataclass(frozen=True)
class IssuedSession:
    token: str
    user_id: str
    tenant_id: str


def login(
    cmd: commands.Login, uow: SqlAlchemyUnitOfWork, ttl: timedelta = timedelta(hours=8)
) -> IssuedSession:
    now = uow.clock.now()
    with uow:
        tenant = uow.session.scalar(select(Tenant).where(Tenant.code == cmd.tenant_id))
        user = None
        if tenant is not None and tenant.status == "active":
            uow.session.info["tenant_id"] = tenant.id
            user = uow.session.scalar(select(User).where(User.username == cmd.username))
        ok = verify_password(user.password_hash if user else DUMMY_HASH, cmd.password)
        if user is not None and user.locked_until is not None and user.locked_until > now:
            raise Unauthenticated(
                "too many wrong passwords: this user is locked for a while; an administrator can help",
                code="account_locked",
            )
        if user is None or tenant is None or not ok or user.status != "active":
            if user is not None and not ok:
                # Count the failure and commit it even though the request fails: that is the point.
                user.failed_logins += 1
                if user.failed_logins >= domain.MAX_FAILED_LOGINS:
                    user.locked_until = now + timedelta(minutes=domain.LOCKOUT_MINUTES)
                    user.failed_logins = 0
                uow.commit()
            raise Unauthenticated("wrong bank, username or password", code="invalid_credentials")
        if user.failed_logins or user.locked_until:
            user.failed_logins, user.locked_until = 0, None
        token = new_token("dps")
        uow.session.add(
            LoginSession(
                tenant_id=tenant.id, user_id=user.id, token_hash=token_hash(token), expires_at=now + ttl
            )
        )
        uow.commit()
        return IssuedSession(token=token, user_id=user.id, tenant_id=tenant.id)


def logout(cmd: commands.Logout, uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        sess = uow.session.scalar(
            select(LoginSession).where(LoginSession.token_hash == token_hash(cmd.token))
        )
        if sess is not None and sess.revoked_at is None:
            sess.revoked_at = utcnow()
            uow.commit()


@dataclass(frozen=True)
class IssuedKey:
    api_key_id: str
    secret: str
    prefix: str


def issue_api_key(cmd: commands.IssueApiKey, uow: SqlAlchemyUnitOfWork) -> IssuedKey:
    if not cmd.name.strip():
        raise ValidationFailed("an API key needs a name", code="invalid_name")
    perms = domain.check_permissions(list(cmd.permissions))
    if not perms:
        raise ValidationFailed("an API key needs at least one permission", code="invalid_permissions")
    secret = new_token("dpk")
    with uow:
        key = ApiKey(
            name=cmd.name.strip(),
            prefix=secret[:12],
            key_hash=token_hash(secret),
            permissions=perms,
            created_by=uow.actor.id,
        )
        uow.session.add(key)
        uow.commit()
        return IssuedKey(api_key_id=key.id, secret=secret, prefix=key.prefix)


def revoke_api_key(cmd: commands.RevokeApiKey, uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        key = uow.session.scalar(select(ApiKey).where(ApiKey.id == cmd.api_key_id))
        if key is None:
            raise NotFound("no such API key", code="api_key_not_found")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            uow.commit()


def propose_change(cmd: commands.ProposeChange, uow: SqlAlchemyUnitOfWork) -> str:
    registered = CHANGE_KINDS.get(cmd.kind)
    if registered is None:
        raise ValidationFailed(
            f"unknown change kind {cmd.kind!r}",
            code="unknown_change_kind",
            details={"known": sorted(CHANGE_KINDS)},
        )
    payload = registered.validate(cmd.payload)
    with uow:
        change = ChangeRequest(
            kind=cmd.kind,
            target=cmd.target,
            summary=cmd.summary[:500],
            payload=payload,
            maker_id=uow.actor.id,
        )
        uow.session.add(change)
        uow.commit()
        return change.id


def decide_change(cmd: commands.DecideChange, uow: SqlAlchemyUnitOfWork) -> str:
    if uow.actor.kind != "user":
        raise PermissionDenied("only staff users approve changes", code="checker_must_be_user")
    with uow:
        change = uow.session.scalar(select(ChangeRequest).where(ChangeRequest.id == cmd.change_id))
        if change is None:
            raise NotFound("no such change request", code="change_not_found")
        if change.status != "pending":
            raise Conflict(f"change is already {change.status}", code="change_already_decided")
        registered = CHANGE_KINDS.get(change.kind)
        if registered is None:
            raise Conflict(f"change kind {change.kind!r} is no longer known", code="unknown_change_kind")
        checker = uow.session.scalar(select(User).where(User.id == uow.actor.id))
        if checker is None or checker.status != "active":
            raise PermissionDenied("checker is not an active user", code="permission_denied")
        domain.check_four_eyes(
            maker_id=change.maker_id,
            checker_id=checker.id,
            checker_permissions=domain.permissions_for(checker.roles),
            kind=registered.kind,
        )
        change.checker_id = checker.id
        change.decided_at = utcnow()
        change.decision_note = cmd.note[:500]
        if cmd.approve:
            registered.apply(change.payload, change.target, uow)
            change.status = "approved"
            uow.emit(
                events.ChangeApproved(
                    tenant_id=change.tenant_id,
                    change_id=change.id,
                    kind=change.kind,
                    target=change.target,
                    payload=change.payload,
                    maker_id=change.maker_id,
                    checker_id=checker.id,
                )
            )
        else:
            change.status = "rejected"
        uow.commit()
        return change.status


# -- the built-in change kind: the bank's own settings ---------------------------------------------

TENANT_SETTINGS = domain.ChangeKind(
    name="tenant.settings",
    approve_permission=domain.Permission.TENANT_CHANGE.value,
    description="Bank-wide settings such as the APR ceiling and display name",
)


def _validate_tenant_settings(payload: dict[str, Any]) -> dict[str, Any]:
    allowed = {"apr_ceiling", "display_name", "display_name_en"}
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ValidationFailed("unknown settings", code="unknown_setting", details={"unknown": unknown})
    clean: dict[str, Any] = {}
    if "apr_ceiling" in payload:
        try:
            ceiling = Decimal(str(payload["apr_ceiling"]))
        except (InvalidOperation, ValueError):
            raise ValidationFailed("apr_ceiling must be a decimal", code="invalid_apr_ceiling") from None
        if not Decimal("0") < ceiling <= Decimal("0.36"):
            raise ValidationFailed("apr_ceiling must be in (0, 0.36]", code="invalid_apr_ceiling")
        clean["apr_ceiling"] = str(ceiling)
    for name in ("display_name", "display_name_en"):
        if name in payload:
            value = str(payload[name]).strip()
            if not value or len(value) > 200:
                raise ValidationFailed(f"{name} must be 1-200 characters", code="invalid_display_name")
            clean[name] = value
    if not clean:
        raise ValidationFailed("no settings to change", code="empty_change")
    return clean


def _apply_tenant_settings(payload: dict[str, Any], target: str, uow: SqlAlchemyUnitOfWork) -> None:
    tenant = uow.session.get(Tenant, uow.tenant_id)
    if tenant is None:
        raise NotFound("no such tenant", code="tenant_not_found")
    tenant.settings = {**tenant.settings, **payload}


register_change_kind(TENANT_SETTINGS, validate=_validate_tenant_settings, apply=_apply_tenant_settings)

COMMAND_HANDLERS: dict[type, Callable[..., Any]] = {
    commands.CreateTenant: create_tenant,
    commands.CreateUser: create_user,
    commands.SetUserStatus: set_user_status,
    commands.Login: login,
    commands.Logout: logout,
    commands.IssueApiKey: issue_api_key,
    commands.RevokeApiKey: revoke_api_key,
    commands.ProposeChange: propose_change,
    commands.DecideChange: decide_change,
}
