"""Commands of loan products: draft, edit, submit for approval, retire.

Publishing and retiring need a second person (maker-checker): ``SubmitProductVersion`` and
``RetireProduct`` do not change the product; they check it and answer the change request to
propose (an ``access.commands.ProposeChange``), which the caller sends. The product changes only
when a checker approves that request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dipper.kernel.messages import Command

__all__ = [
    "CreateProduct",
    "DraftProductVersion",
    "RetireProduct",
    "SubmitProductVersion",
    "UpdateDraftVersion",
]


@dataclass(frozen=True, kw_only=True)
class CreateProduct(Command):
    """A new product with version 1 as a draft holding ``terms`` (see ``queries.TERM_FIELDS``)."""

    code: str
    name: str
    name_en: str
    terms: dict[str, Any]
    scene: str = ""
    segment: str = ""


@dataclass(frozen=True, kw_only=True)
class DraftProductVersion(Command):
    """A new draft version. Without ``terms`` it starts as a copy of the latest version's terms."""

    product_id: str
    terms: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateDraftVersion(Command):
    """Replace a draft's terms (the whole document). Published versions refuse: ``version_not_editable``."""

    product_id: str
    version_no: int
    terms: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SubmitProductVersion(Command):
    """Ask for a draft to be published. Answers the ``ProposeChange`` of kind ``loans.product.publish``."""

    product_id: str
    version_no: int
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class RetireProduct(Command):
    """Ask for a product to be retired. Answers the ``ProposeChange`` of kind ``loans.product.retire``."""

    product_id: str
    reason: str = ""
