"""Console pages of the loan core: loan search and loan detail, and the end-of-day runs.

Everything is read through ``loans.queries`` (and ``accounting.queries`` for a loan's journal
entries); the only write is starting the end of day, through the same ``RunEndOfDayStep``
command the CLI uses: a background thread runs it step by step (each step commits on its own), and
the progress page polls the runs in the database, so progress is right whichever process runs it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dipper.access.queries import Permission
from dipper.accounting import queries as ledger
from dipper.entrypoints.console import i18n
from dipper.entrypoints.console.pages import (
    CSRF_FIELD,
    PREFIX,
    Console,
    ConsoleDep,
    PostedForm,
    _is_htmx_partial,
    _page_number,
    _posted_csrf_ok,
    format_minor,
    render,
    render_error,
    router,
)
from dipper.kernel.errors import DomainError, NotFound, ValidationFailed
from dipper.kernel.uow import Actor
from dipper.loans import commands as loan_commands
from dipper.loans import queries as loans

log = logging.getLogger(__name__)

LOAN_PAGE_SIZE = 20
RUN_PAGE_SIZE = 20
_MAX_TEXT = 64
#: Statuses and buckets offered by the loan search, in the order a credit officer reads them.
LOAN_STATUSES = loans.LOAN_STATUSES
LOAN_BUCKETS = loans.LOAN_BUCKETS
EOD_STEPS = loans.EOD_STEPS
#: Transaction kinds with a label; another kind shows its code.
TRANSACTION_KINDS = (
    "disbursement",
    "repayment",
    "prepayment",
    "reversal",
    "reschedule",
    "write_off",
    "recovery",
)
#: The parts of a payment's allocation, in the order the detail page lists them.
ALLOCATION_PARTS = ("principal", "interest", "penalty", "fee", "credit")


# --------------------------------------------------------------------------- small helpers


def _percent(value: Decimal | None, places: int | None = None) -> str:
    """A rate fraction as percent text: ``0.072`` -> ``7.2%``; APRs keep their fixed places."""
    if value is None:
        return "—"
    scaled = Decimal(value).scaleb(2)
    scaled = scaled.quantize(Decimal(1).scaleb(-places)) if places is not None else scaled.normalize()
    return f"{format(scaled, 'f')}%"


def _label(t: i18n.Translator, prefix: str, value: str) -> str:
    key = f"{prefix}.{value}"
    return t(key) if t.has(key) else value


def _helpers(c: Console) -> dict[str, Any]:
    """Label look-ups the templates share: a code's label, or the code itself when it has none."""
    t = i18n.Translator(i18n.request_language(c.request))
    return {
        "label": lambda prefix, value: _label(t, prefix, str(value)),
        "method_label": lambda method: _label(
            t, "product.opt.repayment_methods", str(method).replace("-", "_")
        ),
        "step_names": EOD_STEPS,
    }


def _loans_page(c: Console, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        c.request, name, status=status, title_key="loans.title", active="loans", **_helpers(c), **context
    )


