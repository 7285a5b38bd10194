"""The staff console: server-rendered pages (Jinja2, Pico CSS), enhanced by htmx and ECharts.

The console is a thin reader over the modules' public ``queries`` and writes only
through their ``commands``, like the HTTP API. It signs staff in with the same
session as the API (cookie ``dipper_session``), so one login serves both.

Security, briefly: the session cookie is HttpOnly and SameSite=Lax; every POST
carries a CSRF token that is an HMAC of the session token (or, on the login form,
of a random pre-session nonce kept in a cookie), so a page on another site cannot
forge it. Templates are autoescaped. Console routes stay out of the OpenAPI schema.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import math
import re
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from dipper import __version__
from dipper.access import commands as access_commands
from dipper.access import queries as access
from dipper.access.queries import Permission, Principal
from dipper.bootstrap import Container
from dipper.entrypoints.console import i18n
from dipper.entrypoints.http.deps import SESSION_COOKIE
from dipper.kernel.clock import BANK_ZONE
from dipper.kernel.errors import Conflict, DomainError, PermissionDenied, Unauthenticated, ValidationFailed
from dipper.kernel.money import CURRENCIES, Currency
from dipper.loans import commands as loans_commands
from dipper.loans import queries as products

HERE = Path(__file__).parent
PREFIX = "/console"
LOGIN_NONCE_COOKIE = "dipper_login_nonce"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
AUDIT_PAGE_SIZE = 20
_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: Account types in the order a balance sheet and an income statement list them.
ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")


# --------------------------------------------------------------------------- templates and formatting


def format_minor(minor: int | None) -> str:
    """Integer fen -> ``-1,234.56`` (integer arithmetic only: money never goes through float)."""
    if minor is None:
        return ""
    value = int(minor)
    major, cents = divmod(abs(value), 100)
    return f"{'-' if value < 0 else ''}{major:,}.{cents:02d}"


def format_time(value: datetime | None) -> str:
    """An instant shown in the bank's time zone (Asia/Shanghai)."""
    if value is None:
        return ""
    if value.tzinfo is None:  # stored as UTC; some drivers hand it back naive
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BANK_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def shorten(value: str | None, keep: int = 10) -> str:
    if not value:
        return ""
    return value if len(value) <= keep else value[:keep] + "…"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = format_minor
    env.filters["bjtime"] = format_time
    env.filters["short"] = shorten
    return env


templates = Jinja2Templates(env=_environment())


# --------------------------------------------------------------------------- navigation


@dataclass(frozen=True)
class Module:
    """A business module of the platform; ``slug`` is its URL, messages live under ``module.<slug>.*``."""

    slug: str
    permission: str


MODULES: tuple[Module, ...] = (
    Module("platform", Permission.PLATFORM_READ),
    Module("marketing", Permission.MARKETING_READ),
    Module("identity", Permission.CUSTOMERS_READ),
    Module("loans", Permission.LOANS_READ),
    Module("risk", Permission.RISK_READ),
    Module("securitization", Permission.SECURITIZATION_READ),
    Module("collections", Permission.COLLECTIONS_READ),
)
MODULES_BY_SLUG = {m.slug: m for m in MODULES}


@dataclass(frozen=True)
class ModuleLink:
    """A built part of a module, offered on the module's page to those who may open it."""

    label_key: str
    summary_key: str
    href: str
    permission: str


MODULE_LINKS: dict[str, tuple[ModuleLink, ...]] = {
    "loans": (
        ModuleLink("products.title", "products.summary", f"{PREFIX}/products", Permission.PRODUCTS_READ),
        ModuleLink("loans.title", "loans.summary", f"{PREFIX}/loans", Permission.LOANS_READ),
        ModuleLink("batch.title", "batch.summary", f"{PREFIX}/batch", Permission.LOANS_READ),
    ),
}


@dataclass(frozen=True)
class NavItem:
    id: str
    label_key: str
    href: str


def navigation(principal: Principal) -> list[tuple[str, list[NavItem]]]:
    """The left navigation, grouped, holding only what the principal may open."""
    modules = [
        NavItem(f"module:{m.slug}", f"module.{m.slug}.name", f"{PREFIX}/modules/{m.slug}")
        for m in MODULES
        if principal.can(m.permission)
    ]
    control: list[NavItem] = []
    if principal.can(Permission.LEDGER_READ):
        control.append(NavItem("ledger", "nav.ledger", f"{PREFIX}/ledger"))
    if principal.can(Permission.AUDIT_READ):
        control.append(NavItem("audit", "nav.audit", f"{PREFIX}/audit"))
    if principal.can(Permission.USERS_READ) or principal.can(Permission.CHANGES_READ):
        control.append(NavItem("settings", "nav.settings", f"{PREFIX}/settings"))
    loan_core = [
        NavItem(item_id, label_key, f"{PREFIX}/{item_id}")
        for item_id, label_key, permission in (
            ("products", "products.title", Permission.PRODUCTS_READ),
            ("loans", "loans.title", Permission.LOANS_READ),
            ("batch", "batch.title", Permission.LOANS_READ),
        )
        if principal.can(permission)
    ]
    groups = [("nav.group.overview", [NavItem("home", "nav.home", f"{PREFIX}/")])]
    if modules:
        groups.append(("nav.group.modules", modules))
    if loan_core:
        groups.append(("nav.group.loans", loan_core))
    if control:
        groups.append(("nav.group.control", control))
    return groups


