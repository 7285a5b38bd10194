"""Handlers of the accounting module: the only code that writes to the general ledger."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from dipper.access import events as access_events
from dipper.accounting import commands, domain, events
from dipper.accounting.adapters import Account, JournalEntry, JournalLine
from dipper.accounting.queries import PostingResult
from dipper.kernel.errors import Conflict, NotFound, PermissionDenied
from dipper.kernel.ids import new_id
from dipper.persistence.audit import column_keys
from dipper.persistence.base import utcnow
from dipper.persistence.uow import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)


def _check_tenant(
    cmd: commands.PostJournalEntry | commands.ReverseJournalEntry | commands.OpenAccount,
    uow: SqlAlchemyUnitOfWork,
) -> None:
    # The unit of work's tenant scopes every query; a command naming another bank is a wiring bug.
    if uow.tenant_id is None or uow.tenant_id != cmd.tenant_id:
        raise PermissionDenied("the command's bank is not the caller's bank", code="tenant_mismatch")


def _find_by_client_key(uow: SqlAlchemyUnitOfWork, client_key: str) -> JournalEntry | None:
    return uow.session.scalar(select(JournalEntry).where(JournalEntry.client_key == client_key))


def _replay(uow: SqlAlchemyUnitOfWork, client_key: str, digest: str) -> PostingResult | None:
    """The result of an earlier request with this key, if there was one (a retry), else ``None``."""
    existing = _find_by_client_key(uow, client_key)
    if existing is None:
        return None
    domain.check_idempotent_replay(
        stored_digest=existing.content_digest, digest=digest, client_key=client_key
    )
    return PostingResult(entry_id=existing.id, replayed=True)


#: Entries and lines are written with SQL, built once: a posting is on the path of every repayment.
_INSERT_ENTRY = insert(JournalEntry.__table__)  # type: ignore[arg-type]
_INSERT_LINES = insert(JournalLine.__table__)  # type: ignore[arg-type]
_ENTRY_KEYS = column_keys(JournalEntry)


def _write_entry(
    uow: SqlAlchemyUnitOfWork,
    *,
    client_key: str,
    value_date: date,
    description: str,
    source: str,
    digest: str,
    lines: Sequence[commands.PostingLine],
    account_ids: dict[str, str],
    reversal_of: str | None = None,
) -> str:
    """Insert the entry and its lines now (a later query in the transaction sees them; a duplicate
    client key or reversal fails here) and audit the entry as the flush would; returns its id."""
    tenant_id = str(uow.tenant_id)
    entry_id = new_id()
    entry: dict[str, Any] = {
        "id": entry_id,
        "tenant_id": tenant_id,
        "client_key": client_key,
        "value_date": value_date,
        "posted_at": utcnow(),
        "description": description,
        "source": source,
        "reversal_of": reversal_of,
        "content_digest": digest,
        "created_by": uow.actor.id,
    }
    conn = uow.session.connection()
    conn.execute(_INSERT_ENTRY, entry)
    rows = [
        {
            "id": new_id(),
            "tenant_id": tenant_id,
            "entry_id": entry_id,
            "line_no": no,
            "account_id": account_ids[ln.account_code],
            "account_code": ln.account_code,
            "currency": ln.currency,
            "debit_minor": ln.debit_minor,
            "credit_minor": ln.credit_minor,
            "value_date": value_date,
            "memo": ln.memo,
        }
        for no, ln in enumerate(lines, start=1)
    ]
    if rows:
        conn.execute(_INSERT_LINES, rows)
    uow.audit(
        entity_type=JournalEntry.__tablename__,
        entity_id=entry_id,
        operation="create",
        before=None,
        after={k: entry[k] for k in _ENTRY_KEYS},
    )
    return entry_id


_ACCOUNTS: Any = Account.__table__
_ACCOUNT_STATES = select(_ACCOUNTS.c.code, _ACCOUNTS.c.id, _ACCOUNTS.c.status).where(
    _ACCOUNTS.c.tenant_id == bindparam("tenant_id"), _ACCOUNTS.c.code.in_(bindparam("codes", expanding=True))
)


def _usable_accounts(uow: SqlAlchemyUnitOfWork, codes: set[str]) -> dict[str, str]:
    """The ids of ``codes`` in the bank's chart, once each is known and open for posting.

    Read on every posting (an account's status may change) as plain rows, with a statement built
    once: the ORM's objects are not needed to check a status and take an id."""
    rows = uow.session.connection().execute(
        _ACCOUNT_STATES, {"tenant_id": uow.tenant_id, "codes": sorted(codes)}
    )
    known = {code: (account_id, status) for code, account_id, status in rows}
    domain.check_accounts_usable(
        codes, {code: domain.AccountState(code, status) for code, (_, status) in known.items()}
    )
    return {code: account_id for code, (account_id, _) in known.items()}


def _post(
    cmd: commands.PostJournalEntry, uow: SqlAlchemyUnitOfWork, *, new_key: bool = False
) -> PostingResult:
    """Validate and write an entry in the caller's open transaction (no commit); ``new_key``: see
    ``queries.post_within``."""
    domain.check_client_key(cmd.client_key)
    lines = cmd.lines
    description = domain.check_entry(
        description=cmd.description, source=cmd.source, value_date=cmd.value_date, lines=lines
    )
    digest = domain.posting_digest(
        value_date=cmd.value_date, description=description, source=cmd.source, lines=lines
    )
    _check_tenant(cmd, uow)
    replay = None if new_key else _replay(uow, cmd.client_key, digest)
    if replay is not None:
        return replay
    account_ids = _usable_accounts(uow, {ln.account_code for ln in lines})
    entry_id = _write_entry(
        uow,
        client_key=cmd.client_key,
        value_date=cmd.value_date,
        description=description,
        source=cmd.source,
        digest=digest,
        lines=lines,
        account_ids=account_ids,
    )
    uow.emit(
        events.JournalEntryPosted(
            tenant_id=cmd.tenant_id,
            entry_id=entry_id,
            value_date=cmd.value_date.isoformat(),
            client_key=cmd.client_key,
            source=cmd.source,
        )
    )
    return PostingResult(entry_id=entry_id, replayed=False)


def post_within(
    uow: SqlAlchemyUnitOfWork, cmd: commands.PostJournalEntry, *, new_key: bool = False
) -> PostingResult:
    """Post inside another module's open unit of work, so that its change and the entry commit
    (or roll back) together. A duplicate client key fails the insert (or, concurrently, the
    commit): the caller's transaction is then lost."""
    return _post(cmd, uow, new_key=new_key)


def post_journal_entry(cmd: commands.PostJournalEntry, uow: SqlAlchemyUnitOfWork) -> PostingResult:
    """Post a balanced entry once per client key; a retry returns the first entry unchanged."""
    with uow:
        try:
            result = _post(cmd, uow)
            if result.replayed:
                return result
            uow.commit()
        except IntegrityError:
            # A concurrent request with the same key committed between our look-up and our insert.
            uow.rollback()
            digest = domain.posting_digest(
                value_date=cmd.value_date,
                description=domain.check_entry(
                    description=cmd.description, source=cmd.source, value_date=cmd.value_date, lines=cmd.lines
                ),
                source=cmd.source,
                lines=cmd.lines,
            )
            replay = _replay(uow, cmd.client_key, digest)
            if replay is None:
                raise
            return replay
        return result


def reverse_journal_entry(cmd: commands.ReverseJournalEntry, uow: SqlAlchemyUnitOfWork) -> PostingResult:
    """Post the mirror image of an entry; the original stays as it was, forever."""
    domain.check_client_key(cmd.client_key)
    reason = domain.check_text(cmd.reason, field="reason", max_length=300, code="invalid_reason")
    if cmd.value_date is not None:
        domain.check_value_date(cmd.value_date)
    digest = domain.reversal_digest(entry_id=cmd.entry_id, value_date=cmd.value_date, reason=reason)
    with uow:
        _check_tenant(cmd, uow)
        replay = _replay(uow, cmd.client_key, digest)
        if replay is not None:
            return replay
        original = uow.session.scalar(select(JournalEntry).where(JournalEntry.id == cmd.entry_id))
        if original is None:
            raise NotFound("no such journal entry", code="entry_not_found")
        value_date = cmd.value_date or original.value_date
        _check_reversible(uow, original, value_date)
        original_lines = uow.session.scalars(
            select(JournalLine).where(JournalLine.entry_id == original.id).order_by(JournalLine.line_no)
        ).all()
        lines = domain.mirror(
            commands.PostingLine(
                account_code=ln.account_code,
                currency=ln.currency,
                debit_minor=ln.debit_minor,
                credit_minor=ln.credit_minor,
                memo=ln.memo,
            )
            for ln in original_lines
        )
        try:
            # Closed accounts are still reversed into: a correction must always be possible.
            entry_id = _write_entry(
                uow,
                client_key=cmd.client_key,
                value_date=value_date,
                description=f"冲正 Reversal of {original.id}: {reason}"[: domain.MAX_DESCRIPTION],
                source="reversal",
                digest=digest,
                lines=lines,
                account_ids={ln.account_code: ln.account_id for ln in original_lines},
                reversal_of=original.id,
            )
            uow.emit(
                events.JournalEntryPosted(
                    tenant_id=cmd.tenant_id,
                    entry_id=entry_id,
                    value_date=value_date.isoformat(),
                    client_key=cmd.client_key,
                    source="reversal",
                )
            )
            uow.emit(
                events.JournalEntryReversed(
                    tenant_id=cmd.tenant_id,
                    entry_id=original.id,
                    reversal_entry_id=entry_id,
                    value_date=value_date.isoformat(),
                    client_key=cmd.client_key,
                )
            )
            uow.commit()
        except IntegrityError:
            # Lost a race: either the same key (a retry) or another reversal of the same entry.
            uow.rollback()
            replay = _replay(uow, cmd.client_key, digest)
            if replay is not None:
                return replay
            original = uow.session.scalar(select(JournalEntry).where(JournalEntry.id == cmd.entry_id))
            if original is None:
                raise
            _check_reversible(uow, original, value_date)
            raise
        return PostingResult(entry_id=entry_id, replayed=False)


def _check_reversible(uow: SqlAlchemyUnitOfWork, original: JournalEntry, value_date: date) -> None:
    reversed_by = uow.session.scalar(select(JournalEntry.id).where(JournalEntry.reversal_of == original.id))
    domain.check_reversal(
        original_is_reversal=original.reversal_of is not None,
        already_reversed_by=reversed_by,
        original_value_date=original.value_date,
        value_date=value_date,
    )


def open_account(cmd: commands.OpenAccount, uow: SqlAlchemyUnitOfWork) -> str:
    with uow:
        _check_tenant(cmd, uow)
        parent = None
        if cmd.parent_code is not None:
            row = uow.session.scalar(select(Account).where(Account.code == cmd.parent_code))
            if row is not None:
                parent = domain.ChartAccount(
                    code=row.code,
                    name=row.name,
                    name_en=row.name_en,
                    account_type=domain.AccountType(row.account_type),
                    is_control=row.is_control,
                    contra=row.normal_balance != domain.normal_balance_of(row.account_type),
                )
        code, name, name_en, kind = domain.check_new_account(
            code=cmd.code,
            name=cmd.name,
            name_en=cmd.name_en,
            account_type=cmd.account_type,
            parent=parent,
            parent_code=cmd.parent_code,
        )
        if uow.session.scalar(select(Account.id).where(Account.code == code)):
            raise Conflict(f"account {code} exists", code="account_exists")
        account = Account(
            id=new_id(),
            code=code,
            name=name,
            name_en=name_en,
            account_type=kind.value,
            normal_balance=domain.normal_balance_of(kind, contra=cmd.contra).value,
            parent_code=cmd.parent_code,
            is_control=bool(cmd.is_control),
            status=domain.AccountStatus.ACTIVE.value,
        )
        uow.session.add(account)
        uow.emit(
            events.AccountOpened(
                tenant_id=cmd.tenant_id, account_id=account.id, code=code, account_type=kind.value
            )
        )
        try:
            uow.commit()
        except IntegrityError:  # opened concurrently under the same code
            raise Conflict(f"account {code} exists", code="account_exists") from None
        return account.id


def seed_default_chart(tenant_id: str, uow: SqlAlchemyUnitOfWork) -> int:
    """Add the default chart's missing accounts to a bank; returns how many were added (0 the second time)."""
    for attempt in range(2):
        with uow.for_tenant(tenant_id) as tuow:
            existing = set(tuow.session.scalars(select(Account.code)))
            missing = [a for a in domain.DEFAULT_CHART if a.code not in existing]
            tuow.session.add_all(
                Account(
                    code=a.code,
                    name=a.name,
                    name_en=a.name_en,
                    account_type=a.account_type.value,
                    normal_balance=a.normal_balance.value,
                    parent_code=a.parent_code,
                    is_control=a.is_control,
                    status=domain.AccountStatus.ACTIVE.value,
                )
                for a in missing
            )
            try:
                tuow.commit()
            except IntegrityError:
                if attempt:
                    raise
                continue  # seeded concurrently by someone else: look again
            return len(missing)
    return 0


def on_tenant_created(event: access_events.TenantCreated, uow: SqlAlchemyUnitOfWork) -> None:
    added = seed_default_chart(event.tenant_id, uow)
    log.info("seeded %d accounts for tenant %s", added, event.tenant_id)


COMMAND_HANDLERS: dict[type, Callable[..., Any]] = {
    commands.PostJournalEntry: post_journal_entry,
    commands.ReverseJournalEntry: reverse_journal_entry,
    commands.OpenAccount: open_account,
}
EVENT_HANDLERS: dict[type, list[Callable[..., Any]]] = {
    access_events.TenantCreated: [on_tenant_created],
}
