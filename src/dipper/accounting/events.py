"""Events of the accounting module.

Dates travel as ISO 8601 strings (``YYYY-MM-DD``): events are written to the JSON outbox as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event


@dataclass(frozen=True, kw_only=True)
class AccountOpened(Event):
    account_id: str
    code: str
    account_type: str


@dataclass(frozen=True, kw_only=True)
class JournalEntryPosted(Event):
    """An entry reached the ledger (reversals too: they are entries). Not raised again on a replay."""

    entry_id: str
    value_date: str
    client_key: str
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class JournalEntryReversed(Event):
    """``entry_id`` was corrected by the mirror entry ``reversal_entry_id``."""

    entry_id: str
    reversal_entry_id: str
    value_date: str
    client_key: str