# --------------------------------------------------------------------------- sessions and CSRF


class LoginRequired(Exception):
    """Raised by the console dependency when there is no valid session; answered with a redirect."""


def _hmac_key(container: Container) -> bytes:
    # Derived (domain-separated) from an installation secret, so nothing extra has to be configured.
    secret = container.settings.audit_digest_key.get_secret_value().encode()
    return hmac.new(secret, b"dipper-console-csrf-v1", hashlib.sha256).digest()


def csrf_token(container: Container, bound_to: str, purpose: str = "session") -> str:
    return hmac.new(_hmac_key(container), f"{purpose}:{bound_to}".encode(), hashlib.sha256).hexdigest()


def _csrf_ok(container: Container, given: str | None, bound_to: str | None, purpose: str = "session") -> bool:
    if not given or not bound_to:
        return False
    return hmac.compare_digest(given, csrf_token(container, bound_to, purpose))


@dataclass(frozen=True)
class Console:
    """What a console page needs: the container, the signed-in principal and the session token."""

    request: Request
    container: Container
    principal: Principal
    token: str

    def uow(self) -> Any:
        return self.container.uow(
            self.principal.tenant_id,
            self.principal.actor,
            request_id=getattr(self.request.state, "request_id", None),
            action=f"{self.request.method} {self.request.url.path}",
        )

    def require(self, permission: str) -> None:
        self.principal.require(permission)

    @property
    def csrf(self) -> str:
        return csrf_token(self.container, self.token)


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _principal_from_cookie(request: Request) -> tuple[Principal, str] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not token.startswith("dps_"):  # the console is for staff sessions, not partner keys
        return None
    try:
        principal = access.authenticate(_container(request).uow(None), token)
    except Unauthenticated:
        return None
    return principal, token


def console(request: Request) -> Console:
    found = _principal_from_cookie(request)
    if found is None:
        raise LoginRequired
    principal, token = found
    request.state.console_principal = principal
    request.state.console_token = token
    return Console(request=request, container=_container(request), principal=principal, token=token)


ConsoleDep = Annotated[Console, Depends(console)]


def _safe_next(value: str | None) -> str:
    """Only same-site console paths may be redirect targets (no open redirect)."""
    if (
        value
        and value.startswith(f"{PREFIX}/")
        and not value.startswith(f"{PREFIX}/log")
        and not any(c in value for c in "\\\r\n")
    ):
        return value
    return f"{PREFIX}/"


def _is_htmx_partial(request: Request) -> bool:
    # A history restore wants the whole page, not a fragment.
    return request.headers.get("hx-request") == "true" and "hx-history-restore-request" not in request.headers


# --------------------------------------------------------------------------- rendering


_SECURITY_HEADERS = {
    # Scripts only from our own origin (no inline script, no CDN); ECharts and htmx set inline styles.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Vary": "Cookie, HX-Request",
}


def render(
    request: Request,
    name: str,
    *,
    status: int = 200,
    title_key: str = "app.name",
    active: str | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = i18n.request_language(request)
    t = i18n.Translator(lang)
    principal: Principal | None = getattr(request.state, "console_principal", None)
    token: str | None = getattr(request.state, "console_token", None)
    container = _container(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": t,
            "languages": i18n.LANGUAGE_NAMES,
            "principal": principal,
            "nav": navigation(principal) if principal else [],
            "active": active,
            "title_key": title_key,
            "csrf": csrf_token(container, token) if token else "",
            "here": _strip_lang(here),
            "version": __version__,
            "role_label": lambda role: t(f"role.{role}") if t.has(f"role.{role}") else role,
            **context,
        },
        status_code=status,
    )
    response.headers.update(_SECURITY_HEADERS)
    if "lang" in request.query_params and i18n.normalise(request.query_params["lang"]):
        _remember_language(response, lang)
    return response


