"""Commands of the accounting module: the only way anything writes to the general ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dipper.kernel.messages import Command


@dataclass(frozen=True, kw_only=True)
class PostingLine:
    """One side of a posting: exactly one of ``debit_minor`` / ``credit_minor`` is positive."""

    account_code: str
    currency: str
    debit_minor: int = 0
    credit_minor: int = 0
    memo: str = ""


@dataclass(frozen=True, kw_only=True)
class PostJournalEntry(Command):
    """Post a balanced entry (per currency). Idempotent by ``client_key`` within the tenant:
    the same key with the same content returns the first entry; with other content it is a conflict."""

    client_key: str
    value_date: date
    description: str
    lines: tuple[PostingLine, ...]
    source: str = "manual"


@dataclass(frozen=True, kw_only=True)
class ReverseJournalEntry(Command):
    """Correct a posted entry by posting its mirror image; the original is never changed."""

    entry_id: str
    client_key: str
    reason: str
    value_date: date | None = None  # default: the original's value date


@dataclass(frozen=True, kw_only=True)
class OpenAccount(Command):
    code: str
    name: str
    name_en: str
    account_type: str  # asset | liability | equity | income | expense
    parent_code: str | None = None
    is_control: bool = False  # balance mirrors a sub-ledger (loans, receivables); reconciled, not hand-posted
    contra: bool = False  # normal balance opposite to its type (e.g. loan loss provisions under assets)
