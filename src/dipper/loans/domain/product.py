"""Loan products (贷款产品): versioned, immutable sets of terms, checked before anything is stored.

A product is a code and names; what a loan may look like lives in its versions. A version is a
full set of terms (:class:`ProductTerms`). It is edited while it is a draft, published only after
a second person approves it (maker-checker), and never changed afterwards: a loan signed under
version 3 keeps version 3's terms whatever the bank publishes later.

Terms travel as a flat JSON document (:func:`terms_to_dict`): amounts in integer minor units,
rates as decimal strings (``"0.0720"`` is 7.2% a year). :func:`parse_terms` is the only way in;
it reports every broken rule at once, each with a stable code and the field it concerns, so a
form can show each message beside its input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final, TypeVar

from dipper.kernel.calendar import RollConvention
from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import Conflict, ValidationFailed
from dipper.kernel.money import Currency
from dipper.kernel.rounding import RoundingRule
from dipper.loans.domain.terms import AllocationPart, PrepaymentMode, RepaymentMethod

__all__ = [
    "DEFAULT_ALLOCATION_ORDER",
    "MAX_AMOUNT_MINOR",
    "MAX_TERM_MONTHS",
    "PUBLISH_KIND",
    "REQUIRED_TERMS",
    "RETIRE_KIND",
    "TERM_FIELDS",
    "DailyInterestRule",
    "FeeKind",
    "PeriodicFeeKind",
    "PrepaymentFeeKind",
    "ProductHeader",
    "ProductStatus",
    "ProductTerms",
    "VersionStatus",
    "check_new_product",
    "check_product_header",
    "check_publish_payload",
    "check_retire_payload",
    "default_terms",
    "ensure_editable",
    "parse_terms",
    "terms_digest",
    "terms_to_dict",
]

#: Maker-checker change kinds (the access module's registry names them).
PUBLISH_KIND: Final = "loans.product.publish"
RETIRE_KIND: Final = "loans.product.retire"

#: No retail loan comes near 10**15 fen (10 trillion yuan); the cap keeps hostile input out of BIGINT.
MAX_AMOUNT_MINOR: Final = 10**15
#: Thirty years: the longest retail term (mortgages); consumer credit stays far below.
MAX_TERM_MONTHS: Final = 360
MAX_GRACE_DAYS: Final = 30
#: 罚息: overdue principal bears the contract rate plus 30%-50% of it (PBOC practice).
MIN_PENALTY_UPLIFT: Final = Decimal("0.3")
MAX_PENALTY_UPLIFT: Final = Decimal("0.5")
#: Rates are stored as NUMERIC(18, 10); more places would be silently cut.
MAX_RATE_PLACES: Final = 10
MAX_TEXT: Final = 200

_E = TypeVar("_E", bound=StrEnum)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")


class ProductStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"  # no new offers; loans already signed keep their version


class VersionStatus(StrEnum):
    DRAFT = "draft"  # editable; may be submitted for approval
    PUBLISHED = "published"  # the version offers are made under, from ``effective_from``
    SUPERSEDED = "superseded"  # was published; a later version replaced it


class DailyInterestRule(StrEnum):
    """How a revolving line (随借随还) counts interest days. Recorded on the product so that
    accrual, statements and disclosures all follow the one rule the customer was shown."""

    DRAWDOWN_DAY_IN_REPAYMENT_DAY_OUT = "drawdown-day-counted-repayment-day-not"
    """Interest per day on the drawn balance: the drawdown day earns interest, the repayment day does not."""


class PrepaymentFeeKind(StrEnum):
    NONE = "none"
    PERCENTAGE = "percentage"  # of the prepaid principal
    FIXED = "fixed"  # a fixed amount per prepayment


class FeeKind(StrEnum):
    """Upfront fee (手续费), charged once at disbursement."""

    NONE = "none"
    FIXED = "fixed"
    RATE = "rate"  # a fraction of the disbursed principal


class PeriodicFeeKind(StrEnum):
    """Periodic fee (分期手续费), charged with every installment."""

    NONE = "none"
    MONTHLY_RATE = (
        "monthly-rate"  # monthly rate on the ORIGINAL principal (it does not fall as principal is repaid)
    )
    FIXED_PER_INSTALLMENT = "fixed-per-installment"


#: The default repayment order (还款冲销顺序): penalty, then interest, then principal, then fees.
DEFAULT_ALLOCATION_ORDER: Final = (
    AllocationPart.PENALTY,
    AllocationPart.INTEREST,
    AllocationPart.PRINCIPAL,
    AllocationPart.FEE,
)


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """Everything a loan of this version may be: the ranges an offer must fall in, and the rules
    (rounding, allocation, penalty, prepayment, fees, holidays) its schedule and servicing follow."""

    currency: str
    min_amount_minor: int
    max_amount_minor: int
    min_term_months: int
    max_term_months: int
    allowed_terms: tuple[int, ...]
    repayment_methods: tuple[RepaymentMethod, ...]
    min_rate: Decimal  # annual, as a fraction
    max_rate: Decimal
    day_count: DayCount = DayCount.ACT_360
    rounding: RoundingRule = RoundingRule.HALF_UP
    #: Pay the oldest overdue installment first (in ``allocation_order``), then the current one.
    overdue_first: bool = True
    allocation_order: tuple[AllocationPart, ...] = DEFAULT_ALLOCATION_ORDER
    grace_days: int = 0
    penalty_uplift: Decimal = Decimal("0.5")
    #: 复利: overdue interest bears penalty interest too.
    compound_overdue_interest: bool = False
    prepayment_allowed: bool = False
    prepayment_partial_modes: tuple[PrepaymentMode, ...] = ()
    prepayment_full: bool = False
    prepayment_fee_kind: PrepaymentFeeKind = PrepaymentFeeKind.NONE
    prepayment_fee_rate: Decimal | None = None
    prepayment_fee_minor: int | None = None
    #: No prepayment in the first months of the loan (锁定期).
    prepayment_lockin_months: int = 0
    upfront_fee_kind: FeeKind = FeeKind.NONE
    upfront_fee_rate: Decimal | None = None
    upfront_fee_minor: int | None = None
    periodic_fee_kind: PeriodicFeeKind = PeriodicFeeKind.NONE
    periodic_fee_rate: Decimal | None = None
    periodic_fee_minor: int | None = None
    #: How a due date that falls on a holiday moves.
    holiday_roll: RollConvention = RollConvention.FOLLOWING
    revolving_interest_rule: DailyInterestRule | None = None

    @property
    def revolving(self) -> bool:
        return RepaymentMethod.REVOLVING in self.repayment_methods

    def allows_term(self, months: int) -> bool:
        return months in self.allowed_terms

    def allows_amount(self, amount_minor: int) -> bool:
        return self.min_amount_minor <= amount_minor <= self.max_amount_minor

    def allows_rate(self, annual_rate: Decimal) -> bool:
        return self.min_rate <= annual_rate <= self.max_rate


#: Every key of the terms document, in the order forms and listings show them.
TERM_FIELDS: Final = tuple(f.name for f in dataclasses.fields(ProductTerms))
#: The terms a version must state; every other one has a default.
REQUIRED_TERMS: Final = tuple(
    f.name for f in dataclasses.fields(ProductTerms) if f.default is dataclasses.MISSING
)

# ------------------------------------------------------------------------------------ parsing


class _Missing:
    pass


_MISSING: Final = _Missing()


def _fail(code: str, message: str, fld: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, details={"field": fld, **details})


def _int(value: object, fld: str, code: str) -> int:
    # bool is an int and float hides fractions: neither is a count of fen or months.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(code, f"{fld} must be a whole number", fld)
    return value


def _bool(value: object, fld: str, code: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(code, f"{fld} must be true or false", fld)
    return value


def _decimal(value: object, fld: str, code: str) -> Decimal:
    # Rates come as strings or Decimals; a float would already have lost the exact value.
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _fail(code, f'{fld} must be a decimal number written as a string, e.g. "0.072"', fld)
    if isinstance(value, str) and len(value) > 40:
        raise _fail(code, f"{fld} is too long", fld)
    try:
        dec = Decimal(value)
    except InvalidOperation:
        raise _fail(code, f"{fld} is not a decimal number", fld) from None
    if not dec.is_finite():
        raise _fail(code, f"{fld} must be a finite number", fld)
    exponent = dec.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_RATE_PLACES:
        raise _fail(code, f"{fld} has more than {MAX_RATE_PLACES} decimal places", fld)
    return dec


def _list(value: object, fld: str, code: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise _fail(code, f"{fld} must be a list", fld)
    return list(value)


def _enum_list(value: object, enum: type[_E], fld: str, unknown_code: str, code: str) -> tuple[_E, ...]:
    items = _list(value, fld, code)
    out: list[_E] = []
    for item in items:
        try:
            member = enum(item) if isinstance(item, str) else None
        except ValueError:
            member = None
        if member is None:
            raise _fail(
                unknown_code,
                f"{fld}: unknown value {item!r}",
                fld,
                value=str(item)[:40],
                allowed=[m.value for m in enum],
            )
        if member in out:
            raise _fail(code, f"{fld}: {member.value} is listed twice", fld)
        out.append(member)
    return tuple(out)


def _enum(value: object, enum: type[_E], fld: str, code: str) -> _E:
    try:
        if isinstance(value, str):
            return enum(value)
    except ValueError:
        pass
    raise _fail(code, f"{fld}: unknown value {str(value)[:40]!r}", fld, allowed=[m.value for m in enum])


def _kernel_enum(parse: Callable[[str], _E], value: object, fld: str, code: str) -> _E:
    """Kernel enums raise their own stable codes; add the field so a form can place the message."""
    if not isinstance(value, str):
        raise _fail(code, f"{fld} must be a string", fld)
    try:
        return parse(value)
    except ValidationFailed as e:
        raise _fail(e.code, e.message, fld, **{k: v for k, v in e.details.items() if k != "field"}) from None


def _minor(value: object, fld: str, code: str, *, positive: bool) -> int:
    amount = _int(value, fld, code)
    low = 1 if positive else 0
    if not low <= amount <= MAX_AMOUNT_MINOR:
        raise _fail(code, f"{fld} must be between {low} and {MAX_AMOUNT_MINOR} minor units", fld)
    return amount


def _fraction(value: object, fld: str, code: str) -> Decimal:
    """A rate strictly between 0 and 1."""
    rate = _decimal(value, fld, code)
    if not Decimal(0) < rate < Decimal(1):
        raise _fail(code, f"{fld} must be greater than 0 and less than 1", fld)
    return rate


class _Skip(Exception):
    """A rule needs a field that is missing or unreadable: that is reported already, so skip the rule."""


@dataclass
class _Reader:
    """Reads the terms document field by field, collecting every violation (not only the first)."""

    data: Mapping[str, Any]
    violations: list[ValidationFailed] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, fld: str) -> Any:
        value = self.data.get(fld, _MISSING)
        return _MISSING if value is None else value

    def required(self, fld: str, code: str, read: Callable[[Any], Any]) -> None:
        if self.get(fld) is _MISSING:
            self.violations.append(_fail(code, f"{fld} is required", fld))
            return
        self.optional(fld, read)

    def optional(self, fld: str, read: Callable[[Any], Any]) -> None:
        value = self.get(fld)
        if value is _MISSING:
            return
        try:
            self.values[fld] = read(value)
        except ValidationFailed as e:
            self.violations.append(e)

    def value(self, fld: str) -> Any:
        if fld in self.values:
            return self.values[fld]
        default = ProductTerms.__dataclass_fields__[fld].default
        if self.get(fld) is not _MISSING or default is dataclasses.MISSING:
            raise _Skip
        return default

    def check(self, rule: Callable[[], None]) -> None:
        try:
            rule()
        except _Skip:
            pass
        except ValidationFailed as e:
            self.violations.append(e)


def parse_terms(data: Mapping[str, Any]) -> ProductTerms:
    """Check a terms document and build :class:`ProductTerms`.

    Raises one :class:`ValidationFailed` carrying the first violation's code and field, with every
    violation (``{field, code, message}``) under ``details["violations"]``. Omitted optional terms
    take the defaults of :class:`ProductTerms`; ``null`` counts as omitted.
    """
    if not isinstance(data, Mapping):
        raise ValidationFailed("terms must be an object", code="invalid_terms", details={"field": "terms"})
    unknown = sorted(str(k) for k in data if k not in TERM_FIELDS)
    if unknown:
        raise ValidationFailed(
            "unknown terms", code="unknown_term", details={"field": unknown[0], "unknown": unknown[:20]}
        )
    r = _Reader(data)
    _read_fields(r)
    _check_rules(r)
    if r.violations:
        raise _merged(r.violations)
    return ProductTerms(**{f: r.value(f) for f in TERM_FIELDS})


def _read_fields(r: _Reader) -> None:
    def currency(v: Any) -> str:
        if not isinstance(v, str):
            raise _fail("unknown_currency", "currency must be an ISO 4217 code", "currency")
        try:
            return Currency.of(v).code
        except ValidationFailed as e:
            raise _fail(e.code, e.message, "currency") from None

    r.required("currency", "unknown_currency", currency)
    amount_code = "invalid_amount_range"
    r.required(
        "min_amount_minor", amount_code, lambda v: _minor(v, "min_amount_minor", amount_code, positive=True)
    )
    r.required(
        "max_amount_minor", amount_code, lambda v: _minor(v, "max_amount_minor", amount_code, positive=True)
    )
    r.required("min_term_months", "invalid_term_range", lambda v: _months(v, "min_term_months"))
    r.required("max_term_months", "invalid_term_range", lambda v: _months(v, "max_term_months"))

    def allowed(v: Any) -> tuple[int, ...]:
        terms = [
            _int(x, "allowed_terms", "invalid_allowed_terms")
            for x in _list(v, "allowed_terms", "invalid_allowed_terms")
        ]
        if not terms:
            raise _fail("invalid_allowed_terms", "list at least one allowed term", "allowed_terms")
        if len(set(terms)) != len(terms):
            raise _fail("invalid_allowed_terms", "a term is listed twice", "allowed_terms")
        return tuple(sorted(terms))

    r.required("allowed_terms", "invalid_allowed_terms", allowed)

    def methods(v: Any) -> tuple[RepaymentMethod, ...]:
        found = _enum_list(
            v, RepaymentMethod, "repayment_methods", "unknown_method", "invalid_repayment_methods"
        )
        if not found:
            raise _fail(
                "invalid_repayment_methods", "allow at least one repayment method", "repayment_methods"
            )
        return found

    r.required("repayment_methods", "invalid_repayment_methods", methods)
    r.required("min_rate", "invalid_rate_range", lambda v: _fraction(v, "min_rate", "invalid_rate_range"))
    r.required("max_rate", "invalid_rate_range", lambda v: _fraction(v, "max_rate", "invalid_rate_range"))
    r.optional("day_count", lambda v: _kernel_enum(DayCount.parse, v, "day_count", "unknown_day_count"))
    r.optional("rounding", lambda v: _kernel_enum(RoundingRule.parse, v, "rounding", "unknown_rounding_rule"))
    r.optional("overdue_first", lambda v: _bool(v, "overdue_first", "invalid_allocation_order"))

    def order(v: Any) -> tuple[AllocationPart, ...]:
        return _enum_list(
            v, AllocationPart, "allocation_order", "unknown_allocation_part", "invalid_allocation_order"
        )

    r.optional("allocation_order", order)

    def grace(v: Any) -> int:
        days = _int(v, "grace_days", "invalid_grace_days")
        if not 0 <= days <= MAX_GRACE_DAYS:
            raise _fail("invalid_grace_days", f"grace_days must be 0-{MAX_GRACE_DAYS}", "grace_days")
        return days

    r.optional("grace_days", grace)

    def uplift(v: Any) -> Decimal:
        value = _decimal(v, "penalty_uplift", "invalid_penalty_uplift")
        if not MIN_PENALTY_UPLIFT <= value <= MAX_PENALTY_UPLIFT:
            raise _fail(
                "invalid_penalty_uplift",
                "penalty interest is the contract rate raised by 30%-50% (penalty_uplift 0.3-0.5)",
                "penalty_uplift",
            )
        return value

    r.optional("penalty_uplift", uplift)
    r.optional(
        "compound_overdue_interest",
        lambda v: _bool(v, "compound_overdue_interest", "invalid_compound_interest"),
    )
    r.optional("prepayment_allowed", lambda v: _bool(v, "prepayment_allowed", "invalid_prepayment"))
    r.optional(
        "prepayment_partial_modes",
        lambda v: _enum_list(
            v, PrepaymentMode, "prepayment_partial_modes", "unknown_prepayment_mode", "invalid_prepayment"
        ),
    )
    r.optional("prepayment_full", lambda v: _bool(v, "prepayment_full", "invalid_prepayment"))
    r.optional(
        "prepayment_fee_kind",
        lambda v: _enum(v, PrepaymentFeeKind, "prepayment_fee_kind", "invalid_prepayment_fee"),
    )
    r.optional("prepayment_fee_rate", lambda v: _fraction(v, "prepayment_fee_rate", "invalid_prepayment_fee"))
    r.optional(
        "prepayment_fee_minor",
        lambda v: _minor(v, "prepayment_fee_minor", "invalid_prepayment_fee", positive=True),
    )

    def lockin(v: Any) -> int:
        months = _int(v, "prepayment_lockin_months", "invalid_lockin_months")
        if not 0 <= months <= MAX_TERM_MONTHS:
            raise _fail(
                "invalid_lockin_months", "lock-in must be 0 or more months", "prepayment_lockin_months"
            )
        return months

    r.optional("prepayment_lockin_months", lockin)
    r.optional("upfront_fee_kind", lambda v: _enum(v, FeeKind, "upfront_fee_kind", "invalid_upfront_fee"))
    r.optional("upfront_fee_rate", lambda v: _fraction(v, "upfront_fee_rate", "invalid_upfront_fee"))
    r.optional(
        "upfront_fee_minor", lambda v: _minor(v, "upfront_fee_minor", "invalid_upfront_fee", positive=True)
    )
    r.optional(
        "periodic_fee_kind", lambda v: _enum(v, PeriodicFeeKind, "periodic_fee_kind", "invalid_periodic_fee")
    )
    r.optional("periodic_fee_rate", lambda v: _fraction(v, "periodic_fee_rate", "invalid_periodic_fee"))
    r.optional(
        "periodic_fee_minor",
        lambda v: _minor(v, "periodic_fee_minor", "invalid_periodic_fee", positive=True),
    )
    r.optional(
        "holiday_roll",
        lambda v: _kernel_enum(RollConvention.parse, v, "holiday_roll", "unknown_roll_convention"),
    )
    r.optional(
        "revolving_interest_rule",
        lambda v: _enum(v, DailyInterestRule, "revolving_interest_rule", "invalid_revolving_rule"),
    )


def _months(value: object, fld: str) -> int:
    months = _int(value, fld, "invalid_term_range")
    if not 1 <= months <= MAX_TERM_MONTHS:
        raise _fail("invalid_term_range", f"{fld} must be 1-{MAX_TERM_MONTHS} months", fld)
    return months


def _check_rules(r: _Reader) -> None:
    """Rules across fields; each runs only when the fields it reads were readable."""
    v = r.value

    def amounts() -> None:
        if v("min_amount_minor") > v("max_amount_minor"):
            raise _fail("invalid_amount_range", "the minimum amount exceeds the maximum", "max_amount_minor")

    def term_range() -> None:
        if v("min_term_months") > v("max_term_months"):
            raise _fail("invalid_term_range", "the minimum term exceeds the maximum", "max_term_months")

    def allowed_terms() -> None:
        low, high = v("min_term_months"), v("max_term_months")
        outside = [t for t in v("allowed_terms") if not low <= t <= high]
        if outside:
            raise _fail(
                "invalid_allowed_terms",
                f"allowed terms {outside} fall outside {low}-{high} months",
                "allowed_terms",
                outside=outside,
            )

    def rates() -> None:
        if v("min_rate") > v("max_rate"):
            raise _fail("invalid_rate_range", "the minimum rate exceeds the maximum", "max_rate")

    def allocation() -> None:
        # Every part exactly once, so servicing never meets money it has no place for.
        missing = sorted(p.value for p in set(AllocationPart) - set(v("allocation_order")))
        if missing:
            raise _fail(
                "invalid_allocation_order",
                f"the allocation order must name each part once; missing {', '.join(missing)}",
                "allocation_order",
                missing=missing,
            )

    def prepayment() -> None:
        allowed, modes, full = v("prepayment_allowed"), v("prepayment_partial_modes"), v("prepayment_full")
        if not allowed and (modes or full):
            raise _fail(
                "invalid_prepayment",
                "prepayment is not allowed, so it can have no modes",
                "prepayment_allowed",
            )
        if allowed and not (modes or full):
            raise _fail(
                "invalid_prepayment",
                "prepayment is allowed: choose partial modes, full prepayment, or both",
                "prepayment_partial_modes",
            )

    def prepayment_fee() -> None:
        _check_fee(
            v("prepayment_fee_kind").value,
            rate=v("prepayment_fee_rate"),
            minor=v("prepayment_fee_minor"),
            rate_kind=PrepaymentFeeKind.PERCENTAGE.value,
            fixed_kind=PrepaymentFeeKind.FIXED.value,
            prefix="prepayment_fee",
            code="invalid_prepayment_fee",
        )
        if not v("prepayment_allowed") and v("prepayment_fee_kind") is not PrepaymentFeeKind.NONE:
            raise _fail(
                "invalid_prepayment_fee", "no prepayment, so no prepayment fee", "prepayment_fee_kind"
            )

    def lockin() -> None:
        if v("prepayment_lockin_months") >= v("max_term_months"):
            raise _fail(
                "invalid_lockin_months",
                "the lock-in must end before the longest term does",
                "prepayment_lockin_months",
            )
        if not v("prepayment_allowed") and v("prepayment_lockin_months"):
            raise _fail("invalid_lockin_months", "no prepayment, so no lock-in", "prepayment_lockin_months")

    def upfront_fee() -> None:
        _check_fee(
            v("upfront_fee_kind").value,
            rate=v("upfront_fee_rate"),
            minor=v("upfront_fee_minor"),
            rate_kind=FeeKind.RATE.value,
            fixed_kind=FeeKind.FIXED.value,
            prefix="upfront_fee",
            code="invalid_upfront_fee",
        )

    def periodic_fee() -> None:
        _check_fee(
            v("periodic_fee_kind").value,
            rate=v("periodic_fee_rate"),
            minor=v("periodic_fee_minor"),
            rate_kind=PeriodicFeeKind.MONTHLY_RATE.value,
            fixed_kind=PeriodicFeeKind.FIXED_PER_INSTALLMENT.value,
            prefix="periodic_fee",
            code="invalid_periodic_fee",
        )

    def revolving() -> None:
        rule = v("revolving_interest_rule")
        if RepaymentMethod.REVOLVING in v("repayment_methods"):
            if rule is None:  # the one rule there is; recorded so the contract can show it
                r.values["revolving_interest_rule"] = DailyInterestRule.DRAWDOWN_DAY_IN_REPAYMENT_DAY_OUT
        elif rule is not None:
            raise _fail(
                "invalid_revolving_rule",
                "a daily-interest rule applies only to revolving products",
                "revolving_interest_rule",
            )

    r.check(amounts)
    r.check(term_range)
    r.check(allowed_terms)
    r.check(rates)
    r.check(allocation)
    r.check(prepayment)
    r.check(prepayment_fee)
    r.check(lockin)
    r.check(upfront_fee)
    r.check(periodic_fee)
    r.check(revolving)
    # Report in the order of the document, so the first violation is the topmost field of a form.
    r.violations.sort(key=lambda e: _field_rank(e.details.get("field")))


def _field_rank(fld: object) -> int:
    return TERM_FIELDS.index(fld) if isinstance(fld, str) and fld in TERM_FIELDS else len(TERM_FIELDS)


def _check_fee(
    kind: str,
    *,
    rate: Decimal | None,
    minor: int | None,
    rate_kind: str,
    fixed_kind: str,
    prefix: str,
    code: str,
) -> None:
    """A fee is either a rate or a fixed amount, exactly as its kind says."""
    if kind == rate_kind and (rate is None or minor is not None):
        raise _fail(code, f"a {kind} fee needs {prefix}_rate and no {prefix}_minor", f"{prefix}_rate")
    if kind == fixed_kind and (minor is None or rate is not None):
        raise _fail(code, f"a {kind} fee needs {prefix}_minor and no {prefix}_rate", f"{prefix}_minor")
    if kind not in (rate_kind, fixed_kind) and (rate is not None or minor is not None):
        raise _fail(code, f"no {prefix}: leave {prefix}_rate and {prefix}_minor empty", f"{prefix}_kind")


# ------------------------------------------------------------------------------------ the document


def _plain(value: object) -> object:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Decimal):
        # One spelling per value ("0.0720" and "0.072" are the same rate, so the same digest).
        return format(value.normalize(), "f")
    if isinstance(value, tuple):
        return [_plain(x) for x in value]
    return value


def terms_to_dict(terms: ProductTerms) -> dict[str, Any]:
    """The terms as a JSON document (rates as strings, enums as their stable values)."""
    return {f: _plain(getattr(terms, f)) for f in TERM_FIELDS}


def default_terms() -> dict[str, Any]:
    """The optional terms at their defaults, as a document (a form starts from these)."""
    return {
        f.name: _plain(f.default)
        for f in dataclasses.fields(ProductTerms)
        if f.default is not dataclasses.MISSING
    }


def terms_digest(terms: ProductTerms) -> str:
    """SHA-256 of the canonical document: what the checker approved is exactly what gets published."""
    canonical = json.dumps(terms_to_dict(terms), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ------------------------------------------------------------------------------------ products


@dataclass(frozen=True, slots=True)
class ProductHeader:
    code: str
    name: str
    name_en: str
    scene: str = ""
    segment: str = ""


def _text(value: object, fld: str, code: str, *, required: bool) -> str:
    if not isinstance(value, str):
        raise _fail(code, f"{fld} must be text", fld)
    text = value.strip()
    if required and not text:
        raise _fail(code, f"{fld} is required", fld)
    if len(text) > MAX_TEXT:
        raise _fail(code, f"{fld} has more than {MAX_TEXT} characters", fld)
    if any(not ch.isprintable() for ch in text):
        raise _fail(code, f"{fld} contains control characters", fld)
    return text


def check_product_header(
    code: object, name: object, name_en: object, scene: object = "", segment: object = ""
) -> ProductHeader:
    """Code: 2-32 letters, digits, '-' or '_' (unique per bank); names in Chinese and English."""
    header, _ = check_new_product(
        code=code, name=name, name_en=name_en, scene=scene, segment=segment, terms=None
    )
    return header


def check_new_product(
    *,
    code: object,
    name: object,
    name_en: object,
    scene: object,
    segment: object,
    terms: Mapping[str, Any] | None,
) -> tuple[ProductHeader, ProductTerms | None]:
    """The header and (unless ``None``) the first version's terms, every violation reported at once."""
    errors: list[ValidationFailed] = []
    values: dict[str, str] = {}

    def text(fld: str, value: object, code_: str, *, required: bool) -> None:
        try:
            values[fld] = _text(value, fld, code_, required=required)
        except ValidationFailed as e:
            errors.append(e)

    if not isinstance(code, str) or not _CODE.match(code):
        errors.append(_fail("invalid_product_code", "product code: 2-32 letters, digits, '-' or '_'", "code"))
    text("name", name, "invalid_product_name", required=True)
    text("name_en", name_en, "invalid_product_name", required=True)
    text("scene", scene, "invalid_product_scene", required=False)
    text("segment", segment, "invalid_product_segment", required=False)
    parsed: ProductTerms | None = None
    if terms is not None:
        try:
            parsed = parse_terms(terms)
        except ValidationFailed as e:
            errors.append(e)
    if errors:
        raise _merged(errors)
    assert isinstance(code, str)
    return ProductHeader(code=code, **values), parsed