def _strip_lang(path_and_query: str) -> str:
    """The current URL without ``lang=`` so the language switch does not pile parameters up."""
    path, _, query = path_and_query.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("lang=")]
    return path + ("?" + "&".join(kept) if kept else "")


def _remember_language(response: Response, lang: str) -> None:
    response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax")


def _to_login(request: Request) -> Response:
    target = f"{PREFIX}/login"
    if request.method == "GET" and not request.url.path.startswith(f"{PREFIX}/log"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?" + urlencode({"next": here})
    if request.headers.get("hx-request") == "true":
        # htmx would swap the login page into a fragment; tell it to navigate instead.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def render_error(request: Request, status: int, message_key: str, **params: Any) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status=status,
        title_key=f"error.{status}.title",
        message_key=message_key,
        params=params,
        error_status=status,
    )


class ConsoleRoute(APIRoute):
    """Answers console errors with pages, not the API's JSON: no session -> login, no permission -> 403."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return _to_login(request)
            except Unauthenticated:
                return _to_login(request)
            except PermissionDenied as e:
                return render_error(
                    request, 403, "error.403.message", permission=e.details.get("permission", "")
                )
            except DomainError as e:
                status = e.http_status if e.http_status in (400, 404, 409, 422) else 400
                return render_error(request, status, "error.generic.message")
            except RequestValidationError:
                return render_error(request, 400, "error.400.message")

        return console_handler


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)


def install(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(router)


# --------------------------------------------------------------------------- sign-in


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error_key: str | None = None,
    bank: str = "",
    username: str = "",
    next_url: str = "",
) -> HTMLResponse:
    # The login form has no session yet: its CSRF token is bound to a random nonce in its own cookie.
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        title_key="login.title",
        error_key=error_key,
        bank=bank,
        username=username,
        next_url=_safe_next(next_url),
        login_csrf=csrf_token(_container(request), nonce, "login"),
    )
    response.set_cookie(
        LOGIN_NONCE_COOKIE,
        nonce,
        httponly=True,
        samesite="lax",
        path=f"{PREFIX}/login",
        secure=_container(request).settings.session_cookie_secure,
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    if _principal_from_cookie(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_url=next)


@router.post("/login")
def login(
    request: Request,
    *,
    bank: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    container = _container(request)
    bank, username = bank.strip().lower(), username.strip()
    if not _csrf_ok(container, csrf_token, request.cookies.get(LOGIN_NONCE_COOKIE), "login"):
        return _login_page(
            request, status=403, error_key="login.error.expired", bank=bank, username=username, next_url=next
        )
    if not (bank and username and password) or len(bank) > 32 or len(username) > 64 or len(password) > 256:
        return _login_page(
            request, status=400, error_key="login.error.missing", bank=bank, username=username, next_url=next
        )
    try:
        issued = container.handle(
            access_commands.Login(tenant_id=bank, username=username, password=password),
            # Login's ``tenant_id`` carries the bank code; the session is scoped after sign-in.
            tenant_id=None,
            request_id=getattr(request.state, "request_id", None),
            action="POST /console/login",
        )
    except Unauthenticated:
        return _login_page(
            request, status=401, error_key="login.error.invalid", bank=bank, username=username, next_url=next
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        httponly=True,
        samesite="lax",
        path="/",
        secure=container.settings.session_cookie_secure,
        max_age=container.settings.session_ttl_minutes * 60,
    )
    response.delete_cookie(LOGIN_NONCE_COOKIE, path=f"{PREFIX}/login")
    return response


def _posted_csrf_ok(c: Console, form_value: str) -> bool:
    return _csrf_ok(c.container, form_value or c.request.headers.get(CSRF_HEADER), c.token)


@router.post("/logout")
def logout(c: ConsoleDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not _posted_csrf_ok(c, csrf_token):
        return render_error(c.request, 403, "error.csrf.message")
    c.container.handle(
        access_commands.Logout(tenant_id=c.principal.tenant_id, token=c.token),
        actor=c.principal.actor,
        tenant_id=c.principal.tenant_id,
        request_id=getattr(c.request.state, "request_id", None),
        action="POST /console/logout",
    )
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang")
def switch_language(request: Request, to: str = "", next: str = "") -> Response:
    """The header's language switch: remember the choice in a cookie and go back (works without JS)."""
    lang = i18n.normalise(to) or i18n.DEFAULT_LANGUAGE
    login = f"{PREFIX}/login"
    on_login = (next == login or next.startswith(login + "?")) and not any(ch in next for ch in "\\\r\n")
    target = next if on_login else _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    _remember_language(response, lang)
    return response


# --------------------------------------------------------------------------- home and module pages


@router.get("/")
def home(c: ConsoleDep) -> Response:
    modules = [m for m in MODULES if c.principal.can(m.permission)]
    return render(c.request, "home.html", title_key="home.title", active="home", modules=modules)


