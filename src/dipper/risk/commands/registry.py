"""Commands of the model registry and of strategy publishing.

Each command that changes what the decision path uses answers an access ``ProposeChange``: the
entry point sends it, and the change only happens when another person holding ``risk.approve``
approves the request (maker-checker). ``RetireModel`` and ``DraftStrategy`` change nothing the
decision path uses and run at once (audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from dipper.kernel.messages import Command

__all__ = [
    "DraftStrategy",
    "EditStrategyTables",
    "ProposeStrategy",
    "RegisterModel",
    "RetireModel",
    "SetChallenger",
    "SubmitStrategy",
    "pack_model_directory",
]


@dataclass(frozen=True, kw_only=True)
class RegisterModel(Command):
    """Register a trained model directory, zipped (``pack_model_directory``): verified against its
    manifest, stored as the next version of ``name`` with status pending, and proposed for approval.
    Answers the ``ProposeChange`` (kind ``risk.model.approve``) to send."""

    name: str
    archive: bytes
    note: str = ""
    role: str = "application"


@dataclass(frozen=True, kw_only=True)
class RetireModel(Command):
    """Retire a model (no strategy may use it again). Refused while a published or challenger
    strategy, or one waiting for approval, names it."""

    model_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class DraftStrategy(Command):
    """Store a document as the next version of ``strategy_id``, as a draft (for a challenger, or to
    submit later). Answers the version number."""

    strategy_id: str
    document: dict[str, Any]
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class ProposeStrategy(Command):
    """Store a document as the next version of ``strategy_id`` and propose publishing it (it becomes
    the champion once approved). Answers the ``ProposeChange`` (kind ``risk.strategy.publish``)."""

    strategy_id: str
    document: dict[str, Any]
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class EditStrategyTables(Command):
    """The console's editor: a new version of ``strategy_id`` made from ``base_version`` (None: the
    published one, or the packaged default) with the rows of some decision tables replaced
    (``tables``: table id -> rows, each row a mapping of column id -> cell text plus optional ``_id``
    and ``_description``), proposed for publishing. Answers the ``ProposeChange``."""

    strategy_id: str
    base_version: int | None
    tables: dict[str, list[dict[str, Any]]]
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class SubmitStrategy(Command):
    """Propose publishing an existing draft or challenger version. Answers the ``ProposeChange``."""

    strategy_id: str
    version: int
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class SetChallenger(Command):
    """Propose a champion/challenger split of ``strategy_id``: ``challenger_version`` (a draft,
    retired or challenger version of the same strategy) takes ``share`` (0-1, at most 4 places) of
    the applications. ``challenger_version=None`` ends the split. Answers the ``ProposeChange``
    (kind ``risk.strategy.challenger``)."""

    strategy_id: str
    challenger_version: int | None
    share: Decimal
    note: str = ""


def pack_model_directory(directory: Path) -> bytes:
    """A trained model directory as the deterministic zip ``RegisterModel`` takes (verified first:
    ``model_tampered`` when a file no longer matches the manifest, ``model_not_found`` without one)."""
    from dipper.risk.adapters.model_archive import pack_directory

    return pack_directory(directory)
