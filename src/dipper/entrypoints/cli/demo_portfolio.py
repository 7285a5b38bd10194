"""The demo bank's living portfolio: products, borrowers, credit lines and loans booked through the
loan core's own commands, then a year of history simulated day by day.

Each simulated day the container's clock stands at 10:00 of that date (Beijing time); the day's new
loans are booked and paid out on credit lines, borrowers pay by their profile, the payment channel's
file is reconciled, and the end of day runs for that date. Everything goes through ``Container.handle``
(the same commands the API sends), so the sub-ledger and the GL are the real ones and reconcile.

Each origination starts from an application (``_application``): the inputs the risk module's
default feature set reads (declared income, employment, scene, hour, KYC and device results, and the
simulated bureau's report on the borrower). The borrower's profile is drawn from a latent default risk
that those inputs drive (``_default_risk``), so the history carries signal a model can learn: the demo
trains its scorecard and boosted model on it (``demo_risk``).

Borrower profiles (drawn per loan from a seeded ``random.Random``, so the same seed, size and dates
give the same portfolio):

- ``on_time`` pays each installment on its due date;
- ``late`` pays 5-40 days late, now and then long enough to roll into M2/M3, then catches up;
- ``prepay`` pays on time, then prepays: in full (the loan closes) or in part (the schedule is rebuilt);
- ``default`` pays a few installments and stops: the end of day moves the loan to non-accrual at
  90 days past due; most are written off later, a few bring recoveries, a few cure.

Revolving lines (随借随还) draw and repay at will. Refusals by the loan core are counted by code, not
raised: the summary shows them, and the tests expect none.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from stdnum.cn import ric, uscc

from dipper.access import commands as access_commands
from dipper.access import queries as access_queries
from dipper.accounting import commands as accounting_commands
from dipper.bootstrap import Container
from dipper.identity import commands as identity_commands
from dipper.kernel.clock import BANK_ZONE, Clock, FixedClock
from dipper.kernel.errors import DomainError
from dipper.kernel.uow import Actor
from dipper.loans import commands as loan_commands
from dipper.loans import queries as loan_queries
from dipper.risk import queries as risk_queries

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_LOANS",
    "DEFAULT_SEED",
    "PRODUCTS",
    "PortfolioPlan",
    "PortfolioStats",
    "PortfolioSummary",
    "has_portfolio",
    "person_id_number",
    "seed_portfolio",
    "summarize",
]

DEFAULT_LOANS = 3_000
DEFAULT_DAYS = 365
DEFAULT_SEED = 2026
CURRENCY = "CNY"
SYSTEM = Actor.system("cli.demo")
#: Opening capital of the demo bank (fen): enough to fund the whole year's lending.
OPENING_CAPITAL_MINOR = 2_000_000_000 * 100
DUE_FROM_BANKS, PAID_IN_CAPITAL = "1011", "4001"  # default chart codes (accounting.domain)
#: A revolving draw refused with this code means the loan core does not book revolving draws yet.
REVOLVING_UNSUPPORTED = "method_has_no_schedule"


# -- products ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoProduct:
    code: str
    name: str
    name_en: str
    method: str
    terms: tuple[int, ...]
    min_yuan: int
    max_yuan: int
    rates: tuple[str, ...]  # the price grid, best grade first
    weight: float  # share of originations
    business_share: float = 0.0  # share of borrowers that are businesses (USCC), not persons
    extra: dict[str, Any] = field(default_factory=dict)

    def terms_document(self) -> dict[str, Any]:
        return {
            "currency": CURRENCY,
            "min_amount_minor": self.min_yuan * 100,
            "max_amount_minor": self.max_yuan * 100,
            "min_term_months": min(self.terms),
            "max_term_months": max(self.terms),
            "allowed_terms": list(self.terms),
            "repayment_methods": [self.method],
            "min_rate": self.rates[0],
            "max_rate": self.rates[-1],
            **self.extra,
        }

    @property
    def revolving(self) -> bool:
        return self.method == "revolving"


_PREPAY_ALL = {
    "prepayment_allowed": True,
    "prepayment_full": True,
    "prepayment_partial_modes": ["shorten-term", "lower-installment"],
}
PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct(
        "XF-EI",
        "个人消费贷(等额本息)",
        "Consumer loan, equal installments",
        "equal-installment",
        (12, 24),
        10_000,
        200_000,
        ("0.0720", "0.0860", "0.0990", "0.1160", "0.1380", "0.1680"),
        0.42,
        extra={**_PREPAY_ALL, "grace_days": 3},
    ),
    DemoProduct(
        "JY-EP",
        "小微经营贷(等额本金)",
        "Small-business loan, equal principal",
        "equal-principal",
        (12, 24, 36),
        50_000,
        1_000_000,
        ("0.0435", "0.0550", "0.0680", "0.0850", "0.1000"),
        0.14,
        business_share=0.5,
        extra={
            **_PREPAY_ALL,
            "prepayment_partial_modes": ["shorten-term"],
            "prepayment_fee_kind": "percentage",
            "prepayment_fee_rate": "0.01",
        },
    ),
    DemoProduct(
        "JY-IO",
        "经营周转贷(先息后本)",
        "Business working-capital loan, interest only",
        "interest-only",
        (6, 12),
        100_000,
        2_000_000,
        ("0.0480", "0.0600", "0.0750", "0.0900"),
        0.12,
        business_share=0.7,
        extra={"prepayment_allowed": True, "prepayment_full": True},
    ),
    DemoProduct(
        "DQ-BL",
        "短期应急贷(到期一次还本付息)",
        "Short-term bullet loan",
        "bullet",
        (1, 3, 6),
        5_000,
        100_000,
        ("0.0900", "0.1200", "0.1500", "0.1800"),
        0.20,
        extra={"prepayment_allowed": True, "prepayment_full": True, "grace_days": 3},
    ),
    DemoProduct(
        "SJ-RV",
        "随借随还信用贷",
        "Revolving credit line, repay any time",
        "revolving",
        (12,),
        10_000,
        300_000,
        ("0.0730", "0.0912", "0.1095", "0.1460"),
        0.12,
    ),
)
_BY_CODE = {p.code: p for p in PRODUCTS}


# -- people -----------------------------------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红文斌宇浩凯婷雪琳晨欣怡涵轩博思远佳慧"
    "嘉俊雨桐宏志海燕春梅晓东丹阳波峰亮鑫颖倩楠云飞翔磊晶瑶佩岚诗琪梓睿泽昊然子墨一诺安若依"
)
#: County-level division codes (the resident ID's first six digits). python-stdnum knows when each
#: code was in use; an ID whose code did not exist at the birth date is drawn again.
_REGIONS = (
    "110101", "110105", "110108", "310104", "310110", "120101", "440103", "440304", "440305",
    "330102", "330106", "320102", "320106", "370202", "420102", "420106", "430102", "430104",
    "350203", "610103", "210102", "410105", "340104", "360102", "450103", "530102", "230103",
)  # fmt: skip
_CITIES = ("杭州", "宁波", "苏州", "无锡", "佛山", "东莞", "泉州", "温州", "嘉兴", "绍兴", "台州", "金华")
_TRADES = (
    "贸易", "商贸", "电子", "餐饮管理", "服装", "五金", "建材", "物流", "农业科技", "食品", "家居", "机械",
)  # fmt: skip
_SHOP = "鑫隆昌盛恒泰华兴永福源达丰顺荣德祥瑞嘉和宏远"
_PHONE_PREFIXES = ("135", "136", "138", "139", "150", "152", "158", "159", "182", "186", "187", "188", "199")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def person_id_number(region: str, born: date, sequence: int) -> str:
    """A resident ID (GB 11643): region, birth date, a three-digit sequence (odd for a man) and the
    ISO 7064 MOD 11-2 check character."""
    body = f"{region}{born:%Y%m%d}{sequence % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def business_id_number(region: str, serial: int) -> str:
    """A unified social credit code (GB 32100): enterprise registered with market regulation (91),
    region, a nine-digit organisation code and the MOD 31 check character."""
    body = f"91{region}{serial % 10**9:09d}"
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def _bank_card(rng: random.Random) -> str:
    body = "622848" + "".join(rng.choice("0123456789") for _ in range(12))
    digits = [int(d) for d in reversed(body)]
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Borrower:
    kind: str  # person | business
    name: str
    id_number: str
    phone: str
    bank_card: str | None


class _People:
    """Deterministic, distinct borrowers: every identity number is used once."""

    def __init__(self, rng: random.Random, first_day: date) -> None:
        self.rng = rng
        self.first_day = first_day
        self.used: set[str] = set()

    def person(self) -> Borrower:
        rng = self.rng
        while True:
            age_days = rng.randint(22 * 365, 58 * 365)
            born = self.first_day - timedelta(days=age_days)
            id_number = person_id_number(rng.choice(_REGIONS), born, rng.randint(1, 999))
            if id_number not in self.used and ric.is_valid(id_number):
                self.used.add(id_number)
                break
        given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return Borrower("person", rng.choice(_SURNAMES) + given, id_number, self._phone(), _bank_card(rng))

    def business(self) -> Borrower:
        rng = self.rng
        while True:
            id_number = business_id_number(rng.choice(_REGIONS), rng.randint(10**7, 10**9 - 1))
            if id_number not in self.used and uscc.is_valid(id_number):
                self.used.add(id_number)
                break
        name = f"{rng.choice(_CITIES)}{rng.choice(_SHOP)}{rng.choice(_SHOP)}{rng.choice(_TRADES)}有限公司"
        return Borrower("business", name, id_number, self._phone(), None)

    def _phone(self) -> str:
        return self.rng.choice(_PHONE_PREFIXES) + f"{self.rng.randint(0, 99_999_999):08d}"


# -- the plan ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortfolioPlan:
    """``loans`` originations (revolving lines count once) over the ``days`` calendar days that end
    with ``through`` (its end of day included)."""

    loans: int = DEFAULT_LOANS
    days: int = DEFAULT_DAYS
    through: date | None = None  # default: yesterday in the bank's zone
    seed: int = DEFAULT_SEED

    def last_day(self, clock: Clock) -> date:
        return self.through or clock.today() - timedelta(days=1)

    def first_day(self, clock: Clock) -> date:
        return self.last_day(clock) - timedelta(days=self.days - 1)


@dataclass
class PortfolioStats:
    """Running counts of the simulation (what the progress bar shows)."""

    day: date | None = None
    days_done: int = 0
    customers: int = 0
    credit_lines: int = 0
    booked: int = 0  # installment loans paid out
    draws: int = 0  # revolving drawdowns paid out
    repayments: int = 0
    prepayments: int = 0
    write_offs: int = 0
    recoveries: int = 0
    runs: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # refusals by error code
    #: (application, loan id) of every consumer installment loan paid out: the models' training history.
    applications: list[tuple[dict[str, Any], str]] = field(default_factory=list, repr=False)


@dataclass
class _Installment:
    n: int
    due: date
    accrual_end: date
    total: int


@dataclass
class _Account:
    """What the simulation knows of one loan (or one revolving line) and its borrower's habits."""

    product: DemoProduct
    profile: str
    customer_id: str = ""
    line_id: str = ""
    limit_minor: int = 0
    loan_id: str = ""
    schedule: list[_Installment] = field(default_factory=list)
    paid: int = 0  # installments settled so far
    stop_after: int = 0  # default: installments paid before stopping
    prepay_after: int = 0  # prepay: installments paid before prepaying
    prepay_full: bool = True
    written_off: bool = False


