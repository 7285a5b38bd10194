"""Access rules: which role may do what, and the four-eyes rule of maker-checker.

Permissions are ``<module>.<action>`` strings. Roles are the bank's job titles;
each maps to a fixed set of permissions. Modules added later register their
permissions here so that one table answers "who may do this?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dipper.kernel.errors import PermissionDenied, ValidationFailed


class Permission(StrEnum):
    TENANT_READ = "tenant.read"
    TENANT_CHANGE = "tenant.change"
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    AUDIT_READ = "audit.read"
    CHANGES_READ = "changes.read"
    CHANGES_APPROVE = "changes.approve"
    LEDGER_READ = "ledger.read"
    LEDGER_POST = "ledger.post"
    LEDGER_REVERSE = "ledger.reverse"
    LEDGER_MANAGE_ACCOUNTS = "ledger.manage_accounts"
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_WRITE = "customers.write"
    PRODUCTS_READ = "products.read"
    PRODUCTS_CHANGE = "products.change"
    PRODUCTS_APPROVE = "products.approve"
    LOANS_READ = "loans.read"
    LOANS_SERVICE = "loans.service"
    RISK_READ = "risk.read"
    RISK_CHANGE = "risk.change"
    RISK_APPROVE = "risk.approve"
    COLLECTIONS_READ = "collections.read"
    COLLECTIONS_WORK = "collections.work"
    SECURITIZATION_READ = "securitization.read"
    SECURITIZATION_WORK = "securitization.work"
    MARKETING_READ = "marketing.read"
    MARKETING_CHANGE = "marketing.change"
    PLATFORM_READ = "platform.read"
    PLATFORM_APPLY = "platform.apply"


class Role(StrEnum):
    ADMIN = "admin"
    PRODUCT_MANAGER = "product_manager"
    RISK_ANALYST = "risk_analyst"
    OPERATIONS = "operations"
    COLLECTOR = "collector"
    ABS_ANALYST = "abs_analyst"
    AUDITOR = "auditor"
    READ_ONLY = "read_only"


_P = Permission
_READS = frozenset(p for p in Permission if p.value.endswith(".read"))

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.PRODUCT_MANAGER: _READS - {_P.AUDIT_READ}
    | {_P.PRODUCTS_CHANGE, _P.PRODUCTS_APPROVE, _P.CHANGES_APPROVE, _P.MARKETING_CHANGE},
    Role.RISK_ANALYST: _READS - {_P.AUDIT_READ} | {_P.RISK_CHANGE, _P.RISK_APPROVE, _P.CHANGES_APPROVE},
    Role.OPERATIONS: _READS - {_P.AUDIT_READ}
    | {_P.LEDGER_POST, _P.LEDGER_REVERSE, _P.CUSTOMERS_WRITE, _P.LOANS_SERVICE, _P.PLATFORM_APPLY},
    Role.COLLECTOR: frozenset(
        {_P.TENANT_READ, _P.CUSTOMERS_READ, _P.LOANS_READ, _P.COLLECTIONS_READ, _P.COLLECTIONS_WORK}
    ),
    Role.ABS_ANALYST: frozenset(
        {_P.TENANT_READ, _P.LEDGER_READ, _P.LOANS_READ, _P.SECURITIZATION_READ, _P.SECURITIZATION_WORK}
    ),
    Role.AUDITOR: _READS,
    Role.READ_ONLY: _READS - {_P.AUDIT_READ, _P.USERS_READ},
}


def permissions_for(roles: list[str] | tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for name in roles:
        try:
            granted |= {p.value for p in ROLE_PERMISSIONS[Role(name)]}
        except ValueError:
            raise ValidationFailed(f"unknown role {name!r}", code="unknown_role") from None
    return frozenset(granted)


def check_permissions(requested: list[str]) -> list[str]:
    known = {p.value for p in Permission}
    unknown = sorted(set(requested) - known)
    if unknown:
        raise ValidationFailed("unknown permissions", code="unknown_permission", details={"unknown": unknown})
    return sorted(set(requested))


USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
TENANT_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
MIN_PASSWORD_LENGTH = 10
#: After this many consecutive wrong passwords a user is locked for LOCKOUT.
MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise ValidationFailed(
            "username: 2-64 lower-case letters, digits, '.', '_' or '-'", code="invalid_username"
        )
    return username


def check_tenant_code(code: str) -> str:
    if not TENANT_CODE.match(code):
        raise ValidationFailed(
            "tenant code: 2-32 lower-case letters, digits or '-'", code="invalid_tenant_code"
        )
    return code


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", code="weak_password"
        )
    if password.isdigit() or password.isalpha():
        raise ValidationFailed("password must mix letters and digits or symbols", code="weak_password")
    return password


@dataclass(frozen=True)
class ChangeKind:
    """A kind of change that needs a second person: who may approve it."""

    name: str
    approve_permission: str
    description: str = ""


def check_four_eyes(
    *, maker_id: str, checker_id: str, checker_permissions: frozenset[str], kind: ChangeKind
) -> None:
    """Maker-checker: the approver is another person holding the approval permission."""
    if maker_id == checker_id:
        raise PermissionDenied("a maker cannot approve or reject their own change", code="maker_cannot_check")
    if kind.approve_permission not in checker_permissions:
        raise PermissionDenied(
            f"approving {kind.name} needs {kind.approve_permission}", code="permission_denied"
        )
