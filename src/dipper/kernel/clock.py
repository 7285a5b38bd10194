"""Clocks: the only way domain code learns what time and what business date it is.

Batch jobs and tests run on a fixed clock so that a business date can be
replayed; the service runs on the system clock. All instants are aware UTC;
business dates are in the bank's zone (Asia/Shanghai by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

BANK_ZONE = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """Wall-clock time in UTC; ``today`` is the bank's calendar date."""

    def __init__(self, zone: ZoneInfo = BANK_ZONE) -> None:
        self.zone = zone

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(self.zone).date()


@dataclass
class FixedClock:
    """A clock that stands still until told to move (tests, replays, simulations)."""

    instant: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    zone: ZoneInfo = BANK_ZONE

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")

    def now(self) -> datetime:
        return self.instant

    def today(self) -> date:
        return self.instant.astimezone(self.zone).date()

    def advance(self, delta: timedelta) -> None:
        self.instant = self.instant + delta
