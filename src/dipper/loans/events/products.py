"""Events of loan products. Dates travel as ISO 8601 strings (the outbox is plain JSON)."""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event

__all__ = ["ProductPublished", "ProductRetired"]


@dataclass(frozen=True, kw_only=True)
class ProductPublished(Event):
    """A checker approved a version: offers from ``effective_from`` use it; the one before is superseded."""

    product_id: str
    product_code: str
    version_id: str
    version_no: int
    effective_from: str
    terms_digest: str
    superseded_version_no: int | None = None


@dataclass(frozen=True, kw_only=True)
class ProductRetired(Event):
    """No new offers from ``retired_on``; loans already signed keep their version."""

    product_id: str
    product_code: str
    retired_on: str