def _batch_render(c: Console, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    title_key = context.pop("title_key", "batch.title")
    return render(
        c.request, name, status=status, title_key=title_key, active="batch", **_helpers(c), **context
    )


# --------------------------------------------------------------------------- loan search


@dataclass(frozen=True)
class LoanFilters:
    """The search form as typed (strings, kept to show again) and the query's arguments."""

    status: str = ""
    bucket: str = ""
    product: str = ""
    customer: str = ""
    loan: str = ""
    dpd_min: str = ""
    dpd_max: str = ""

    @classmethod
    def from_query(cls, params: Any) -> LoanFilters:
        return cls(**{name: str(params.get(name, "")).strip()[:_MAX_TEXT] for name in cls.__annotations__})

    def items(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def arguments(self) -> dict[str, Any]:
        """``list_loans`` keyword arguments; ``ValidationFailed`` with a stable code on bad input."""

        def dpd(text: str, name: str) -> int | None:
            if not text:
                return None
            if not text.isascii() or not text.isdigit() or len(text) > 6:
                raise ValidationFailed(
                    f"{name}: a whole number of days", code="invalid_days_past_due", details={"field": name}
                )
            return int(text)

        return {
            "status": self.status or None,
            "bucket": self.bucket or None,
            "product_code": self.product or None,
            "customer_id": self.customer or None,
            "loan_id": self.loan or None,
            "min_dpd": dpd(self.dpd_min, "min_dpd"),
            "max_dpd": dpd(self.dpd_max, "max_dpd"),
        }


def _error_text(t: i18n.Translator, e: DomainError) -> str:
    key = f"loans.error.{e.code}"
    return t(key) if t.has(key) else t("loans.error.generic", code=e.code)


@router.get("/loans")
def loans_list(c: ConsoleDep, page: str = "1") -> Response:
    c.require(Permission.LOANS_READ)
    t = i18n.Translator(i18n.request_language(c.request))
    filters = LoanFilters.from_query(c.request.query_params)
    number = _page_number(page)
    status, error = 200, ""
    result = loans.LoanPage([], 0, LOAN_PAGE_SIZE, 0)
    try:
        result = loans.list_loans(
            c.uow(), limit=LOAN_PAGE_SIZE, offset=(number - 1) * LOAN_PAGE_SIZE, **filters.arguments()
        )
    except ValidationFailed as e:
        status, error = 400, _error_text(t, e)
    pages = max(1, math.ceil(result.total / LOAN_PAGE_SIZE))
    product_codes = sorted({p["code"] for p in loans.list_products(c.uow())})
    if filters.product and filters.product not in product_codes:
        product_codes.append(filters.product)

    def page_url(n: int) -> str:
        return f"{PREFIX}/loans?" + urlencode({**filters.items(), "page": n})

    context: dict[str, Any] = {
        "rows": result.loans,
        "total": result.total,
        "page": number,
        "pages": pages,
        "page_url": page_url,
        "filters": filters,
        "filtered": bool(filters.items()),
        "error": error,
        "statuses": LOAN_STATUSES,
        "buckets": LOAN_BUCKETS,
        "product_codes": product_codes,
        "first": (number - 1) * LOAN_PAGE_SIZE + 1 if result.loans else 0,
        "last": (number - 1) * LOAN_PAGE_SIZE + len(result.loans),
    }
    name = "_loans_table.html" if _is_htmx_partial(c.request) else "loans.html"
    return _loans_page(c, name, status=status, **context)


# --------------------------------------------------------------------------- loan detail


def _allocation_parts(allocation: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (part, int(allocation[part]))
        for part in ALLOCATION_PARTS
        if isinstance(allocation.get(part), int) and allocation[part]
    ]


def _postings(c: Console, transactions: list[Any]) -> list[dict[str, Any]]:
    """The journal entries of the loan's own transactions (disbursement, repayments, ...), oldest
    first. The end of day posts a day's accruals for the whole book in one summary entry per step,
    so those are not the loan's own and are left out (the page says so)."""
    kinds: dict[str, str] = {}
    for tx in transactions:
        if tx.journal_entry_id and tx.journal_entry_id not in kinds:
            kinds[tx.journal_entry_id] = tx.kind
    entries = []
    for entry_id, kind in kinds.items():
        try:
            entry = ledger.get_entry(c.uow(), entry_id)
        except NotFound:  # never expected: the transaction and its entry commit together
            log.warning("loan transaction names a missing journal entry %s", entry_id)
            continue
        entries.append({"entry": entry, "kind": kind})
    return entries


def dpd_chart(history: loans.DpdHistory, t: i18n.Translator) -> dict[str, Any]:
    """ECharts data for the days-past-due line: its corners, drawn as straight segments."""
    return {
        "points": [[p.day.isoformat(), p.days_past_due] for p in history.points],
        "name": t("loan.dpd.series"),
        "yAxisName": t("loan.dpd.axis"),
        "buckets": [upper for _, upper in loans.BUCKETS if upper],
    }


@router.get("/loans/{loan_id}")
def loan_detail(loan_id: str, c: ConsoleDep) -> Response:
    c.require(Permission.LOANS_READ)
    if not 1 <= len(loan_id) <= 64:
        return render_error(c.request, 404, "error.404.message")
    t = i18n.Translator(i18n.request_language(c.request))
    loan = loans.get_loan(c.uow(), loan_id)  # NotFound (another bank's loan too) -> the 404 page
    schedule = loans.loan_schedule(c.uow(), loan_id)
    transactions = loans.loan_transactions(c.uow(), loan_id)
    history = loans.loan_dpd_history(c.uow(), loan_id)
    balances = [
        ("principal_outstanding", loan.principal_outstanding_minor),
        ("interest_receivable", loan.interest_receivable_minor),
        ("suspended_interest", loan.suspended_interest_minor),
        ("penalty_receivable", loan.penalty_receivable_minor),
        ("fee_receivable", loan.fee_receivable_minor),
        ("credit_balance", loan.credit_balance_minor),
    ]
    if loan.written_off_minor:
        balances.append(("written_off", loan.written_off_minor))
    return _loans_page(
        c,
        "loan_detail.html",
        loan=loan,
        balances=balances,
        annual_rate=_percent(loan.annual_rate),
        penalty_rate=_percent(loan.penalty_rate),
        apr=_percent(loan.apr, 4) if loan.apr is not None else "—",
        schedule=schedule,
        transactions=[{"tx": tx, "parts": _allocation_parts(tx.allocation)} for tx in transactions],
        postings=_postings(c, transactions),
        history=history,
        chart=dpd_chart(history, t),
        dpd_today=history.on(history.until) if history.until else 0,
    )


# --------------------------------------------------------------------------- end of day: runs


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _duration(run: loans.BatchRunView, now: datetime) -> str:
    started, finished = _aware(run.started_at), _aware(run.finished_at)
    if started is None:
        return ""
    seconds = max(((finished or now) - started).total_seconds(), 0.0)
    # Whole seconds are what an operator reads; a run of a small book takes less than one.
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _sum_by_currency(figures: dict[str, Any], step: str, name: str) -> dict[str, int]:
    totals = figures.get(step, {}).get("totals", {}) if isinstance(figures.get(step), dict) else {}
    return {cur: int(v.get(name, 0)) for cur, v in sorted(totals.items()) if v.get(name)}


def run_summary(run: loans.BatchRunView) -> dict[str, Any]:
    """The few figures an operator scans in the list: interest and penalty accrued (per currency),
    installments falling due, loans past due, whether the books reconciled, and a failure's code."""
    f = run.figures
    age = f.get("age", {}) if isinstance(f.get("age"), dict) else {}
    delinquent = age.get("delinquent", {})
    post = f.get("post", {}) if isinstance(f.get("post"), dict) else {}
    error = f.get("error") if isinstance(f.get("error"), dict) else None
    return {
        "interest": _sum_by_currency(f, "accrue_interest", "interest"),
        "penalty": _sum_by_currency(f, "accrue_penalty", "penalty"),
        "due": f["fall_due"].get("rows") if isinstance(f.get("fall_due"), dict) else None,
        "past_due": sum(int(b.get("loans", 0)) for b in delinquent.values()) if "age" in f else None,
        "reconciled": post.get("reconciled") if "post" in f else None,
        "error": error.get("code") if error else None,
    }


def _step_rows(run: loans.BatchRunView, t: i18n.Translator) -> list[dict[str, Any]]:
    """Each step with its figures as (label, value) facts, money formatted from integer minor units."""
    rows = []
    for step in EOD_STEPS:
        figures = run.figures.get(step)
        facts: list[tuple[str, str]] = []
        if isinstance(figures, dict):
            if "rows" in figures:
                facts.append((t("batch.fig.rows"), f"{int(figures['rows']):,}"))
            for currency, amounts in sorted(figures.get("totals", {}).items()):
                for name, amount in sorted(amounts.items()):
                    if isinstance(amount, int):
                        label = _label(t, "batch.total", name)
                        facts.append((f"{label} ({currency})", format_minor(amount)))
            for currency, entry_id in sorted(figures.get("entries", {}).items()):
                facts.append((t("batch.fig.entry", currency=currency), str(entry_id)))
            if figures.get("events"):
                facts.append((t("batch.fig.events"), f"{int(figures['events']):,}"))
            for bucket, stats in sorted(figures.get("delinquent", {}).items()):
                facts.append(
                    (
                        t("batch.fig.bucket", bucket=bucket),
                        t(
                            "batch.fig.bucket_value",
                            loans=f"{int(stats.get('loans', 0)):,}",
                            principal=format_minor(int(stats.get("principal_minor", 0))),
                        ),
                    )
                )
            for status, count in sorted(figures.get("to", {}).items()):
                facts.append((t("batch.fig.to", status=_label(t, "loan.status", status)), f"{int(count):,}"))
            if "missed" in figures:
                facts.append((t("batch.fig.missed"), f"{int(figures['missed']):,}"))
            if "reconciled" in figures:
                ok = figures["reconciled"]
                facts.append((t("batch.fig.reconciled"), t("batch.yes") if ok else t("batch.no")))
                for currency, diffs in sorted(figures.get("differences", {}).items()):
                    for code, diff in sorted(diffs.items()):
                        facts.append(
                            (t("batch.fig.difference", currency=currency, account=code), format_minor(diff))
                        )
        rows.append(
            {
                "step": step,
                "label": _label(t, "batch.step", step),
                "done": step in run.steps_done,
                "seconds": figures.get("seconds") if isinstance(figures, dict) else None,
                "facts": facts,
            }
        )
    return rows


def _runs_in(c: Console, since: date, through: date) -> dict[date, loans.BatchRunView]:
    # The dates being run are the newest ones (a run never goes back before the last date done).
    page = loans.list_batch_runs(c.uow(), limit=500)
    return {r.business_date: r for r in page.runs if since <= r.business_date <= through}


@dataclass
class Job:
    """An end of day this process is running in the background for one bank."""

    since: date
    through: date
    thread: threading.Thread
    error: str | None = None


#: Bank id -> its background end of day in this process (one at a time per bank).
JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()


def _run_dates(
    handle: Callable[..., Any],
    *,
    tenant_id: str,
    dates: list[date],
    job: Job,
    actor: Actor,
    request_id: str | None,
) -> None:
    """The background thread: every date in order, one committed step at a time (as the CLI does)."""
    try:
        for business_date in dates:
            while True:
                outcome = handle(
                    loan_commands.RunEndOfDayStep(tenant_id=tenant_id, business_date=business_date),
                    actor=actor,
                    tenant_id=tenant_id,
                    request_id=request_id,
                    action="POST /console/batch/runs",
                )
                if outcome.step is None or outcome.run.status == "done":
                    break
    except DomainError as e:
        job.error = e.code
        log.warning("end of day from the console stopped: %s", e.code)
    except Exception as e:  # the step's handler has marked the run failed; the page shows it
        job.error = type(e).__name__
        log.exception("end of day from the console failed")
    finally:
        with _JOBS_LOCK:
            if JOBS.get(tenant_id) is job:
                del JOBS[tenant_id]


def running_job(tenant_id: str) -> Job | None:
    with _JOBS_LOCK:
        job = JOBS.get(tenant_id)
        return job if job is not None and job.thread.is_alive() else None


def _progress_url(since: date, through: date) -> str:
    return f"{PREFIX}/batch/progress?" + urlencode(
        {"since": since.isoformat(), "through": through.isoformat()}
    )


def progress_view(c: Console, since: date, through: date) -> dict[str, Any]:
    """Steps done over the dates ``since``..``through`` from the runs in the database."""
    runs = _runs_in(c, since, through)
    days = (through - since).days + 1
    total = days * len(EOD_STEPS)
    days_and_runs = [(since + timedelta(days=i), runs.get(since + timedelta(days=i))) for i in range(days)]
    dates: list[dict[str, Any]] = [
        {"date": d, "run": run, "steps": len(run.steps_done) if run else 0} for d, run in days_and_runs
    ]
    done = sum(len(run.steps_done) for _, run in days_and_runs if run is not None)
    failed = any(run is not None and run.status == "failed" for _, run in days_and_runs)
    complete = all(run is not None and run.status == "done" for _, run in days_and_runs)
    current = next((item for item in dates if item["run"] is None or item["run"].status != "done"), None)
    return {
        "since": since,
        "through": through,
        "dates": dates,
        "done": done,
        "total": total,
        "percent": done * 100 // total if total else 100,
        "failed": failed,
        "complete": complete,
        "current": current,
        "polling": not (complete or failed),
        "progress_url": _progress_url(since, through),
        "last_run": runs.get(through),
    }


def _next_date(c: Console) -> date:
    """The date the form proposes: the day after the last date done, else the business date."""
    today = c.container.clock.today()
    latest = loans.list_batch_runs(c.uow(), limit=1).runs
    if latest and latest[0].status == "done":
        return min(latest[0].business_date + timedelta(days=1), today)
    return latest[0].business_date if latest else today


def _batch_page(c: Console, *, status: int = 200, error: str = "", business_date: str = "") -> HTMLResponse:
    number = _page_number(c.request.query_params.get("page", "1"))
    page = loans.list_batch_runs(c.uow(), limit=RUN_PAGE_SIZE, offset=(number - 1) * RUN_PAGE_SIZE)
    now = c.container.clock.now()
    job = running_job(c.principal.tenant_id)
    return _batch_render(
        c,
        "batch.html",
        status=status,
        runs=[{"run": r, "summary": run_summary(r), "duration": _duration(r, now)} for r in page.runs],
        total=page.total,
        page=number,
        pages=max(1, math.ceil(page.total / RUN_PAGE_SIZE)),
        page_url=lambda n: f"{PREFIX}/batch?" + urlencode({"page": n}),
        step_count=len(EOD_STEPS),
        can_start=c.principal.can(Permission.LOANS_SERVICE),
        business_date=business_date or _next_date(c).isoformat(),
        today=c.container.clock.today().isoformat(),
        error=error,
        job=job,
        job_url=_progress_url(job.since, job.through) if job else "",
    )


@router.get("/batch")
def batch_list(c: ConsoleDep) -> Response:
    c.require(Permission.LOANS_READ)
    return _batch_page(c)


@router.post("/batch/runs")
def batch_start(c: ConsoleDep, form: PostedForm) -> Response:
    """Start the end of day through a date (catching up missed dates) in a background thread."""
    c.require(Permission.LOANS_SERVICE)
    if not _posted_csrf_ok(c, str(form.get(CSRF_FIELD, ""))):
        return render_error(c.request, 403, "error.csrf.message")
    t = i18n.Translator(i18n.request_language(c.request))
    text = str(form.get("business_date", "")).strip()[:20]
    try:
        business_date = date.fromisoformat(text)
    except ValueError:
        return _batch_page(c, status=400, error=t("batch.error.invalid_date"), business_date=text)
    tenant_id = c.principal.tenant_id
    busy = running_job(tenant_id)
    if busy is not None:
        return RedirectResponse(_progress_url(busy.since, busy.through), status_code=303)
    try:
        plan = loans.eod_plan(c.uow(), business_date)
    except DomainError as e:
        key = f"batch.error.{e.code}"
        message = t(key, **{k: str(v) for k, v in e.details.items()}) if t.has(key) else e.message
        status = e.http_status if e.http_status in (400, 409, 422) else 400
        return _batch_page(c, status=status, error=message, business_date=text)
    if not plan:
        run = loans.get_batch_run_for_date(c.uow(), business_date)
        return RedirectResponse(f"{PREFIX}/batch/{run.id}?done=already", status_code=303)
    handle, actor = c.container.handle, c.principal.actor
    request_id = getattr(c.request.state, "request_id", None)

    def work() -> None:
        _run_dates(handle, tenant_id=tenant_id, dates=plan, job=job, actor=actor, request_id=request_id)

    # Daemon: a step commits on its own, so a run cut short by a shutdown resumes at its next step.
    job = Job(plan[0], plan[-1], threading.Thread(target=work, name=f"console-eod-{tenant_id}", daemon=True))
    with _JOBS_LOCK:
        other = JOBS.get(tenant_id)
        if other is not None and other.thread.is_alive():  # started meanwhile by another request
            return RedirectResponse(_progress_url(other.since, other.through), status_code=303)
        JOBS[tenant_id] = job
        job.thread.start()
    return RedirectResponse(_progress_url(plan[0], plan[-1]), status_code=303)


def _date_param(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()[:20])
    except ValueError:
        return None


@router.get("/batch/progress")
def batch_progress(c: ConsoleDep, since: str = "", through: str = "") -> Response:
    """The progress of an end of day over ``since``..``through``; htmx polls the fragment every second."""
    c.require(Permission.LOANS_READ)
    first, last = _date_param(since), _date_param(through or since)
    if first is None or last is None or not 0 <= (last - first).days < loan_commands.MAX_CATCH_UP_DAYS:
        return render_error(c.request, 400, "error.400.message")
    view = progress_view(c, first, last)
    job = running_job(c.principal.tenant_id)
    context = {**view, "stalled": view["polling"] and job is None}
    name = "_batch_progress.html" if _is_htmx_partial(c.request) else "batch_progress.html"
    return _batch_render(c, name, title_key="batch.progress.title", **context)


@router.get("/batch/{run_id}")
def batch_run(run_id: str, c: ConsoleDep) -> Response:
    c.require(Permission.LOANS_READ)
    if not 1 <= len(run_id) <= 64:
        return render_error(c.request, 404, "error.404.message")
    t = i18n.Translator(i18n.request_language(c.request))
    run = loans.get_batch_run(c.uow(), run_id)
    now = c.container.clock.now()
    progress = progress_view(c, run.business_date, run.business_date) if run.status == "running" else None
    policy = run.figures.get("policy", {}) if isinstance(run.figures.get("policy"), dict) else {}
    error = run.figures.get("error") if isinstance(run.figures.get("error"), dict) else None
    return _batch_render(
        c,
        "batch_run.html",
        title_key="batch.run.title",
        run=run,
        summary=run_summary(run),
        duration=_duration(run, now),
        steps=_step_rows(run, t),
        step_count=len(EOD_STEPS),
        policy=policy,
        error=error,
        notice=c.request.query_params.get("done") == "already",
        stalled=progress is not None and running_job(c.principal.tenant_id) is None,
        **(progress or {}),
        show_progress=progress is not None,
    )


__all__ = ["JOBS", "dpd_chart", "progress_view", "run_summary", "running_job"]
