"""The demo bank: one tenant and a user per role; its loan portfolio is ``demo_portfolio``.

Every step looks up first, so seeding the same database again creates nothing twice and fails on
nothing: the bank is found by its code and users by username. The portfolio is booked once, when
the bank has no loan yet (``demo_portfolio.has_portfolio``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dipper.access import commands as access_commands
from dipper.access import queries as access_queries
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


def demo_steps() -> int:
    """How many steps ``seed_demo`` reports (for a progress bar)."""
    return 1 + len(DEMO_USERS)


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
    """Create (or find) the demo bank and its users; safe to run again.

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
    return info


def check_seedable(container: Container, tenant_id: str) -> None:
    """Refuse to book a portfolio into a bank whose ledger already holds entries but no loan: an
    older demo's hand-made entries (or an interrupted first run) would never reconcile with it."""
    if accounting_queries.list_entries(container.uow(tenant_id, DEMO_ACTOR), limit=1).total:
        raise Conflict(
            "this database holds a demo bank with journal entries but no loan portfolio (an older demo, "
            "or a first run that was interrupted): delete the database file (demo.db) and run it again",
            code="demo_database_outdated",
        )
