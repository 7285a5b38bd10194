"""The allocation rule: one cumulative sum and a clip over buckets, for one loan or many."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dipper.kernel.errors import ValidationFailed
from dipper.loans.domain.allocation import (
    AllocationOrder,
    Due,
    allocate,
    allocate_columns,
    allocate_one,
)
from dipper.loans.domain.terms import AllocationPart as P

amounts_st = st.integers(min_value=0, max_value=10**10)
owed_st = st.integers(min_value=0, max_value=10**9)


@st.composite
def orders(draw: st.DrawFn) -> AllocationOrder:
    parts = draw(st.permutations(list(P)))
    return AllocationOrder(parts=tuple(parts), overdue_first=draw(st.booleans()))


@st.composite
def books(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch: L loans, N installments (zero-padded) x 4 parts, one trailing prepayment bucket."""
    n_loans = draw(st.integers(1, 6))
    n_inst = draw(st.integers(0, 5))
    owed = np.array(
        draw(st.lists(owed_st, min_size=n_loans * n_inst * 4, max_size=n_loans * n_inst * 4)), dtype=np.int64
    ).reshape(n_loans, n_inst, 4)
    trailing = np.array(draw(st.lists(owed_st, min_size=n_loans, max_size=n_loans)), dtype=np.int64)
    totals = owed.reshape(n_loans, -1).sum(axis=1) + trailing
    # Mix amounts below, at and above what is owed, so all three regimes are exercised.
    amounts = np.array(
        [
            draw(st.one_of(st.integers(0, int(t)), st.just(int(t)), st.integers(int(t), int(t) + 10**6)))
            for t in totals
        ],
        dtype=np.int64,
    )
    return amounts, owed, trailing.reshape(n_loans, 1)


def _sequence(owed: np.ndarray, trailing: np.ndarray, order: AllocationOrder) -> np.ndarray:
    """The buckets of each loan in priority order, written out plainly (the reference for the order)."""
    rows = []
    for loan in range(owed.shape[0]):
        seq: list[int] = []
        if order.overdue_first:
            for inst in range(owed.shape[1]):
                seq += [int(owed[loan, inst, k]) for k in range(4)]
        else:
            for k in range(4):
                seq += [int(owed[loan, inst, k]) for inst in range(owed.shape[1])]
        seq += [int(x) for x in trailing[loan]]
        rows.append(seq)
    return np.array(rows, dtype=np.int64).reshape(owed.shape[0], -1)


@settings(max_examples=300, deadline=None)
@given(books(), orders())
def test_allocation_sums_exactly_and_respects_the_order(book, order):
    amounts, owed, trailing = book
    paid, tail, excess = allocate(amounts, owed, order, trailing)
    # Exactly the amount, to the fen: installments + prepaid principal + excess.
    assert (paid.reshape(len(amounts), -1).sum(axis=1) + tail.sum(axis=1) + excess == amounts).all()
    # Never more than a bucket owes, never negative.
    assert (paid >= 0).all() and (paid <= owed).all()
    assert (tail >= 0).all() and (tail <= trailing).all()
    # Order: in the priority sequence, a bucket gets money only when every earlier one is full.
    due_seq = _sequence(owed, trailing, order)
    paid_seq = _sequence(paid, tail, order)
    for loan in range(len(amounts)):
        short = np.nonzero(paid_seq[loan] < due_seq[loan])[0]
        if short.size:
            first_short = short[0]
            assert (paid_seq[loan, first_short + 1 :] == 0).all()
            assert excess[loan] == 0  # excess only when everything is paid
        else:
            assert excess[loan] == amounts[loan] - due_seq[loan].sum()


@settings(max_examples=100, deadline=None)
@given(books(), orders())
def test_a_batch_equals_its_loans_one_by_one(book, order):
    amounts, owed, trailing = book
    paid, tail, excess = allocate(amounts, owed, order, trailing)
    for loan in range(len(amounts)):
        p1, t1, e1 = allocate(
            amounts[loan : loan + 1], owed[loan : loan + 1], order, trailing[loan : loan + 1]
        )
        assert (p1[0] == paid[loan]).all() and (t1[0] == tail[loan]).all() and e1[0] == excess[loan]


def test_default_order_pays_oldest_installment_penalty_interest_principal_fee_first():
    dues = [
        Due(n=1, penalty=50, interest=100, principal=1000, fee=10),
        Due(n=2, penalty=0, interest=90, principal=1010, fee=10),
    ]
    a = allocate_one(1200, dues, AllocationOrder())
    assert [(i.penalty, i.interest, i.principal, i.fee) for i in a.installments] == [
        (50, 100, 1000, 10),
        (0, 40, 0, 0),
    ]
    assert a.excess == 0 and a.prepaid_principal == 0
    assert a.totals() == {"penalty": 50, "interest": 140, "principal": 1000, "fee": 10, "credit": 0}


def test_part_major_order_pays_all_interest_before_any_principal():
    dues = [Due(n=1, interest=100, principal=1000), Due(n=2, interest=90, principal=1010)]
    order = AllocationOrder(parts=(P.INTEREST, P.PENALTY, P.PRINCIPAL, P.FEE), overdue_first=False)
    a = allocate_one(500, dues, order)
    assert [(i.interest, i.principal) for i in a.installments] == [(100, 310), (90, 0)]


def test_prepaid_principal_comes_after_every_due_part_and_excess_after_that():
    dues = [Due(n=1, interest=100, principal=1000, fee=5)]
    order = AllocationOrder(parts=(P.PRINCIPAL, P.INTEREST, P.PENALTY, P.FEE), overdue_first=False)
    a = allocate_one(1105 + 300, dues, order, prepayable_principal=250)
    assert a.installments[0].total == 1105
    assert a.prepaid_principal == 250 and a.excess == 50


def test_no_due_installments_is_all_excess():
    a = allocate_one(777, [], AllocationOrder())
    assert a.installments == () and a.excess == 777


def test_allocation_order_from_config():
    assert AllocationOrder.from_config({}) == AllocationOrder()
    o = AllocationOrder.from_config(
        {"order": ["interest", "principal", "penalty", "fee"], "overdue_first": False}
    )
    assert o.parts == (P.INTEREST, P.PRINCIPAL, P.PENALTY, P.FEE) and not o.overdue_first
    # Parts a product leaves out come last, in the default order.
    assert AllocationOrder.from_config({"order": ["interest", "principal", "penalty"]}).parts == (
        P.INTEREST,
        P.PRINCIPAL,
        P.PENALTY,
        P.FEE,
    )
    for bad in (
        {"order": ["interest", "interest", "penalty", "fee"]},
        {"order": ["tax", "principal", "penalty", "fee"]},
        {"order": "interest", "overdue_first": True},
        {"overdue_first": "yes"},
    ):
        with pytest.raises(ValidationFailed) as e:
            AllocationOrder.from_config(bad)
        assert e.value.code == "invalid_allocation_order"


def test_floats_and_negatives_never_reach_the_rule():
    with pytest.raises(TypeError):
        allocate_columns(np.array([1.5]), np.array([[1]]))
    with pytest.raises(ValueError, match="negative"):
        allocate_columns(np.array([1]), np.array([[-1]]))
    with pytest.raises(ValidationFailed):
        allocate_one(-1, [], AllocationOrder())
