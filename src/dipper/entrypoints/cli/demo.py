"""The demo bank: one tenant, a user per role, and a few opening journal entries.

Every step looks up or uses a stable key first, so seeding the same database again creates nothing
twice and fails on nothing: the bank is found by its code, users by username, and journal entries
are posted with fixed client keys and fixed value dates (the ledger replays the first entry for a
repeated key with the same content, so the content must not depend on the day the demo runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from dipper.access import commands as access_commands
from dipper.access import queries as access_queries
from dipper.accounting import commands as accounting_commands
from dipper.accounting import queries as accounting_queries
from dipper.bootstrap import Container
from dipper.kernel.errors import Conflict
from dipper.kernel.ids import new_id
from dipper.kernel.uow import Actor

DEMO_CODE = "demo"
DEMO_NAME = "示范农商银行 Demo Rural Commercial Bank"
# Documented in the README and printed by `dipper demo`; never use it outside a demo database.
DEMO_PASSWORD = "dipper-demo-2026"
DEMO_ACTOR = Actor.system("cli.demo")
CURRENCY = "CNY"
DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "系统管理员 Administrator", "admin"),
    DemoUser("pm", "产品经理 Product Manager", "product_manager"),
    DemoUser("risk", "风险分析师 Risk Analyst", "risk_analyst"),
    DemoUser("ops", "运营专员 Operations", "operations"),
    DemoUser("collector", "催收专员 Collector", "collector"),
    DemoUser("abs", "资产证券化分析师 ABS Analyst", "abs_analyst"),
    DemoUser("auditor", "审计员 Auditor", "auditor"),
    DemoUser("viewer", "只读用户 Viewer", "read_only"),
)

# Codes of the default chart of accounts that accounting opens for every new bank (accounting.domain;
# repeated here because entry points may not import a module's domain).
DUE_FROM_BANKS = "1011"  # 存放同业
LOANS = "1303"  # 贷款
PAID_IN_CAPITAL = "4001"  # 实收资本
INTEREST_INCOME = "6011"  # 利息收入


def _yuan(amount: int) -> int:
    """Whole yuan to fen (the ledger's minor unit)."""
    return amount * 100


def _line(account: str, *, debit: int = 0, credit: int = 0) -> accounting_commands.PostingLine:
    return accounting_commands.PostingLine(
        account_code=account, currency=CURRENCY, debit_minor=_yuan(debit), credit_minor=_yuan(credit)
    )


@dataclass(frozen=True)
class DemoEntry:
    client_key: str
    value_date: date
    description: str
    lines: tuple[accounting_commands.PostingLine, ...]


def _disbursement(key: str, when: date, borrower: str, amount: int) -> DemoEntry:
    return DemoEntry(
        key,
        when,
        f"贷款发放 Loan disbursement: {borrower}",
        (_line(LOANS, debit=amount), _line(DUE_FROM_BANKS, credit=amount)),
    )


def _repayment(key: str, when: date, borrower: str, principal: int, interest: int) -> DemoEntry:
    return DemoEntry(
        key,
        when,
        f"贷款还款 Loan repayment: {borrower}",
        (
            _line(DUE_FROM_BANKS, debit=principal + interest),
            _line(LOANS, credit=principal),
            _line(INTEREST_INCOME, credit=interest),
        ),
    )


DEMO_ENTRIES: tuple[DemoEntry, ...] = (
    DemoEntry(
        "demo-opening-capital",
        date(2026, 1, 5),
        "实收资本注入 Paid-in capital received",
        (_line(DUE_FROM_BANKS, debit=50_000_000), _line(PAID_IN_CAPITAL, credit=50_000_000)),
    ),
    _disbursement("demo-disburse-001", date(2026, 1, 12), "张伟 consumer loan", 200_000),
    _disbursement("demo-disburse-002", date(2026, 1, 20), "李娜 small-business loan", 500_000),
    _disbursement("demo-disburse-003", date(2026, 2, 3), "王芳 consumer loan", 80_000),
    _repayment("demo-repay-001-01", date(2026, 2, 12), "张伟 instalment 1", 16_000, 1_200),
    _repayment("demo-repay-002-01", date(2026, 2, 20), "李娜 instalment 1", 40_000, 3_500),
    _repayment("demo-repay-003-01", date(2026, 3, 3), "王芳 instalment 1", 6_500, 640),
    _repayment("demo-repay-001-02", date(2026, 3, 12), "张伟 instalment 2", 16_100, 1_100),
)


@dataclass
class DemoInfo:
    tenant_id: str
    code: str
    name: str
    password: str
    admin_username: str
    users: list[DemoUser]
    tenant_created: bool = False
    users_created: list[str] = field(default_factory=list)
    entry_ids: list[str] = field(default_factory=list)
    entries_posted: int = 0  # by this run; the others were already in the ledger


def demo_steps() -> int:
    """How many steps ``seed_demo`` reports (for a progress bar)."""
    return 1 + len(DEMO_USERS) + len(DEMO_ENTRIES)


def _ensure_tenant(container: Container) -> tuple[str, bool]:
    found = access_queries.tenant_by_code(container.uow(None, DEMO_ACTOR), DEMO_CODE)
    if found is not None:
        return found["id"], False
    tenant_id = new_id()
    try:
        container.handle(
            access_commands.CreateTenant(tenant_id=tenant_id, code=DEMO_CODE, name=DEMO_NAME),
            actor=DEMO_ACTOR,
        )
    except Conflict as exc:
        # Another `dipper demo` created it between our look-up and our insert: use theirs.
        if exc.code != "tenant_exists":
            raise
        found = access_queries.tenant_by_code(container.uow(None, DEMO_ACTOR), DEMO_CODE)
        assert found is not None
        return found["id"], False
    return tenant_id, True


def _ensure_user(container: Container, tenant_id: str, user: DemoUser) -> bool:
    if access_queries.find_user_by_username(container.uow(tenant_id, DEMO_ACTOR), user.username):
        return False
    try:
        container.handle(
            access_commands.CreateUser(
                tenant_id=tenant_id,
                username=user.username,
                display_name=user.display_name,
                password=DEMO_PASSWORD,
                roles=(user.role,),
            ),
            actor=DEMO_ACTOR,
        )
    except Conflict as exc:
        if exc.code != "user_exists":
            raise
        return False
    return True


def seed_demo(container: Container, progress: Callable[[str], None] | None = None) -> DemoInfo:
    """Create (or find) the demo bank, its users and its opening entries; safe to run again.

    ``progress`` is called once per step with a short description, ``demo_steps()`` times in all.
    The schema must already be current (``dipper.persistence.migrate.upgrade``).
    """
    step = progress or (lambda _label: None)
    tenant_id, created = _ensure_tenant(container)
    step(f"bank {DEMO_CODE}")
    info = DemoInfo(
        tenant_id=tenant_id,
        code=DEMO_CODE,
        name=DEMO_NAME,
        password=DEMO_PASSWORD,
        admin_username=DEMO_USERS[0].username,
        users=list(DEMO_USERS),
        tenant_created=created,
    )
    for user in DEMO_USERS:
        if _ensure_user(container, tenant_id, user):
            info.users_created.append(user.username)
        step(f"user {user.username}")
    for entry in DEMO_ENTRIES:
        result: accounting_queries.PostingResult = container.handle(
            accounting_commands.PostJournalEntry(
                tenant_id=tenant_id,
                client_key=entry.client_key,
                value_date=entry.value_date,
                description=entry.description,
                lines=entry.lines,
                source=DEMO_SOURCE,
            ),
            actor=DEMO_ACTOR,
        )
        info.entry_ids.append(result.entry_id)
        if not result.replayed:
            info.entries_posted += 1
        step(f"entry {entry.client_key}")
    return info