@router.get("/modules/{slug}")
def module_page(slug: str, c: ConsoleDep) -> Response:
    module = MODULES_BY_SLUG.get(slug)
    if module is None:
        return render_error(c.request, 404, "error.404.message")
    c.require(module.permission)
    links = [link for link in MODULE_LINKS.get(slug, ()) if c.principal.can(link.permission)]
    return render(
        c.request,
        "module.html",
        title_key=f"module.{slug}.name",
        active=f"module:{slug}",
        module=module,
        links=links,
    )


# --------------------------------------------------------------------------- general ledger


def _accounting() -> ModuleType | None:
    """The accounting read API, if this build has it (the console must not break without it).
    Only a *missing* module counts as absent; an error inside it still surfaces."""
    if importlib.util.find_spec("dipper.accounting.queries") is None:
        return None
    module = importlib.import_module("dipper.accounting.queries")
    return module if hasattr(module, "trial_balance") else None


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def trial_balance_view(tb: Any, t: i18n.Translator) -> dict[str, Any]:
    """Rows, per-currency totals and chart data from the accounting module's ``TrialBalance``."""
    rows = []
    for line in sorted(tb.lines, key=lambda ln: (ln.currency, ln.account_code)):
        name = line.account_name if t.lang == "zh-CN" else (line.account_name_en or line.account_name)
        type_key = f"account_type.{line.account_type}"
        rows.append(
            {
                "code": line.account_code,
                "name": name,
                "type": t(type_key) if t.has(type_key) else line.account_type,
                "currency": line.currency,
                "debit": line.debit_minor,
                "credit": line.credit_minor,
                "balance": line.balance_minor,
            }
        )
    totals = [
        {"currency": cur, "debit": debit, "credit": credit, "balanced": debit == credit}
        for cur, (debit, credit) in sorted(tb.totals.items())
    ]
    types = list(ACCOUNT_TYPES) + sorted({ln.account_type for ln in tb.lines} - set(ACCOUNT_TYPES))
    by_currency: dict[str, dict[str, int]] = {}
    for line in tb.lines:
        sums = by_currency.setdefault(line.currency, dict.fromkeys(types, 0))
        sums[line.account_type] += line.balance_minor
    chart = {
        "categories": [t(f"account_type.{k}") if t.has(f"account_type.{k}") else k for k in types],
        # Integer fen; console.js divides by 100 for the axis only.
        "series": [
            {"name": cur, "data": [sums[k] for k in types]} for cur, sums in sorted(by_currency.items())
        ],
        "yAxisName": t("ledger.chart.axis"),
    }
    return {"rows": rows, "totals": totals, "chart": chart, "balanced": bool(tb.balanced)}


@router.get("/ledger")
def ledger(c: ConsoleDep, as_of: str = "", currency: str = "") -> Response:
    c.require(Permission.LEDGER_READ)
    accounting = _accounting()
    today = c.container.clock.today()
    chosen = _parse_date(as_of)
    bad_date = bool(as_of) and chosen is None
    chosen = chosen or today
    currency = currency.strip().upper()
    currency = currency if _CURRENCY.match(currency) else ""
    context: dict[str, Any] = {
        "as_of": chosen.isoformat(),
        "currency": currency,
        "bad_date": bad_date,
        "available": accounting is not None,
        "currencies": [],
        "view": None,
    }
    if accounting is not None:
        t = i18n.Translator(i18n.request_language(c.request))
        everything = accounting.trial_balance(c.uow(), chosen)
        context["currencies"] = sorted(everything.totals)
        tb = accounting.trial_balance(c.uow(), chosen, currency) if currency else everything
        context["view"] = trial_balance_view(tb, t)
    return render(c.request, "ledger.html", title_key="ledger.title", active="ledger", **context)


# --------------------------------------------------------------------------- audit log


def _page_number(value: str) -> int:
    try:
        return max(1, min(int(value), 1_000_000))
    except ValueError:
        return 1


def _actor_label(kind: str, actor_id: str, usernames: dict[str, str]) -> str:
    if kind == "user":
        return usernames.get(actor_id, shorten(actor_id))
    if kind == "system":
        return "system"
    return f"{kind}:{shorten(actor_id, 8)}"


