"""The vocabulary of a loan contract, shared by products, schedules and loan accounts."""

from __future__ import annotations

from enum import StrEnum


class RepaymentMethod(StrEnum):
    """How principal and interest are repaid (还款方式)."""

    EQUAL_INSTALLMENT = "equal-installment"  # 等额本息: the same total every period
    EQUAL_PRINCIPAL = "equal-principal"  # 等额本金: the same principal every period, falling interest
    INTEREST_ONLY = "interest-only"  # 先息后本: interest each period, principal at maturity
    BULLET = "bullet"  # 到期一次还本付息: everything at maturity
    REVOLVING = "revolving"  # 随借随还: daily interest on the drawn balance, repay any time


class AllocationPart(StrEnum):
    """What a repayment can pay, in an order the product sets."""

    FEE = "fee"
    PENALTY = "penalty"
    INTEREST = "interest"
    PRINCIPAL = "principal"


class PrepaymentMode(StrEnum):
    """What a partial prepayment changes (提前还款)."""

    SHORTEN_TERM = "shorten-term"
    LOWER_INSTALLMENT = "lower-installment"