def _merged(errors: list[ValidationFailed]) -> ValidationFailed:
    """One error: the first violation's code and field, and every violation under ``violations``."""
    violations: list[dict[str, Any]] = []
    for e in errors:
        violations.extend(
            e.details.get("violations")
            or [{"field": e.details.get("field", ""), "code": e.code, "message": e.message}]
        )
    first = errors[0]
    return ValidationFailed(
        first.message,
        code=first.code,
        details={**{k: v for k, v in first.details.items() if k != "violations"}, "violations": violations},
    )


def ensure_editable(status: str) -> None:
    """Only a draft changes; a published version is the contract of every loan signed under it."""
    if status != VersionStatus.DRAFT:
        raise Conflict(
            f"version is {status}: published versions never change; draft a new version instead",
            code="version_not_editable",
            details={"status": status},
        )


# ------------------------------------------------------------------------------------ change payloads


def _payload_str(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationFailed(f"{key} is required", code="invalid_change_payload", details={"field": key})
    return value


def check_publish_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What a publish request carries: the version, and its full terms with their digest, so the
    checker sees exactly what they approve and the approval fails if the draft changed since."""
    allowed = {"product_id", "product_code", "version_id", "version_no", "terms", "terms_digest", "note"}
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ValidationFailed("unknown fields", code="invalid_change_payload", details={"unknown": unknown})
    version_no = payload.get("version_no")
    if isinstance(version_no, bool) or not isinstance(version_no, int) or version_no < 1:
        raise ValidationFailed(
            "version_no is required", code="invalid_change_payload", details={"field": "version_no"}
        )
    terms = parse_terms(payload.get("terms") or {})
    digest = terms_digest(terms)
    if payload.get("terms_digest") != digest:
        raise ValidationFailed(
            "terms_digest does not match the terms",
            code="invalid_change_payload",
            details={"field": "terms_digest"},
        )
    note = payload.get("note", "")
    return {
        "product_id": _payload_str(payload, "product_id"),
        "product_code": _payload_str(payload, "product_code"),
        "version_id": _payload_str(payload, "version_id"),
        "version_no": version_no,
        "terms": terms_to_dict(terms),
        "terms_digest": digest,
        "note": note[:500] if isinstance(note, str) else "",
    }


def check_retire_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(payload) - {"product_id", "product_code", "reason"})
    if unknown:
        raise ValidationFailed("unknown fields", code="invalid_change_payload", details={"unknown": unknown})
    reason = payload.get("reason", "")
    return {
        "product_id": _payload_str(payload, "product_id"),
        "product_code": _payload_str(payload, "product_code"),
        "reason": reason[:500] if isinstance(reason, str) else "",
    }
