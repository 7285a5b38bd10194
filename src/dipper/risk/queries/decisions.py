"""Read side of risk decisions and of the manual review queue.

Views never show personal data in plain: the stored inputs' personal fields (resident ID, name,
phone, bank card, ...) are decrypted only to be masked (``110***********1239``). ``decision_inputs``
returns them in plain for in-process callers that must replay a decision; no HTTP route uses it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select

from dipper.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from dipper.kernel.masking import mask_bank_card, mask_id_number, mask_name, mask_phone
from dipper.persistence.uow import SqlAlchemyUnitOfWork
from dipper.risk.adapters.decision_tables import RiskDecision, RiskReviewCase

__all__ = [
    "CASE_STATUSES",
    "DecisionPage",
    "ReviewPage",
    "decision_inputs",
    "get_decision",
    "get_review_case",
    "list_decisions",
    "list_review_cases",
    "mask_inputs",
]

CASE_STATUSES: Final = ("open", "assigned", "approved", "declined")
MAX_PAGE: Final = 200
MAX_OFFSET: Final = 10_000_000
_SECTIONS: Final = ("application", "bureau", "behaviour")
_MASKS: Final = {
    "id_number": mask_id_number,
    "name": mask_name,
    "full_name": mask_name,
    "phone": mask_phone,
    "mobile": mask_phone,
    "bank_card": mask_bank_card,
    "bank_card_number": mask_bank_card,
}


def _tenant(uow: SqlAlchemyUnitOfWork) -> str:
    if uow.tenant_id is None:
        raise PermissionDenied("risk decisions need a bank", code="tenant_required")
    return uow.tenant_id


def _check_page(limit: int, offset: int) -> None:
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", code="invalid_limit")
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed(f"offset must be 0-{MAX_OFFSET}", code="invalid_offset")


def _mask(key: str, value: object) -> object:
    if value is None:
        return None
    masker = _MASKS.get(key)
    return masker(str(value)) if masker else "*" * min(len(str(value)), 12)


def mask_inputs(inputs: Mapping[str, Any], personal: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The stored inputs with the personal fields put back, masked."""
    out = json.loads(json.dumps(dict(inputs)))
    for section in _SECTIONS:
        for key, value in (personal.get(section) or {}).items():
            out.setdefault(section, {})[key] = _mask(key, value)
    return dict(out)


def _personal(row: RiskDecision) -> dict[str, dict[str, Any]]:
    if not row.inputs_personal:
        return {}
    doc = json.loads(row.inputs_personal)
    return {s: dict(doc.get(s) or {}) for s in _SECTIONS}


def _plain_inputs(row: RiskDecision) -> dict[str, Any]:
    out = json.loads(json.dumps(row.inputs))
    for section, values in _personal(row).items():
        out.setdefault(section, {}).update(values)
    return dict(out)


