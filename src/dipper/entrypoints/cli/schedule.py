"""``dipper schedule``: print a repayment schedule and its APR as JSON, without touching a database.

Every option is read as text and validated by the domain, so a bad value is reported like any other
user error (``error [code]: message`` on stderr, exit code 2) rather than as a usage screen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from dipper.entrypoints.cli import output
from dipper.kernel.calendar import BusinessCalendar, RollConvention
from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import ValidationFailed
from dipper.kernel.money import Money
from dipper.kernel.rates import Rate
from dipper.kernel.rounding import RoundingRule
from dipper.loans.queries.schedules import Schedule, ScheduleTerms, build_schedule, parse_repayment_method
from dipper.reference.calendars import china_mainland

__all__ = ["schedule", "schedule_json"]

_CALENDARS = {"none": None, "china-mainland": china_mainland}


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{option} must be a date like 2026-01-15, got {value!r}",
            code="invalid_date",
            details={"option": option, "value": value},
        ) from None


def _term(value: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise ValidationFailed(
            f"--term must be a whole number of months, got {value!r}",
            code="invalid_term",
            details={"term": value},
        )
    return int(text)


def _calendar(name: str) -> BusinessCalendar | None:
    key = name.strip().lower()
    if key not in _CALENDARS:
        raise ValidationFailed(
            f"unknown calendar {name!r}",
            code="unknown_calendar",
            details={"calendar": name, "allowed": sorted(_CALENDARS)},
        )
    factory = _CALENDARS[key]
    return None if factory is None else factory()


def schedule_json(result: Schedule) -> dict[str, Any]:
    """The command's JSON document: money as major-unit strings, the APR to 6 decimals."""
    return {
        "installments": [
            {
                "n": item.n,
                "due_date": item.due_date.isoformat(),
                "principal": item.principal.format(),
                "interest": item.interest.format(),
                "total": item.total.format(),
                "balance": item.balance.format(),
            }
            for item in result.installments
        ],
        "total_interest": result.total_interest.format(),
        "apr": str(result.apr),
    }


def schedule(
    *,
    amount: Annotated[
        str, typer.Option(metavar="YUAN", help="Loan amount in yuan, at most 2 decimals, e.g. 100000.00.")
    ],
    annual_rate: Annotated[
        str, typer.Option(metavar="RATE", help="Annual nominal rate as a fraction, e.g. 0.0435.")
    ],
    term: Annotated[str, typer.Option(metavar="MONTHS", help="Number of monthly periods, 1 to 360.")],
    method: Annotated[
        str,
        typer.Option(metavar="METHOD", help="equal-installment, equal-principal, interest-only or bullet."),
    ],
    start: Annotated[str, typer.Option(metavar="DATE", help="Disbursement (value) date, YYYY-MM-DD.")],
    day_count: Annotated[
        str | None,
        typer.Option(
            metavar="BASIS", help="ACT/360, ACT/365F or 30/360; default: the monthly rate (annual / 12)."
        ),
    ] = None,
    fee_upfront: Annotated[
        str, typer.Option(metavar="YUAN", help="Fee charged at disbursement (counts in the APR).")
    ] = "0",
    rounding: Annotated[
        str,
        typer.Option(metavar="RULE", help="half-up, half-even, down, up or whole-unit-up (the installment)."),
    ] = "half-up",
    first_due: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="First due date; other than one month after start, the first period is broken.",
        ),
    ] = None,
    currency: Annotated[str, typer.Option(metavar="CODE", help="ISO 4217 currency code.")] = "CNY",
    calendar: Annotated[
        str, typer.Option(metavar="NAME", help="Holiday calendar for due dates: none or china-mainland.")
    ] = "none",
    roll: Annotated[
        str,
        typer.Option(
            metavar="CONVENTION", help="How a due date on a holiday moves: following, modified-following, ..."
        ),
    ] = "following",
) -> None:
    """Print the repayment schedule of a loan and its APR (all fees included) as JSON."""
    principal = Money.of(amount.strip(), currency)
    fee = Money.of(fee_upfront.strip(), currency)
    terms = ScheduleTerms(
        principal=principal,
        annual_rate=Rate.annual(annual_rate.strip()),
        term=_term(term),
        method=parse_repayment_method(method.strip()),
        start=_date(start, "--start"),
        first_due=None if first_due is None else _date(first_due, "--first-due"),
        day_count=None if day_count is None else DayCount.parse(day_count.strip()),
        rounding=RoundingRule.parse(rounding.strip()),
        calendar=_calendar(calendar),
        roll=RollConvention.parse(roll.strip()),
        upfront_fee=None if fee.is_zero() else fee,
    )
    output.print_json(schedule_json(build_schedule(terms)))