@dataclass(frozen=True)
class _Origination:
    index: int
    day: int
    product: DemoProduct
    amount_minor: int
    term: int
    rate: Decimal
    profile: str
    borrower: Borrower
    application: dict[str, Any] = field(default_factory=dict)


#: Scenes by product: where a demo application comes from (the feature set's ``SCENES``).
_SCENES = {
    "XF-EI": ("consumer_goods", "education", "travel", "home_improvement", "medical"),
    "JY-EP": ("cash",),
    "JY-IO": ("cash",),
    "DQ-BL": ("consumer_goods", "medical", "cash"),
    "SJ-RV": ("cash", "consumer_goods"),
}


def _application(
    rng: random.Random, borrower: Borrower, product: DemoProduct, *, amount_minor: int, term: int, on: date
) -> dict[str, Any]:
    """The application behind one origination: the default feature set's inputs. A new customer has
    no history here (``dipper_*`` empty); the bureau is the simulated one, keyed by the ID number."""
    business = borrower.kind == "business"
    income_yuan = rng.lognormvariate(10.3 if business else 8.95, 0.55)  # medians ~30,000 and ~7,700
    night = rng.random() < 0.06
    return {
        **risk_queries.simulated_bureau_inputs(borrower.id_number, on),
        "id_number": borrower.id_number,
        "application_date": on,
        "application_hour": rng.randint(0, 5) if night else rng.randint(7, 23),
        "income_monthly_minor": int(income_yuan) * 100,
        "requested_amount_minor": amount_minor,
        "requested_term_months": term,
        "employment_years": round(rng.uniform(0.0, 3.0) if rng.random() < 0.3 else rng.uniform(1.0, 20.0), 1),
        "scene": rng.choice(_SCENES.get(product.code, ("cash",))),
        "kyc_passed": rng.random() < 0.99,
        "four_elements_verified": rng.random() < 0.98,
        "phone_tenure_months": rng.choice((3, 8, 14)) if rng.random() < 0.12 else rng.randint(24, 180),
        "device_risky": rng.random() < 0.02,
        "device_customer_count": 1 if rng.random() < 0.95 else rng.randint(2, 5),
        "blacklisted": False,
        "dipper_loans_total": 0,
    }


