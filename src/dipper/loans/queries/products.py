"""Read side of loan products: lists for the console and API, and the version an offer must use.

Views are plain dicts (JSON-ready: the terms document keeps rates as strings). Higher modules
that need the typed terms call :func:`product_terms` on a version view.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import or_, select

from dipper.access import queries as access
from dipper.kernel.calendar import RollConvention
from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.kernel.rounding import RoundingRule
from dipper.loans.adapters.products import Product, ProductVersion
from dipper.loans.domain.product import (
    DEFAULT_ALLOCATION_ORDER,
    MAX_AMOUNT_MINOR,
    MAX_GRACE_DAYS,
    MAX_PENALTY_UPLIFT,
    MAX_TERM_MONTHS,
    MIN_PENALTY_UPLIFT,
    PUBLISH_KIND,
    REQUIRED_TERMS,
    RETIRE_KIND,
    TERM_FIELDS,
    DailyInterestRule,
    FeeKind,
    PeriodicFeeKind,
    PrepaymentFeeKind,
    ProductStatus,
    ProductTerms,
    VersionStatus,
    default_terms,
    parse_terms,
)
from dipper.loans.domain.terms import AllocationPart, PrepaymentMode, RepaymentMethod
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "DEFAULT_ALLOCATION_ORDER",
    "MAX_AMOUNT_MINOR",
    "MAX_GRACE_DAYS",
    "MAX_PENALTY_UPLIFT",
    "MAX_TERM_MONTHS",
    "MIN_PENALTY_UPLIFT",
    "PUBLISH_KIND",
    "REQUIRED_TERMS",
    "RETIRE_KIND",
    "TERM_FIELDS",
    "AllocationPart",
    "DailyInterestRule",
    "DayCount",
    "FeeKind",
    "PeriodicFeeKind",
    "PrepaymentFeeKind",
    "PrepaymentMode",
    "ProductStatus",
    "ProductTerms",
    "RepaymentMethod",
    "RollConvention",
    "RoundingRule",
    "VersionStatus",
    "default_terms",
    "get_product",
    "get_version",
    "list_products",
    "pending_product_changes",
    "product_terms",
    "published_version",
    "terms_violations",
]

#: Pending change requests are few; this only bounds the read.
_PENDING_LIMIT = 10_000


def _version_view(v: ProductVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "product_id": v.product_id,
        "version_no": v.version_no,
        "status": v.status,
        "terms": dict(v.terms),
        "terms_digest": v.terms_digest,
        "created_by": v.created_by,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
        "published_at": v.published_at,
        "published_by": v.published_by,
        "effective_from": v.effective_from,
        "effective_to": v.effective_to,
        "superseded_at": v.superseded_at,
    }


def _product_view(p: Product, versions: list[tuple[int, str]]) -> dict[str, Any]:
    """``versions``: (version_no, status) of the product's versions, any order."""
    by_status: dict[str, int] = {}
    for no, status in sorted(versions):
        by_status[status] = no  # the newest of each status wins
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "name_en": p.name_en,
        "scene": p.scene,
        "segment": p.segment,
        "status": p.status,
        "created_by": p.created_by,
        "created_at": p.created_at,
        "retired_at": p.retired_at,
        "retired_on": p.retired_on,
        "latest_version_no": max((no for no, _ in versions), default=None),
        "published_version_no": by_status.get(VersionStatus.PUBLISHED),
        "draft_version_no": by_status.get(VersionStatus.DRAFT),
    }


def list_products(uow: SqlAlchemyUnitOfWork, status: str | None = None) -> list[dict[str, Any]]:
    """The bank's products by code, each with its latest, published and draft version numbers."""
    with uow:
        q = select(Product).order_by(Product.code)
        if status:
            q = q.where(Product.status == status)
        products = list(uow.session.scalars(q))
        versions: dict[str, list[tuple[int, str]]] = {}
        rows = uow.session.execute(
            select(ProductVersion.product_id, ProductVersion.version_no, ProductVersion.status)
        )
        for product_id, no, st in rows:
            versions.setdefault(product_id, []).append((no, st))
        return [_product_view(p, versions.get(p.id, [])) for p in products]


def _product(uow: SqlAlchemyUnitOfWork, product_id: str) -> Product:
    p = uow.session.scalar(select(Product).where(Product.id == product_id))
    if p is None:
        raise NotFound("no such product", code="product_not_found")
    return p


def get_product(uow: SqlAlchemyUnitOfWork, product_id: str) -> dict[str, Any]:
    """A product with all its versions, newest first."""
    with uow:
        p = _product(uow, product_id)
        versions = list(
            uow.session.scalars(
                select(ProductVersion)
                .where(ProductVersion.product_id == p.id)
                .order_by(ProductVersion.version_no.desc())
            )
        )
        view = _product_view(p, [(v.version_no, v.status) for v in versions])
        view["versions"] = [_version_view(v) for v in versions]
        return view


def get_version(uow: SqlAlchemyUnitOfWork, product_id: str, version_no: int) -> dict[str, Any]:
    with uow:
        p = _product(uow, product_id)
        v = uow.session.scalar(
            select(ProductVersion).where(
                ProductVersion.product_id == p.id, ProductVersion.version_no == version_no
            )
        )
        if v is None:
            raise NotFound("no such version of this product", code="version_not_found")
        return {**_version_view(v), "product_code": p.code}


def published_version(
    uow: SqlAlchemyUnitOfWork, product_code: str, on: date | None = None
) -> dict[str, Any] | None:
    """The version an offer made on business date ``on`` (default: today) must use, or ``None``
    when the product does not exist, had nothing published yet on that day, or was retired by then.
    The view adds ``product_code`` and the product's names."""
    with uow:
        day = on or uow.clock.today()
        row = uow.session.execute(
            select(ProductVersion, Product)
            .join(Product, Product.id == ProductVersion.product_id)
            .where(
                Product.code == product_code,
                or_(Product.retired_on.is_(None), Product.retired_on > day),
                ProductVersion.status.in_([VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED]),
                ProductVersion.effective_from <= day,
                or_(ProductVersion.effective_to.is_(None), ProductVersion.effective_to > day),
            )
            .order_by(ProductVersion.version_no.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        version, product = row
        return {
            **_version_view(version),
            "product_code": product.code,
            "product_name": product.name,
            "product_name_en": product.name_en,
        }


def product_terms(version: dict[str, Any]) -> ProductTerms:
    """The typed terms of a version view (checked again: a document is only trusted once parsed)."""
    return parse_terms(version["terms"])


def terms_violations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every broken rule of a terms document (``{field, code, message}``), or ``[]`` when it is valid.
    For forms that want to show all problems at once without sending a command."""
    try:
        parse_terms(document)
    except ValidationFailed as e:
        return list(e.details.get("violations") or [{"field": "", "code": e.code, "message": e.message}])
    return []


def pending_product_changes(uow: SqlAlchemyUnitOfWork, product_id: str) -> list[dict[str, Any]]:
    """Maker-checker requests (publish or retire) of this product still waiting for a checker.

    The change request is the single record of "pending": a rejection needs no call back into
    loans, the draft is simply editable again."""
    return [
        c
        for c in access.list_changes(uow, "pending", limit=_PENDING_LIMIT)
        if c["kind"] in (PUBLISH_KIND, RETIRE_KIND) and c["target"] == product_id
    ]