@router.get("/audit")
def audit(c: ConsoleDep, entity_type: str = "", actor: str = "", page: str = "1") -> Response:
    c.require(Permission.AUDIT_READ)
    entity_type, actor = entity_type.strip()[:64], actor.strip()[:64]
    number = _page_number(page)
    result = access.audit_log(
        c.uow(),
        entity_type=entity_type or None,
        actor_id=actor or None,
        limit=AUDIT_PAGE_SIZE,
        offset=(number - 1) * AUDIT_PAGE_SIZE,
    )
    pages = max(1, math.ceil(result.total / AUDIT_PAGE_SIZE))
    users = access.list_users(c.uow())
    usernames = {u["id"]: u["username"] for u in users}
    entries = [
        {**e, "actor_label": _actor_label(e["actor_kind"], e["actor_id"], usernames)} for e in result.entries
    ]
    filters = {k: v for k, v in (("entity_type", entity_type), ("actor", actor)) if v}

    def page_url(n: int) -> str:
        return f"{PREFIX}/audit?" + urlencode({**filters, "page": n})

    context: dict[str, Any] = {
        "entries": entries,
        "total": result.total,
        "page": number,
        "pages": pages,
        "page_url": page_url,
        "entity_type": entity_type,
        "actor": actor,
        "users": users,
        "first": (number - 1) * AUDIT_PAGE_SIZE + 1 if entries else 0,
        "last": (number - 1) * AUDIT_PAGE_SIZE + len(entries),
    }
    name = "_audit_table.html" if _is_htmx_partial(c.request) else "audit.html"
    return render(c.request, name, title_key="audit.title", active="audit", **context)


# --------------------------------------------------------------------------- users and changes


@router.get("/settings")
def settings_page(c: ConsoleDep) -> Response:
    can_users, can_changes = c.principal.can(Permission.USERS_READ), c.principal.can(Permission.CHANGES_READ)
    if not (can_users or can_changes):
        c.require(Permission.USERS_READ)
    users = access.list_users(c.uow()) if can_users else None
    changes = access.list_changes(c.uow(), "pending") if can_changes else None
    usernames = {u["id"]: u["username"] for u in (users or [])}
    return render(
        c.request,
        "settings.html",
        title_key="settings.title",
        active="settings",
        users=users,
        changes=changes,
        usernames=usernames,
    )


# --------------------------------------------------------------------------- loan products


#: Form inputs by how they are typed: amounts in major units (yuan), rates in percent. The API
#: speaks minor units and fractions; staff read yuan and percent, so the console converts both ways.
_MONEY_FIELDS = (
    "min_amount_minor",
    "max_amount_minor",
    "prepayment_fee_minor",
    "upfront_fee_minor",
    "periodic_fee_minor",
)
_PERCENT_FIELDS = (
    "min_rate",
    "max_rate",
    "penalty_uplift",
    "prepayment_fee_rate",
    "upfront_fee_rate",
    "periodic_fee_rate",
)
_INT_FIELDS = ("min_term_months", "max_term_months", "grace_days", "prepayment_lockin_months")
_BOOL_FIELDS = ("overdue_first", "compound_overdue_interest", "prepayment_allowed", "prepayment_full")
_LIST_FIELDS = ("repayment_methods", "allocation_order", "prepayment_partial_modes")
_CHOICE_FIELDS = (
    "currency",
    "day_count",
    "rounding",
    "holiday_roll",
    "prepayment_fee_kind",
    "upfront_fee_kind",
    "periodic_fee_kind",
)
_HEADER_FIELDS = ("code", "name", "name_en", "scene", "segment")
_MAX_INPUT = 40
_PRODUCT_NOTICES = frozenset(
    {"created", "saved", "drafted", "submitted", "approved", "rejected", "retire_submitted"}
)


def _option_key(name: str, value: str) -> str:
    """Catalogue key of an option label: ``product.opt.day_count.act_360`` for ``ACT/360``."""
    return f"product.opt.{name}." + re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


def _product_choices() -> dict[str, list[tuple[str, str]]]:
    """(value, label key) of every select and checkbox group of the terms form."""
    options: dict[str, list[str]] = {
        "repayment_methods": [m.value for m in products.RepaymentMethod],
        "day_count": [d.value for d in products.DayCount],
        "rounding": [r.value for r in products.RoundingRule],
        "holiday_roll": [r.value for r in products.RollConvention],
        "allocation_order": [p.value for p in products.AllocationPart],
        "prepayment_partial_modes": [m.value for m in products.PrepaymentMode],
        "prepayment_fee_kind": [k.value for k in products.PrepaymentFeeKind],
        "upfront_fee_kind": [k.value for k in products.FeeKind],
        "periodic_fee_kind": [k.value for k in products.PeriodicFeeKind],
    }
    choices = {name: [(v, _option_key(name, v)) for v in values] for name, values in options.items()}
    choices["currency"] = [(code, "") for code in sorted(CURRENCIES)]  # ISO codes need no translation
    return choices


