"""Repayment allocation (还款冲销顺序) and the small arithmetic of servicing, written once over columns.

A repayment is split over *buckets*: each installment that is due owes a penalty, interest,
principal and fee part, and a prepayment adds a trailing principal bucket. The product names the
order (``loan.allocation``: ``{"order": ["penalty", "interest", "principal", "fee"],
"overdue_first": true}``):

- ``overdue_first`` true (按期冲销, the default): the oldest installment is settled part by part in
  the product's order, then the next one, ...;
- ``overdue_first`` false (按项冲销): the first part of every due installment (oldest first), then
  the second part of every one, ...

Either way the buckets form one sequence, and the money fills it front to back: with ``cum`` the
running total of what the buckets owe, bucket *i* gets ``clip(amount - (cum[i] - owed[i]), 0,
owed[i])``, and whatever exceeds the whole sequence is the excess (an overpayment, held as a
credit balance). That is one cumulative sum and one clip over an ``(loans, buckets)`` array, so
the same function allocates one repayment (a batch of one) or a whole day's auto-debits.

All amounts are integer minor units (``int64``): balances are limited to 10^10 fen per loan (ADR
0005), so the running sums stay far below 2^63.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from dipper.kernel.errors import ValidationFailed
from dipper.loans.domain.terms import AllocationPart

__all__ = [
    "DEFAULT_ORDER",
    "MAX_AMOUNT_MINOR",
    "Allocation",
    "AllocationOrder",
    "Due",
    "InstallmentAllocation",
    "allocate",
    "allocate_columns",
    "allocate_one",
]

Int64Array = npt.NDArray[np.int64]

MAX_AMOUNT_MINOR: Final = 10**10
"""A repayment is at most what a loan can owe (ADR 0005: balances below 10^10 fen per loan)."""

DEFAULT_ORDER: Final = (
    AllocationPart.PENALTY,
    AllocationPart.INTEREST,
    AllocationPart.PRINCIPAL,
    AllocationPart.FEE,
)


# -- the order ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationOrder:
    """In which order a repayment pays the parts of the due installments (see the module docstring)."""

    parts: tuple[AllocationPart, ...] = DEFAULT_ORDER
    overdue_first: bool = True

    def __post_init__(self) -> None:
        if sorted(self.parts) != sorted(DEFAULT_ORDER):
            raise ValidationFailed(
                "the allocation order names each of penalty, interest, principal and fee exactly once",
                code="invalid_allocation_order",
                details={"order": [str(p) for p in self.parts]},
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> AllocationOrder:
        """The order stored on a loan or product; empty means the default order."""
        if not config:
            return cls()
        raw_order = config.get("order", [p.value for p in DEFAULT_ORDER])
        overdue_first = config.get("overdue_first", True)
        if not isinstance(raw_order, list | tuple) or not isinstance(overdue_first, bool):
            raise ValidationFailed("invalid allocation order", code="invalid_allocation_order")
        try:
            parts = tuple(AllocationPart(p) for p in raw_order)
        except ValueError:
            raise ValidationFailed(
                "unknown part in the allocation order",
                code="invalid_allocation_order",
                details={"order": [str(p) for p in raw_order]},
            ) from None
        # A product may leave parts out (fees, when it has none): they come last, in the default order.
        if len(set(parts)) == len(parts):
            parts += tuple(p for p in DEFAULT_ORDER if p not in parts)
        return cls(parts=parts, overdue_first=overdue_first)


# -- the rule over columns ------------------------------------------------------------------------------


def _int64(values: Any, name: str) -> Int64Array:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        # A float array would round money silently: only integers are amounts.
        raise TypeError(f"{name} must be integer minor units, got dtype {array.dtype}")
    result: Int64Array = array.astype(np.int64)
    if (result < 0).any():
        raise ValueError(f"{name} must not be negative")
    return result


def allocate_columns(amounts: Any, owed: Any) -> tuple[Int64Array, Int64Array]:
    """Fill buckets front to back: ``amounts`` has shape ``(L,)``, ``owed`` ``(L, B)`` with every row's
    buckets already in priority order. Returns ``(paid (L, B), excess (L,))`` where every row's
    ``paid.sum() + excess == amount``, ``0 <= paid <= owed`` and no bucket is paid while an earlier
    one is short."""
    amt = _int64(amounts, "amounts")
    due = _int64(owed, "owed")
    if amt.ndim != 1 or due.ndim != 2 or due.shape[0] != amt.shape[0]:
        raise ValueError("amounts must be (L,) and owed (L, B)")
    cumulative = np.cumsum(due, axis=1)
    before = cumulative - due
    paid: Int64Array = np.clip(amt[:, None] - before, 0, due)
    total_owed = cumulative[:, -1] if due.shape[1] else np.zeros_like(amt)
    excess: Int64Array = np.maximum(amt - total_owed, 0)
    return paid, excess


def allocate(
    amounts: Any,
    owed: Any,
    order: AllocationOrder,
    trailing: Any | None = None,
) -> tuple[Int64Array, Int64Array, Int64Array]:
    """Allocate ``amounts`` ``(L,)`` over ``owed`` ``(L, N, 4)``: N installments per loan, oldest first
    (pad with zeros), and the four parts as columns in ``order.parts``. ``trailing`` ``(L, T)`` are
    buckets paid only after every installment part (a prepayment's principal). Returns
    ``(paid (L, N, 4), trailing_paid (L, T), excess (L,))``."""
    due = _int64(owed, "owed")
    if due.ndim != 3 or due.shape[2] != len(order.parts):
        raise ValueError("owed must be (L, N, parts)")
    n_loans, n_inst, n_parts = due.shape
    tail = np.zeros((n_loans, 0), dtype=np.int64) if trailing is None else _int64(trailing, "trailing")
    if tail.ndim != 2 or tail.shape[0] != n_loans:
        raise ValueError("trailing must be (L, T)")
    # Installment-major (by installment) or part-major (by part) flattening: the only difference
    # between the two allocation styles.
    seq = due if order.overdue_first else due.transpose(0, 2, 1)
    flat = np.concatenate([seq.reshape(n_loans, n_inst * n_parts), tail], axis=1)
    paid_flat, excess = allocate_columns(amounts, flat)
    head = paid_flat[:, : n_inst * n_parts]
    if order.overdue_first:
        paid = head.reshape(n_loans, n_inst, n_parts)
    else:
        paid = head.reshape(n_loans, n_parts, n_inst).transpose(0, 2, 1)
    return np.ascontiguousarray(paid), paid_flat[:, n_inst * n_parts :], excess


# -- one loan -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """What one installment still owes, by part (minor units)."""

    n: int
    penalty: int = 0
    interest: int = 0
    principal: int = 0
    fee: int = 0

    def part(self, name: AllocationPart) -> int:
        return int(getattr(self, name.value))


@dataclass(frozen=True)
class InstallmentAllocation:
    n: int
    penalty: int
    interest: int
    principal: int
    fee: int

    @property
    def total(self) -> int:
        return self.penalty + self.interest + self.principal + self.fee


@dataclass(frozen=True)
class Allocation:
    """How one amount was split: per installment and part, principal prepaid beyond the due
    installments, and the excess left over (a credit balance)."""

    installments: tuple[InstallmentAllocation, ...]
    prepaid_principal: int
    excess: int

    def total(self, part: AllocationPart) -> int:
        return sum(getattr(i, part.value) for i in self.installments)

    def totals(self) -> dict[str, int]:
        """Per part, with prepaid principal counted in ``principal``; ``credit`` is the excess."""
        result = {p.value: self.total(p) for p in AllocationPart}
        result[AllocationPart.PRINCIPAL.value] += self.prepaid_principal
        result["credit"] = self.excess
        return result


def allocate_one(
    amount: int,
    dues: Sequence[Due],
    order: AllocationOrder,
    *,
    prepayable_principal: int = 0,
) -> Allocation:
    """Allocate one repayment over one loan's due installments (given oldest first), then up to
    ``prepayable_principal`` of principal not yet due; the rest is excess. A batch of one."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationFailed(
            "the amount must be a non-negative integer of minor units", code="invalid_amount"
        )
    owed = np.array([[[d.part(p) for p in order.parts] for d in dues]], dtype=np.int64).reshape(
        1, len(dues), len(order.parts)
    )
    paid, tail, excess = allocate(
        np.array([amount], dtype=np.int64), owed, order, np.array([[prepayable_principal]], dtype=np.int64)
    )
    rows = []
    for i, d in enumerate(dues):
        split = {p.value: int(paid[0, i, k]) for k, p in enumerate(order.parts)}
        rows.append(InstallmentAllocation(n=d.n, **split))
    return Allocation(installments=tuple(rows), prepaid_principal=int(tail[0, 0]), excess=int(excess[0]))