def _summary(row: RiskDecision) -> dict[str, Any]:
    return {
        "id": row.id,
        "stage": row.stage,
        "customer_id": row.customer_id,
        "product_code": row.product_code,
        "application_key": row.application_key,
        "decision": row.decision,
        "arm": row.arm,
        "grade": row.grade,
        "limit_minor": row.limit_minor,
        "currency": row.currency,
        "annual_rate": None if row.annual_rate is None else str(row.annual_rate),
        "score": row.score,
        "strategy_id": row.strategy_id,
        "strategy_version": row.strategy_version,
        "setup_source": row.setup_source,
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def _case_view(case: RiskReviewCase, decision: RiskDecision | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": case.id,
        "decision_id": case.decision_id,
        "status": case.status,
        "assignee": case.assignee,
        "assigned_at": case.assigned_at,
        "limit_minor": case.limit_minor,
        "annual_rate": None if case.annual_rate is None else str(case.annual_rate),
        "note": case.note,
        "resolved_by": case.resolved_by,
        "resolved_at": case.resolved_at,
        "created_at": case.created_at,
    }
    if decision is not None:
        out["decision"] = _summary(decision)
    return out


def decision_view(row: RiskDecision, case: RiskReviewCase | None) -> dict[str, Any]:
    """The full, masked view of a stored decision (record, inputs, review case)."""
    return {
        **_summary(row),
        "input_digest": row.input_digest,
        "strategy_hash": row.strategy_hash,
        "feature_set_hash": row.feature_set_hash,
        "record": row.record,
        "inputs": mask_inputs(row.inputs, _personal(row)),
        "review_case": None if case is None else _case_view(case),
    }


def _decision(uow: SqlAlchemyUnitOfWork, decision_id: str) -> RiskDecision:
    tenant = _tenant(uow)
    row = uow.session.execute(
        select(RiskDecision).where(RiskDecision.tenant_id == tenant, RiskDecision.id == decision_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("no such decision", code="decision_not_found")
    return row


def _case_of(uow: SqlAlchemyUnitOfWork, decision_id: str) -> RiskReviewCase | None:
    return uow.session.execute(
        select(RiskReviewCase).where(
            RiskReviewCase.tenant_id == _tenant(uow), RiskReviewCase.decision_id == decision_id
        )
    ).scalar_one_or_none()


def get_decision(uow: SqlAlchemyUnitOfWork, decision_id: str) -> dict[str, Any]:
    with uow:
        row = _decision(uow, decision_id)
        return decision_view(row, _case_of(uow, row.id))


def decision_inputs(uow: SqlAlchemyUnitOfWork, decision_id: str) -> dict[str, Any]:
    """The stored inputs in plain (personal fields decrypted): for in-process replay only."""
    with uow:
        return _plain_inputs(_decision(uow, decision_id))


@dataclass(frozen=True)
class DecisionPage:
    decisions: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def list_decisions(
    uow: SqlAlchemyUnitOfWork,
    *,
    decision: str | None = None,
    customer_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> DecisionPage:
    _check_page(limit, offset)
    if decision is not None and decision not in ("approve", "review", "decline"):
        raise ValidationFailed("decision must be approve, review or decline", code="invalid_decision")
    with uow:
        tenant = _tenant(uow)
        where = [RiskDecision.tenant_id == tenant]
        if decision is not None:
            where.append(RiskDecision.decision == decision)
        if customer_id is not None:
            where.append(RiskDecision.customer_id == customer_id)
        total = uow.session.execute(select(func.count()).select_from(RiskDecision).where(*where)).scalar_one()
        rows = uow.session.execute(
            select(RiskDecision)
            .where(*where)
            .order_by(RiskDecision.created_at.desc(), RiskDecision.id.desc())
            .limit(limit)
            .offset(offset)
        ).scalars()
        return DecisionPage([_summary(r) for r in rows], int(total), limit, offset)


@dataclass(frozen=True)
class ReviewPage:
    cases: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def list_review_cases(
    uow: SqlAlchemyUnitOfWork,
    *,
    status: str | None = None,
    assignee: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ReviewPage:
    """The review queue, oldest first (``status=None``: the cases still to work, open and assigned)."""
    _check_page(limit, offset)
    if status is not None and status not in CASE_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(CASE_STATUSES)}", code="invalid_status")
    with uow:
        tenant = _tenant(uow)
        where = [RiskReviewCase.tenant_id == tenant]
        where.append(
            RiskReviewCase.status == status
            if status is not None
            else RiskReviewCase.status.in_(("open", "assigned"))
        )
        if assignee is not None:
            where.append(RiskReviewCase.assignee == assignee)
        total = uow.session.execute(
            select(func.count()).select_from(RiskReviewCase).where(*where)
        ).scalar_one()
        rows = uow.session.execute(
            select(RiskReviewCase, RiskDecision)
            .join(
                RiskDecision,
                (RiskDecision.id == RiskReviewCase.decision_id) & (RiskDecision.tenant_id == tenant),
            )
            .where(*where)
            .order_by(RiskReviewCase.created_at, RiskReviewCase.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return ReviewPage([_case_view(c, d) for c, d in rows], int(total), limit, offset)


def get_review_case(uow: SqlAlchemyUnitOfWork, case_id: str) -> dict[str, Any]:
    with uow:
        tenant = _tenant(uow)
        row = uow.session.execute(
            select(RiskReviewCase, RiskDecision)
            .join(RiskDecision, RiskDecision.id == RiskReviewCase.decision_id)
            .where(RiskReviewCase.tenant_id == tenant, RiskReviewCase.id == case_id)
        ).first()
        if row is None:
            raise NotFound("no such review case", code="review_case_not_found")
        case, decision = row
        return {**_case_view(case), "decision": decision_view(decision, None)}