def _term_rows(document: dict[str, Any], t: i18n.Translator) -> list[tuple[str, str]]:
    """A version's terms as (label, value) lines for reading, in the document's order."""
    shown = terms_form_values(document)
    choices = _product_choices()
    rows: list[tuple[str, str]] = []
    for name in products.TERM_FIELDS:
        value = shown.get(name)
        if name in _BOOL_FIELDS:
            text = t("product.yes") if value else t("product.no")
        elif isinstance(value, list):
            text = (
                " → ".join(t(_option_key(name, v)) for v in value)
                if name == "allocation_order"
                else ("、" if t.lang == "zh-CN" else ", ").join(
                    t(_option_key(name, v)) if t.has(_option_key(name, v)) else v for v in value
                )
            )
        elif name in choices and value:
            key = _option_key(name, str(value))
            text = t(key) if t.has(key) else str(value)
        elif name == "revolving_interest_rule" and value:
            text = t("product.revolving_rule")
        else:
            text = str(value) if value not in (None, "") else "—"
        if value not in (None, "") and name in _MONEY_FIELDS:
            text += " " + t("product.unit.yuan")
        elif value not in (None, "") and name in _PERCENT_FIELDS:
            text += "%"
        elif value not in (None, "") and name in _INT_FIELDS:
            text += " " + t("product.unit.days" if name == "grace_days" else "product.unit.months")
        rows.append((t(f"product.field.{name}"), text or "—"))
    return rows


def _exponent(currency: str) -> int:
    try:
        return Currency.of(currency).exponent
    except DomainError:
        return 2  # the terms check reports the unknown currency itself


def _decimal_text(text: str) -> Decimal:
    text = text.replace(",", "").replace(" ", "")
    if not text or len(text) > _MAX_INPUT:
        raise InvalidOperation
    value = Decimal(text)
    if not value.is_finite():
        raise InvalidOperation
    return value


def _to_minor(text: str, exponent: int) -> int:
    value = _decimal_text(text).scaleb(exponent)
    if value != value.to_integral_value():
        raise InvalidOperation  # finer than the currency's minor unit
    return int(value)


def _show(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def terms_form_values(document: dict[str, Any]) -> dict[str, Any]:
    """A terms document as the form shows it: yuan, percent, comma-separated terms."""
    exponent = _exponent(str(document.get("currency", "")))
    values: dict[str, Any] = {}
    for key, value in document.items():
        if value is None:
            values[key] = ""
        elif key in _MONEY_FIELDS:
            values[key] = _show(Decimal(int(value)).scaleb(-exponent))
        elif key in _PERCENT_FIELDS:
            values[key] = _show(Decimal(str(value)).scaleb(2))
        elif key == "allowed_terms":
            values[key] = ", ".join(str(v) for v in value)
        else:
            values[key] = value
    return values


def terms_from_form(form: FormData) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]:
    """(terms document, the values to show again, input errors by field) from a posted form."""
    shown: dict[str, Any] = {}
    document: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    currency = str(form.get("currency", "")).strip().upper()[:8]
    shown["currency"] = document["currency"] = currency
    exponent = _exponent(currency)
    for key in (*_MONEY_FIELDS, *_PERCENT_FIELDS, *_INT_FIELDS, "allowed_terms"):
        text = str(form.get(key, "")).strip()[:200]
        shown[key] = text
        if not text:
            continue
        try:
            if key in _MONEY_FIELDS:
                document[key] = _to_minor(text, exponent)
            elif key in _PERCENT_FIELDS:
                document[key] = format(_decimal_text(text).scaleb(-2), "f")
            elif key in _INT_FIELDS:
                number = _decimal_text(text)
                if number != number.to_integral_value():
                    raise InvalidOperation
                document[key] = int(number)
            else:
                parts = [p for p in re.split(r"[,\s，、]+", text) if p]
                document[key] = [int(p) for p in parts]
        except (InvalidOperation, ValueError):
            document.pop(key, None)
            errors[key] = ["invalid_number"]
    for key in _BOOL_FIELDS:
        shown[key] = document[key] = form.get(key) in {"on", "true", "1"}
    for key in _LIST_FIELDS:
        shown[key] = document[key] = [str(v)[:40] for v in form.getlist(key) if str(v).strip()][:10]
    for key in _CHOICE_FIELDS[1:]:
        value = str(form.get(key, "")).strip()[:40]
        shown[key] = value
        if value:
            document[key] = value
    return document, shown, errors


