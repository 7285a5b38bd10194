"""Tables of loan products and their versions.

The terms a loan is offered and serviced under are the JSON document ``terms`` (checked by
``domain.product.parse_terms`` before it is stored, and again when it is published). The few
terms that queries filter or sort on (currency, amount, term and rate ranges) are copied into
typed columns; they are written together with the document and never on their own.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dipper.kernel.ids import new_id
from dipper.loans.domain.product import ProductTerms, terms_digest, terms_to_dict
from dipper.persistence.base import ID, Audited, Base, TenantScoped, UTCDateTime, utcnow
from dipper.persistence.types import CurrencyCode, DecimalRate


class Product(TenantScoped, Audited, Base):
    """A loan product (贷款产品) of one bank: its code and names; the terms live in its versions."""

    __tablename__ = "loans_product"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("status IN ('active', 'retired')", name="status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    scene: Mapped[str] = mapped_column(String(200), default="")
    segment: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The bank's business date from which no new offer may use the product.
    retired_on: Mapped[date | None] = mapped_column(Date)


class ProductVersion(TenantScoped, Audited, Base):
    """One full set of terms of a product. A draft is edited; published and superseded versions
    are never edited again (the handlers refuse it), only marked superseded when replaced."""

    __tablename__ = "loans_product_version"
    __table_args__ = (
        UniqueConstraint("product_id", "version_no"),
        CheckConstraint("status IN ('draft', 'published', 'superseded')", name="status"),
        CheckConstraint("min_amount_minor > 0 AND min_amount_minor <= max_amount_minor", name="amount_range"),
        CheckConstraint("min_term_months > 0 AND min_term_months <= max_term_months", name="term_range"),
        Index("ix_loans_product_version_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(ForeignKey("loans_product.id"), index=True)
    version_no: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    currency: Mapped[str] = mapped_column(CurrencyCode)
    min_amount_minor: Mapped[int] = mapped_column(BigInteger)
    max_amount_minor: Mapped[int] = mapped_column(BigInteger)
    min_term_months: Mapped[int] = mapped_column(Integer)
    max_term_months: Mapped[int] = mapped_column(Integer)
    min_rate: Mapped[Decimal] = mapped_column(DecimalRate())
    max_rate: Mapped[Decimal] = mapped_column(DecimalRate())
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    terms_digest: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The checker whose approval published the version (the maker is on the change request).
    published_by: Mapped[str | None] = mapped_column(String(64))
    #: Business dates: offers on ``effective_from`` <= day < ``effective_to`` use this version.
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def set_terms(self, terms: ProductTerms) -> None:
        """Write the document and its typed copies together, so they can never disagree."""
        self.currency = terms.currency
        self.min_amount_minor = terms.min_amount_minor
        self.max_amount_minor = terms.max_amount_minor
        self.min_term_months = terms.min_term_months
        self.max_term_months = terms.max_term_months
        self.min_rate = terms.min_rate
        self.max_rate = terms.max_rate
        self.terms = terms_to_dict(terms)
        self.terms_digest = terms_digest(terms)
