"""Commands of the access module (its public write surface)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dipper.kernel.messages import Command


@dataclass(frozen=True, kw_only=True)
class CreateTenant(Command):
    """``tenant_id`` is the new bank's id, chosen by the caller so a retry creates nothing twice."""

    code: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CreateUser(Command):
    username: str
    display_name: str
    password: str
    roles: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SetUserStatus(Command):
    user_id: str
    status: str  # active | disabled


@dataclass(frozen=True, kw_only=True)
class Login(Command):
    """``tenant_id`` here is the bank's *code* as typed on the login form."""

    username: str
    password: str


@dataclass(frozen=True, kw_only=True)
class Logout(Command):
    token: str


@dataclass(frozen=True, kw_only=True)
class IssueApiKey(Command):
    name: str
    permissions: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class RevokeApiKey(Command):
    api_key_id: str


@dataclass(frozen=True, kw_only=True)
class ProposeChange(Command):
    kind: str
    target: str
    summary: str
    payload: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class DecideChange(Command):
    change_id: str
    approve: bool
    note: str = ""
