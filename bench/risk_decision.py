"""Risk decision path benchmark: the default feature set over one application (row) and over a frame,
and the default strategy's zen-engine evaluation for one application.

    python -m bench.risk_decision [--n 20000]

Prints JSON: per-call wall-clock percentiles (p50/p99) and CPU time per call (the process's own
CPU, which a busy shared machine does not inflate as much as wall time). Figures only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dipper.risk.domain.bureau import SimulatedBureau
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET
from dipper.risk.domain.strategy import ProductBounds, default_strategy, strategy_context

BOUNDS = ProductBounds(Decimal("0.06"), Decimal("0.18"), 100_000, 20_000_000, Decimal("0.24"))


def _application(i: int) -> dict[str, Any]:
    report = SimulatedBureau().report(f"customer-{i}", dt.date(2024, 5, 1))
    return {
        **report.as_inputs(),
        "id_number": f"1101051{980 + i % 20}0615002X",
        "application_date": dt.date(2024, 5, 1),
        "income_monthly_minor": 800_000 + 1_000 * (i % 500),
        "requested_amount_minor": 3_000_000,
        "requested_term_months": 12,
        "employment_years": 3.0,
        "scene": "travel",
        "application_hour": i % 24,
        "kyc_passed": True,
        "four_elements_verified": True,
        "phone_tenure_months": 48,
        "device_risky": False,
        "blacklisted": False,
        "dipper_loans_total": 0,
    }


def _time(fn: Callable[[int], object], n: int) -> dict[str, float]:
    for i in range(min(n, 500)):
        fn(i)
    walls = []
    cpu0 = time.process_time()
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        walls.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / n
    walls.sort()
    return {
        "p50_us": round(walls[n // 2] * 1e6, 1),
        "p99_us": round(walls[int(n * 0.99)] * 1e6, 1),
        "cpu_us": round(cpu * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n
    apps = [_application(i) for i in range(1_000)]
    fs = DEFAULT_FEATURE_SET
    rows = [fs.row(a) for a in apps]
    strategy = default_strategy()
    contexts = [strategy_context(r, 560.0 + (i % 250)) for i, r in enumerate(rows)]
    columns = {k: [a.get(k) for a in apps] * 100 for k in fs.inputs}
    t = time.perf_counter()
    fs.frame(columns)
    frame_s = time.perf_counter() - t
    out = {
        "features": len(fs.features),
        "feature_row": _time(lambda i: fs.row(apps[i % 1_000]), n),
        "feature_frame_100k_rows_s": round(frame_s, 3),
        "zen_evaluate": _time(lambda i: strategy.run(contexts[i % 1_000]), n),
        "strategy_evaluate_with_bounds": _time(lambda i: strategy.evaluate(contexts[i % 1_000], BOUNDS), n),
        "features_plus_strategy": _time(
            lambda i: strategy.evaluate(strategy_context(fs.row(apps[i % 1_000]), 700.0), BOUNDS), n
        ),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
