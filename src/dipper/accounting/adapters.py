"""Tables of the accounting module.

Journal entries and their lines are append-only twice over: the ORM refuses to flush an
update or delete of them (``__immutable__``), and database triggers refuse it for any
client, including raw SQL and bulk ``UPDATE`` statements that bypass the ORM's flush.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from dipper.persistence.base import ID, Audited, Base, TenantScoped, UTCDateTime, utcnow


class Account(TenantScoped, Audited, Base):
    """A GL account (科目) of one bank."""

    __tablename__ = "accounting_account"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint(
            "account_type IN ('asset', 'liability', 'equity', 'income', 'expense')", name="account_type"
        ),
        CheckConstraint("normal_balance IN ('debit', 'credit')", name="normal_balance"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    account_type: Mapped[str] = mapped_column(String(16))
    normal_balance: Mapped[str] = mapped_column(String(8))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JournalEntry(TenantScoped, Audited, Base):
    """A posted entry (会计分录). Whether it was reversed is found by the entry whose
    ``reversal_of`` points here: a ``reversed_by`` column would need an update."""

    __tablename__ = "accounting_journal_entry"
    __immutable__ = True
    __table_args__ = (
        UniqueConstraint("tenant_id", "client_key"),
        # One reversal per entry, guaranteed by the database even under concurrent requests.
        UniqueConstraint("reversal_of"),
        Index("ix_accounting_journal_entry_tenant_date", "tenant_id", "value_date"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    client_key: Mapped[str] = mapped_column(String(128))
    value_date: Mapped[date] = mapped_column(Date)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    description: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(64))
    reversal_of: Mapped[str | None] = mapped_column(ForeignKey("accounting_journal_entry.id"))
    content_digest: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))


class JournalLine(TenantScoped, Base):
    """One debit or credit of an entry. Not ``Audited`` row by row: lines are written only
    together with their entry, whose audit record and content digest cover them."""

    __tablename__ = "accounting_journal_line"
    __immutable__ = True
    __table_args__ = (
        UniqueConstraint("entry_id", "line_no"),
        Index("ix_accounting_journal_line_account_date", "tenant_id", "account_id", "value_date"),
        CheckConstraint(
            "(debit_minor > 0 AND credit_minor = 0) OR (debit_minor = 0 AND credit_minor > 0)",
            name="one_side",
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    entry_id: Mapped[str] = mapped_column(ForeignKey("accounting_journal_entry.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounting_account.id"))
    account_code: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    debit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    value_date: Mapped[date] = mapped_column(Date)  # copy of the entry's, so balances need no join
    memo: Mapped[str] = mapped_column(String(200), default="")


# The database itself refuses UPDATE and DELETE of entries and lines: see migration 0002.