def _default_risk(a: dict[str, Any]) -> float:
    """The demo's hidden truth: the chance that this applicant stops paying, from the application.
    About one in eleven on average (the old flat share); bureau delinquency, inquiries, utilisation,
    debt burden, short job and phone tenure, night applications and risky devices raise it."""
    income = max(a["income_monthly_minor"], 100_00) / 100.0
    installment = a["requested_amount_minor"] / 100.0 / a["requested_term_months"]
    dti = min((a["bureau_monthly_debt_minor"] / 100.0 + installment) / income, 3.0)
    utilisation = a["bureau_card_utilisation"] if a["bureau_card_utilisation"] is not None else 0.4
    logit = (
        -4.95
        + 0.30 * min(a["bureau_delinquencies_24m"], 6)
        + 1.20 * a["bureau_current_delinquency"]
        + 0.16 * min(a["bureau_inquiries_3m"], 10)
        + 1.10 * min(utilisation, 1.5)
        + 0.80 * dti
        + 0.45 * a["bureau_thin_file"]
        - 0.35 * math.log(income / 7_700.0)
        + 0.50 * (a["employment_years"] < 1.0)
        + 0.45 * (a["phone_tenure_months"] < 12)
        + 0.60 * (a["application_hour"] < 6)
        + 1.00 * a["device_risky"]
        + 0.50 * (a["device_customer_count"] > 1)
    )
    return 1.0 / (1.0 + math.exp(-logit))