def _violations_by_field(violations: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for v in violations:
        codes = found.setdefault(str(v.get("field") or "_form"), [])
        if v.get("code") not in codes:
            codes.append(str(v.get("code")))
    return found


def _error_fields(e: DomainError) -> dict[str, list[str]]:
    violations = e.details.get("violations") or [{"field": e.details.get("field", ""), "code": e.code}]
    return _violations_by_field(list(violations))


def _product_name(p: dict[str, Any], lang: str) -> str:
    return str(p["name"] if lang == "zh-CN" else p["name_en"] or p["name"])


async def _posted_form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def _products_page(c: Console, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        c.request,
        name,
        status=status,
        title_key="products.title",
        active="products",
        choices=_product_choices(),
        **context,
    )


@router.get("/products")
def products_list(c: ConsoleDep) -> Response:
    c.require(Permission.PRODUCTS_READ)
    lang = i18n.request_language(c.request)
    items = [{**p, "display_name": _product_name(p, lang)} for p in products.list_products(c.uow())]
    return _products_page(c, "products.html", items=items)


def _new_product_page(
    c: Console,
    *,
    status: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> HTMLResponse:
    values = form if form is not None else {**terms_form_values(products.default_terms()), "currency": "CNY"}
    return _products_page(c, "products_new.html", status=status, form=values, errors=errors or {})


@router.get("/products/new")
def products_new(c: ConsoleDep) -> Response:
    c.require(Permission.PRODUCTS_CHANGE)
    return _new_product_page(c)


@router.post("/products/new")
def products_create(c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.PRODUCTS_CHANGE)
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    document, shown, errors = terms_from_form(form)
    header = {key: str(form.get(key, ""))[:300] for key in _HEADER_FIELDS}
    shown.update(header)
    if errors:
        found = _violations_by_field(products.terms_violations(document))
        return _new_product_page(c, status=422, form=shown, errors={**found, **errors})
    try:
        product_id = _handle(
            c, loans_commands.CreateProduct(tenant_id=c.principal.tenant_id, terms=document, **header)
        )
    except (ValidationFailed, Conflict) as e:
        field_errors = _error_fields(e)
        if e.code == "product_exists":
            field_errors = {"code": ["product_exists"]}
        return _new_product_page(c, status=e.http_status, form=shown, errors=field_errors)
    return RedirectResponse(f"{PREFIX}/products/{product_id}?done=created", status_code=303)


def _handle(c: Console, command: Any) -> Any:
    return c.container.handle(
        command,
        actor=c.principal.actor,
        tenant_id=c.principal.tenant_id,
        request_id=getattr(c.request.state, "request_id", None),
        action=f"{c.request.method} {c.request.url.path}",
    )


def _product_page(
    c: Console,
    product_id: str,
    *,
    version_no: int | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    error_code: str | None = None,
) -> HTMLResponse:
    product = products.get_product(c.uow(), product_id)
    lang = i18n.request_language(c.request)
    versions = product["versions"]
    chosen = next((v for v in versions if v["version_no"] == version_no), None)
    if chosen is None:  # default: the draft if there is one, else the newest version
        chosen = next((v for v in versions if v["status"] == "draft"), versions[0] if versions else None)
    pending = products.pending_product_changes(c.uow(), product_id)
    publish_pending = next((ch for ch in pending if ch["kind"] == products.PUBLISH_KIND), None)
    retire_pending = any(ch["kind"] == products.RETIRE_KIND for ch in pending)
    usernames = (
        {u["id"]: u["username"] for u in access.list_users(c.uow())}
        if c.principal.can(Permission.USERS_READ)
        else {}
    )
    me = c.principal.actor.id
    can_change = c.principal.can(Permission.PRODUCTS_CHANGE) and product["status"] == "active"
    is_draft = chosen is not None and chosen["status"] == "draft"
    frozen = (
        publish_pending is not None
        and chosen is not None
        and (publish_pending["payload"].get("version_id") == chosen["id"])
    )
    done = c.request.query_params.get("done", "")
    return _products_page(
        c,
        "products_detail.html",
        status=status,
        product={**product, "display_name": _product_name(product, lang)},
        versions=versions,
        version=chosen,
        form=form if form is not None else terms_form_values(chosen["terms"]) if chosen else {},
        term_rows=_term_rows(chosen["terms"], i18n.Translator(lang)) if chosen else [],
        errors=errors or {},
        error_code=error_code,
        notice=done if done in _PRODUCT_NOTICES else "",
        pending=[
            {
                **ch,
                "maker": usernames.get(ch["maker_id"], shorten(ch["maker_id"])),
                "can_decide": c.principal.can(Permission.PRODUCTS_APPROVE) and ch["maker_id"] != me,
                "own": ch["maker_id"] == me,
                "version_no": ch["payload"].get("version_no"),
            }
            for ch in pending
        ],
        editable=can_change and is_draft and not frozen,
        can_submit=can_change and is_draft and not frozen,
        can_draft=can_change and not any(v["status"] == "draft" for v in versions),
        can_retire=can_change and not retire_pending,
    )


@router.get("/products/{product_id}")
def products_detail(product_id: str, c: ConsoleDep, version: int | None = None) -> Response:
    c.require(Permission.PRODUCTS_READ)
    return _product_page(c, product_id, version_no=version)


def _product_action(
    c: Console, form: FormData, product_id: str, *, version_no: int | None, command: Any, done: str
) -> Response:
    """Send a product command from a posted form; a refusal shows the page again with the reason."""
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    try:
        result = _handle(c, command)
        if isinstance(result, access_commands.ProposeChange):
            _handle(c, result)  # the change request a checker decides
    except (ValidationFailed, Conflict, PermissionDenied) as e:
        return _product_page(c, product_id, version_no=version_no, status=e.http_status, error_code=e.code)
    query = urlencode({"done": done, **({"version": result} if isinstance(result, int) else {})})
    return RedirectResponse(f"{PREFIX}/products/{product_id}?{query}", status_code=303)


@router.post("/products/{product_id}/versions/{version_no}")
def products_save_draft(product_id: str, version_no: int, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.PRODUCTS_CHANGE)
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    document, shown, errors = terms_from_form(form)
    if errors:
        found = _violations_by_field(products.terms_violations(document))
        return _product_page(
            c, product_id, version_no=version_no, status=422, form=shown, errors={**found, **errors}
        )
    command = loans_commands.UpdateDraftVersion(
        tenant_id=c.principal.tenant_id, product_id=product_id, version_no=version_no, terms=document
    )
    try:
        _handle(c, command)
    except ValidationFailed as e:
        return _product_page(
            c, product_id, version_no=version_no, status=422, form=shown, errors=_error_fields(e)
        )
    except Conflict as e:
        return _product_page(c, product_id, version_no=version_no, status=409, form=shown, error_code=e.code)
    return RedirectResponse(
        f"{PREFIX}/products/{product_id}?done=saved&version={version_no}", status_code=303
    )


@router.post("/products/{product_id}/versions")
def products_new_draft(product_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.PRODUCTS_CHANGE)
    command = loans_commands.DraftProductVersion(tenant_id=c.principal.tenant_id, product_id=product_id)
    return _product_action(c, form, product_id, version_no=None, command=command, done="drafted")


@router.post("/products/{product_id}/versions/{version_no}/submit")
def products_submit(product_id: str, version_no: int, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.PRODUCTS_CHANGE)
    command = loans_commands.SubmitProductVersion(
        tenant_id=c.principal.tenant_id,
        product_id=product_id,
        version_no=version_no,
        note=str(form.get("note", ""))[:500],
    )
    return _product_action(c, form, product_id, version_no=version_no, command=command, done="submitted")


@router.post("/products/{product_id}/retire")
def products_retire(product_id: str, c: ConsoleDep, form: PostedForm) -> Response:
    c.require(Permission.PRODUCTS_CHANGE)
    command = loans_commands.RetireProduct(
        tenant_id=c.principal.tenant_id, product_id=product_id, reason=str(form.get("reason", ""))[:500]
    )
    return _product_action(c, form, product_id, version_no=None, command=command, done="retire_submitted")


@router.post("/products/{product_id}/changes/{change_id}/{decision}")
def products_decide(
    product_id: str, change_id: str, decision: str, c: ConsoleDep, form: PostedForm
) -> Response:
    """The checker's approve / reject, through access's maker-checker command (four eyes enforced there)."""
    c.require(Permission.PRODUCTS_APPROVE)
    if decision not in {"approve", "reject"}:
        return render_error(c.request, 404, "error.404.message")
    change = access.get_change(c.uow(), change_id)
    if change["target"] != product_id or change["kind"] not in {products.PUBLISH_KIND, products.RETIRE_KIND}:
        return render_error(c.request, 404, "error.404.message")
    command = access_commands.DecideChange(
        tenant_id=c.principal.tenant_id,
        change_id=change_id,
        approve=decision == "approve",
        note=str(form.get("note", ""))[:500],
    )
    done = "approved" if decision == "approve" else "rejected"
    return _product_action(c, form, product_id, version_no=None, command=command, done=done)


# The loan and end-of-day pages add their routes to ``router`` (imported last: they use the above).
from dipper.entrypoints.console import loan_pages, risk_analysis_pages  # noqa: E402, F401
from dipper.entrypoints.console import risk_decision_pages as _risk_decision_pages  # noqa: E402, F401
from dipper.entrypoints.console import risk_registry_pages as _risk_registry_pages  # noqa: E402, F401

__all__ = ["format_minor", "install", "loan_pages", "router"]