def _profile(rng: random.Random, product: DemoProduct, risk: float) -> str:
    if product.revolving:
        return "revolving"
    roll = rng.random()
    if roll < risk:
        return "default"
    roll = rng.random()
    # Late payers are riskier people too; prepayers a little safer.
    if roll < 0.12 + 1.2 * risk:
        return "late"
    if roll < 0.12 + 1.2 * risk + 0.12:
        return "prepay"
    return "on_time"


def _amount(rng: random.Random, product: DemoProduct) -> int:
    # Skewed to the small end, as retail books are; whole thousands of yuan.
    share = rng.random() ** 2.2
    yuan = product.min_yuan + share * (product.max_yuan - product.min_yuan)
    return max(product.min_yuan, min(product.max_yuan, int(yuan) // 1000 * 1000)) * 100


def _originations(plan: PortfolioPlan, first_day: date, rng: random.Random) -> list[_Origination]:
    people = _People(rng, first_day)
    products, weights = list(PRODUCTS), [p.weight for p in PRODUCTS]
    out = []
    for index in range(plan.loans):
        product = rng.choices(products, weights)[0]
        grade = min(int(rng.random() ** 1.5 * len(product.rates)), len(product.rates) - 1)
        business = rng.random() < product.business_share
        borrower = people.business() if business else people.person()
        amount, term = _amount(rng, product), rng.choice(product.terms)
        application = _application(rng, borrower, product, amount_minor=amount, term=term, on=first_day)
        profile = _profile(rng, product, _default_risk(application))
        # The defaults seen in a year are those of its older vintages: a defaulter's loan starts in
        # the first sixth of the window, so that it has time to reach non-accrual and write-off.
        span = max(plan.days // 6, 1) if profile == "default" else plan.days
        day = _start_day(rng, span, first_day)
        application["application_date"] = first_day + timedelta(days=day)
        out.append(
            _Origination(
                index=index,
                day=day,
                product=product,
                amount_minor=amount,
                term=term,
                rate=Decimal(product.rates[grade]),
                profile=profile,
                borrower=borrower,
                application=application,
            )
        )
    return sorted(out, key=lambda o: (o.day, o.index))


def _start_day(rng: random.Random, days: int, first_day: date) -> int:
    # Weekdays book twice what weekends do; the book grows through the year.
    while True:
        day = int(days * rng.random() ** 0.8)
        if (first_day + timedelta(days=day)).weekday() < 5 or rng.random() < 0.5:
            return day


# -- the simulation ---------------------------------------------------------------------------------------


def has_portfolio(container: Container, tenant_id: str) -> bool:
    """Whether the portfolio was booked: any end-of-day run or loan (it is booked once)."""
    runs = loan_queries.list_batch_runs(container.uow(tenant_id, SYSTEM), limit=1).total
    return bool(runs or loan_queries.list_loans(container.uow(tenant_id, SYSTEM), limit=1).total)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=BANK_ZONE).astimezone(UTC)


class _Simulation:
    def __init__(self, container: Container, tenant_id: str, plan: PortfolioPlan, clock: FixedClock) -> None:
        self.c = container
        self.tid = tenant_id
        self.plan = plan
        self.clock = clock
        self.first = plan.first_day(clock)
        self.last = plan.last_day(clock)
        self.rng = random.Random(plan.seed)
        self.stats = PortfolioStats()
        self.agenda: dict[date, list[tuple[str, _Account, Any]]] = {}
        self.revolving_supported = True
        self.actors: dict[str, Actor] = {}

    # -- plumbing

    def actor(self, username: str) -> Actor:
        if username not in self.actors:
            user = access_queries.find_user_by_username(self.c.uow(self.tid, SYSTEM), username)
            if user is None:  # pragma: no cover - the demo users are created first
                raise LookupError(username)
            self.actors[username] = Actor(kind="user", id=user["id"], name=username)
        return self.actors[username]

    def run(self, command: Any, username: str | None = None) -> Any:
        actor = self.actor(username) if username else SYSTEM
        return self.c.handle(command, actor=actor, tenant_id=self.tid)

    def attempt(self, command: Any, username: str | None = None) -> Any:
        """Run a command; a refusal is counted by its code and answered with None."""
        try:
            return self.run(command, username)
        except DomainError as exc:
            self.stats.refused[exc.code] += 1
            return None

    def later(self, day: date, kind: str, account: _Account, arg: Any = None) -> None:
        if day <= self.last:
            self.agenda.setdefault(day, []).append((kind, account, arg))

    def uow(self) -> Any:
        return self.c.uow(self.tid, SYSTEM)

    # -- set-up

    def publish_products(self) -> None:
        for product in PRODUCTS:
            if loan_queries.published_version(self.uow(), product.code, self.first) is not None:
                continue
            product_id = self.run(
                loan_commands.CreateProduct(
                    tenant_id=self.tid,
                    code=product.code,
                    name=product.name,
                    name_en=product.name_en,
                    terms=product.terms_document(),
                    scene="demo",
                    segment="business" if product.business_share else "consumer",
                ),
                "pm",
            )
            proposal = self.run(
                loan_commands.SubmitProductVersion(
                    tenant_id=self.tid, product_id=product_id, version_no=1, note="demo launch"
                ),
                "pm",
            )
            change_id = self.run(proposal, "pm")
            # Maker-checker: the product manager proposes, the administrator approves.
            self.run(
                access_commands.DecideChange(tenant_id=self.tid, change_id=change_id, approve=True), "admin"
            )

    def open_capital(self) -> None:
        self.run(
            accounting_commands.PostJournalEntry(
                tenant_id=self.tid,
                client_key="demo-opening-capital",
                value_date=self.first,
                description="实收资本注入 Paid-in capital received",
                lines=(
                    accounting_commands.PostingLine(
                        account_code=DUE_FROM_BANKS, currency=CURRENCY, debit_minor=OPENING_CAPITAL_MINOR
                    ),
                    accounting_commands.PostingLine(
                        account_code=PAID_IN_CAPITAL, currency=CURRENCY, credit_minor=OPENING_CAPITAL_MINOR
                    ),
                ),
                source="demo",
            )
        )

    # -- one day

    def set_day(self, day: date) -> None:
        self.clock.instant = _at(day)

    def originate(self, o: _Origination, day: date) -> None:
        b = o.borrower
        customer_id = self.attempt(
            identity_commands.RegisterCustomer(
                tenant_id=self.tid,
                name=b.name,
                id_number=b.id_number,
                phone=b.phone,
                bank_card=b.bank_card,
                kind=b.kind,
            ),
            "ops",
        )
        if customer_id is None:
            return
        self.stats.customers += 1
        product = o.product
        limit = min(o.amount_minor * (3 if product.revolving else 1), product.max_yuan * 100)
        line_id = self.attempt(
            loan_commands.ApproveCreditLine(
                tenant_id=self.tid,
                customer_id=customer_id,
                product_code=product.code,
                currency=CURRENCY,
                limit_minor=limit,
                expires_on=day + timedelta(days=730),
                reason="demo: scorecard approved",
            ),
            "risk",
        )
        if line_id is None:
            return
        self.stats.credit_lines += 1
        account = _Account(
            product=product, profile=o.profile, customer_id=customer_id, line_id=line_id, limit_minor=limit
        )
        if product.revolving:
            self.draw(account, day, o.amount_minor, o.rate, key=f"{o.index}-0")
            return
        loan_id = self.attempt(
            loan_commands.CreateLoan(
                tenant_id=self.tid,
                customer_id=customer_id,
                product_code=product.code,
                amount_minor=o.amount_minor,
                term=o.term,
                method=product.method,
                annual_rate=o.rate,
                start=day,
                credit_line_id=line_id,
                idempotency_key=f"demo-loan-{o.index}",
            ),
            "ops",
        )
        if loan_id is None:
            return
        paid_out = self.attempt(
            loan_commands.DisburseLoan(
                tenant_id=self.tid, loan_id=loan_id, idempotency_key=f"demo-pay-{o.index}"
            ),
            "ops",
        )
        if paid_out is None:
            return
        self.stats.booked += 1
        if o.borrower.kind == "person":  # the consumer models (A卡); businesses need their own
            self.stats.applications.append((o.application, loan_id))
        account.loan_id = loan_id
        account.schedule = self.read_schedule(loan_id)
        term = len(account.schedule)
        rng = self.rng
        if account.profile == "default":
            account.stop_after = rng.choice((0, 0, 0, 1, 1, 2, 3)) if term > 1 else 0
        elif account.profile == "prepay":
            account.prepay_after = rng.randint(1, max(1, min(term - 1, 6))) if term > 1 else 0
            account.prepay_full = not product.extra.get("prepayment_partial_modes") or rng.random() < 0.6
        self.plan_next(account, day)

    def read_schedule(self, loan_id: str) -> list[_Installment]:
        view = loan_queries.loan_schedule(self.uow(), loan_id)
        return [
            _Installment(i.n, i.due_date, i.accrual_end, i.outstanding_minor)
            for i in view.installments
            if i.outstanding_minor > 0
        ]

    def plan_next(self, a: _Account, day: date) -> None:
        """Put the borrower's next move in the agenda, after what happened on ``day``."""
        a.schedule = [i for i in a.schedule if i.due > day]
        if not a.schedule:
            return
        nxt = a.schedule[0]
        rng = self.rng
        if a.profile == "default" and a.paid >= a.stop_after:
            # Stops paying: what happens next is collections' business, from the first missed date.
            roll = rng.random()
            if roll < 0.6:
                self.later(nxt.due + timedelta(days=rng.randint(100, 180)), "write_off", a)
            elif roll < 0.8:
                self.later(nxt.due + timedelta(days=rng.randint(95, 140)), "pay_due", a)
            return
        if a.profile == "prepay" and a.paid >= a.prepay_after and a.paid > 0:
            a.profile = "on_time"  # once prepaid in part, the borrower goes on paying on time
            # Before the current period ends (prepayment is refused on and after its accrual end).
            latest = min(nxt.accrual_end, nxt.due) - timedelta(days=1)
            when = min(day + timedelta(days=rng.randint(3, 20)), latest)
            if when > day:
                self.later(when, "prepay", a)
                return
        if a.profile == "late":
            roll = rng.random()
            delay = (
                rng.randint(5, 15)
                if roll < 0.6
                else rng.randint(16, 40)
                if roll < 0.9
                else rng.randint(41, 85)
            )
            self.later(nxt.due + timedelta(days=delay), "pay_due", a)
            return
        self.later(nxt.due, "pay_due", a)

    def owed_now(self, a: _Account, day: date) -> int:
        """Everything due on ``day``: unpaid installments due by then and the penalty so far."""
        loan = loan_queries.get_loan(self.uow(), a.loan_id)
        if loan.status not in ("active", "overdue", "non_accrual"):
            return 0
        schedule = loan_queries.loan_schedule(self.uow(), a.loan_id)
        # An installment's outstanding holds its principal, interest and fee; penalty is per loan.
        due = sum(i.outstanding_minor for i in schedule.installments if i.due_date <= day)
        return due + loan.penalty_receivable_minor

    def pay_due(self, a: _Account, day: date) -> None:
        if a.written_off:
            return
        on_time = a.profile == "on_time" and a.schedule and a.schedule[0].due == day
        amount = sum(i.total for i in a.schedule if i.due <= day) if on_time else self.owed_now(a, day)
        if amount > 0:
            done = self.attempt(
                loan_commands.RepayLoan(
                    tenant_id=self.tid,
                    loan_id=a.loan_id,
                    amount_minor=amount,
                    currency=CURRENCY,
                    value_date=day,
                    idempotency_key=f"demo-repay-{a.loan_id}-{day:%Y%m%d}",
                ),
                "ops",
            )
            if done is not None:
                self.stats.repayments += 1
                a.paid += sum(1 for i in a.schedule if i.due <= day)
        if a.profile == "default":
            a.profile = "late"  # cured: pays late from now on
        self.plan_next(a, day)

    def prepay(self, a: _Account, day: date) -> None:
        rng = self.rng
        if a.prepay_full:
            cmd = loan_commands.PrepayLoan(
                tenant_id=self.tid,
                loan_id=a.loan_id,
                value_date=day,
                full=True,
                idempotency_key=f"demo-prepay-{a.loan_id}-{day:%Y%m%d}",
            )
        else:
            loan = loan_queries.get_loan(self.uow(), a.loan_id)
            share = Decimal(rng.randint(20, 50)) / 100
            amount = int(loan.principal_outstanding_minor * share) // 100_000 * 100_000
            if amount <= 0:
                self.plan_next(a, day)
                return
            modes = a.product.extra.get("prepayment_partial_modes", ["shorten-term"])
            cmd = loan_commands.PrepayLoan(
                tenant_id=self.tid,
                loan_id=a.loan_id,
                value_date=day,
                amount_minor=amount,
                mode=rng.choice(modes),
                idempotency_key=f"demo-prepay-{a.loan_id}-{day:%Y%m%d}",
            )
        if self.attempt(cmd, "ops") is not None:
            self.stats.prepayments += 1
        if not a.prepay_full:
            a.schedule = self.read_schedule(a.loan_id)
            self.plan_next(a, day)

    def write_off(self, a: _Account, day: date) -> None:
        loan = loan_queries.get_loan(self.uow(), a.loan_id)
        if loan.status != "non_accrual":
            return
        done = self.attempt(
            loan_commands.WriteOffLoan(
                tenant_id=self.tid,
                loan_id=a.loan_id,
                reason="demo: uncollectable after collections",
                idempotency_key=f"demo-writeoff-{a.loan_id}",
            ),
            "risk",
        )
        if done is None:
            return
        self.stats.write_offs += 1
        a.written_off = True
        if self.rng.random() < 0.4:
            written = loan_queries.get_loan(self.uow(), a.loan_id).written_off_minor
            amount = written * self.rng.randint(5, 30) // 100
            self.later(day + timedelta(days=self.rng.randint(15, 60)), "recover", a, amount)

    def recover(self, a: _Account, day: date, amount: int) -> None:
        if amount <= 0:
            return
        done = self.attempt(
            loan_commands.RecordRecovery(
                tenant_id=self.tid,
                loan_id=a.loan_id,
                amount_minor=amount,
                value_date=day,
                idempotency_key=f"demo-recover-{a.loan_id}",
            ),
            "collector",
        )
        if done is not None:
            self.stats.recoveries += 1

    # -- revolving lines (随借随还)

    def draw(self, a: _Account, day: date, amount: int, rate: Decimal, *, key: str) -> None:
        if not self.revolving_supported:
            return
        try:
            loan_id = self.run(
                loan_commands.CreateLoan(
                    tenant_id=self.tid,
                    customer_id=a.customer_id,
                    product_code=a.product.code,
                    amount_minor=amount,
                    term=a.product.terms[0],
                    method="revolving",
                    annual_rate=rate,
                    start=day,
                    credit_line_id=a.line_id,
                    idempotency_key=f"demo-draw-{key}",
                ),
                "ops",
            )
        except DomainError as exc:
            self.stats.refused[exc.code] += 1
            if exc.code == REVOLVING_UNSUPPORTED:
                self.revolving_supported = False  # the loan core books no revolving draw yet: stop trying
            return
        if (
            self.attempt(
                loan_commands.DisburseLoan(
                    tenant_id=self.tid, loan_id=loan_id, idempotency_key=f"demo-drawpay-{key}"
                ),
                "ops",
            )
            is None
        ):
            return
        self.stats.draws += 1
        a.loan_id = loan_id
        self.later(day + timedelta(days=self.rng.randint(7, 75)), "repay_draw", a, (amount, rate, key))

    def repay_draw(self, a: _Account, day: date, arg: tuple[int, Decimal, str]) -> None:
        amount, rate, key = arg
        loan = loan_queries.get_loan(self.uow(), a.loan_id)
        owed = (
            loan.principal_outstanding_minor
            + loan.interest_receivable_minor
            + loan.penalty_receivable_minor
            + loan.fee_receivable_minor
            + loan.suspended_interest_minor
        )
        if owed > 0:
            done = self.attempt(
                loan_commands.RepayLoan(
                    tenant_id=self.tid,
                    loan_id=a.loan_id,
                    amount_minor=owed,
                    currency=CURRENCY,
                    value_date=day,
                    idempotency_key=f"demo-drawrepay-{key}",
                ),
                "ops",
            )
            if done is None:
                return
            self.stats.repayments += 1
            self.attempt(loan_commands.CloseLoan(tenant_id=self.tid, loan_id=a.loan_id), "ops")
        # The next draw a few weeks later, a little different in size.
        serial = int(key.rsplit("-", 1)[1]) + 1
        nxt = day + timedelta(days=self.rng.randint(5, 40))
        size = amount * self.rng.randint(60, 140) // 100 // 100_000 * 100_000
        size = min(max(size, a.product.min_yuan * 100), a.limit_minor)
        self.later(nxt, "draw", a, (size, rate, f"{key.rsplit('-', 1)[0]}-{serial}"))

    # -- the whole run

    def day(self, day: date, originations: list[_Origination]) -> None:
        self.set_day(day)
        for o in originations:
            self.originate(o, day)
        for kind, account, arg in self.agenda.pop(day, []):
            if kind == "pay_due":
                self.pay_due(account, day)
            elif kind == "prepay":
                self.prepay(account, day)
            elif kind == "write_off":
                self.write_off(account, day)
            elif kind == "recover":
                self.recover(account, day, arg)
            elif kind == "draw":
                size, rate, key = arg
                self.draw(account, day, size, rate, key=key)
            elif kind == "repay_draw":
                self.repay_draw(account, day, arg)
        if originations:
            csv_text = loan_queries.channel_file(self.uow(), day)
            self.attempt(
                loan_commands.ReconcileChannelFile(tenant_id=self.tid, business_date=day, csv_text=csv_text)
            )
        runs = self.run(loan_commands.RunEndOfDay(tenant_id=self.tid, business_date=day, since=self.first))
        self.stats.runs += len(runs)


def seed_portfolio(
    container: Container,
    tenant_id: str,
    plan: PortfolioPlan | None = None,
    progress: Callable[[PortfolioStats], None] | None = None,
) -> PortfolioStats:
    """Publish the demo products, then book and run ``plan``'s portfolio day by day. ``progress`` is
    called after each simulated day. The container's clock is a ``FixedClock`` for the duration
    (set to each day in turn) and is put back afterwards. Call it once per bank (``has_portfolio``)."""
    plan = plan or PortfolioPlan()
    original = container.clock
    clock = FixedClock(original.now())
    container.clock = clock
    try:
        sim = _Simulation(container, tenant_id, plan, clock)
        sim.set_day(sim.first)
        sim.publish_products()
        sim.open_capital()
        by_day: dict[int, list[_Origination]] = {}
        for o in _originations(plan, sim.first, sim.rng):
            by_day.setdefault(o.day, []).append(o)
        for offset in range(plan.days):
            day = sim.first + timedelta(days=offset)
            sim.day(day, by_day.get(offset, []))
            sim.stats.day = day
            sim.stats.days_done = offset + 1
            if progress is not None:
                progress(sim.stats)
        return sim.stats
    finally:
        container.clock = original


# -- the summary ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortfolioSummary:
    loans: int
    by_status: dict[str, int]
    by_bucket: dict[str, int]  # loans in force (active, overdue, non-accrual) by DPD bucket
    by_product: dict[str, int]
    principal_outstanding_minor: int
    written_off_minor: int
    runs: int
    first_run: date | None
    last_run: date | None
    reconciled: bool
    differences: dict[str, int]  # column/account -> sub-ledger - GL, only the non-zero ones


def summarize(container: Container, tenant_id: str) -> PortfolioSummary:
    """The book as it stands: loans by status, bucket and product, balances, end-of-day runs, and
    the loan sub-ledger against the GL."""
    loans: list[loan_queries.LoanView] = []
    offset = 0
    while True:
        page = loan_queries.list_loans(container.uow(tenant_id, SYSTEM), limit=500, offset=offset)
        loans.extend(page.loans)
        offset += len(page.loans)
        if not page.loans or offset >= page.total:
            break
    live = [v for v in loans if v.status in ("active", "overdue", "non_accrual")]
    runs = loan_queries.list_batch_runs(container.uow(tenant_id, SYSTEM), limit=1)
    dates = []
    if runs.total:
        newest = runs.runs[0].business_date
        oldest = loan_queries.list_batch_runs(
            container.uow(tenant_id, SYSTEM), limit=1, offset=runs.total - 1
        )
        dates = [oldest.runs[0].business_date, newest]
    report = loan_queries.reconcile(container.uow(tenant_id, SYSTEM), CURRENCY)
    differences = {
        f"{line.column}/{line.account_code}": line.difference_minor
        for line in report.lines
        if line.difference_minor
    }
    return PortfolioSummary(
        loans=len(loans),
        by_status=dict(Counter(v.status for v in loans).most_common()),
        by_bucket=dict(sorted(Counter(v.bucket for v in live).items(), key=lambda kv: _bucket_rank(kv[0]))),
        by_product=dict(sorted(Counter(v.product_code for v in loans).items())),
        principal_outstanding_minor=sum(v.principal_outstanding_minor for v in loans),
        written_off_minor=sum(v.written_off_minor for v in loans),
        runs=runs.total,
        first_run=min(dates) if dates else None,
        last_run=max(dates) if dates else None,
        reconciled=not differences,
        differences=differences,
    )


def _bucket_rank(bucket: str) -> int:
    order = ("current", "M1", "M2", "M3", "M4+")
    return order.index(bucket) if bucket in order else len(order)
