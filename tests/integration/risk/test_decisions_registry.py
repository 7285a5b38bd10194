"""Decisions on the registry's champion: the published strategy and its approved models decide, the
record names them, and a replay finds the very versions again in the registry after a new version is
published (and in a fresh process, without any cache)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.loans.test_repay_support import Book, book_fixture, key, resident_id  # noqa: F401
from tests.integration.risk.conftest import approved_model, default_document, propose
from tests.integration.risk.conftest import decide as decide_change

from dipper.kernel.uow import Actor
from dipper.risk import commands
from dipper.risk.adapters.demo_models import simulated_applications, synthetic_labels
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET
from dipper.risk.handlers.decisions import DefaultSetupSource, use_setup_source

_serial = itertools.count(95_000)


@pytest.fixture(scope="session")
def feature_model_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A scorecard trained on the default feature set's values of simulated applications."""
    root = tmp_path_factory.mktemp("decision-models")
    apps = simulated_applications(3_000, seed=21)
    frame = DEFAULT_FEATURE_SET.frame({k: [a.get(k) for a in apps] for k in DEFAULT_FEATURE_SET.inputs})
    y = synthetic_labels(frame, 21)
    names = ["dti_after_loan", "bureau_inquiries_3m", "bureau_delinquencies_24m", "monthly_income", "age"]
    with (root / "data.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, "bad"])
        for i in range(len(apps)):
            writer.writerow(
                [*("" if frame[n][i] != frame[n][i] else repr(float(frame[n][i])) for n in names), y[i]]
            )
    out = root / "scorecard"
    commands.run(commands.TrainModel(data=root / "data.csv", target="bad", kind="scorecard", out=out, seed=2))
    return commands.pack_model_directory(Path(out))


@pytest.fixture(autouse=True)
def source() -> Iterator[None]:
    previous = use_setup_source(DefaultSetupSource(models=""))
    try:
        yield
    finally:
        use_setup_source(previous)


def _apply(book: Book, i: int) -> dict[str, Any]:
    app = {k: v for k, v in simulated_applications(i + 1, seed=22)[i].items() if not k.startswith("bureau_")}
    app.update(
        id_number=resident_id(next(_serial)),
        application_date=book.today.isoformat(),
        kyc_passed=True,
        four_elements_verified=True,
        blacklisted=False,
        device_risky=False,
    )
    view: dict[str, Any] = book.handle(
        commands.DecideApplication, idempotency_key=key(), product_code=book.product_code, application=app
    )
    return view


def test_registry_champion_decides_and_replays_after_a_new_version(
    book: Book, feature_model_archive: bytes
) -> None:
    bank = book.bank
    staff = (
        Actor(kind="user", id=bank.add_user("maker", ("risk_analyst",)), name="maker"),
        Actor(kind="user", id=bank.add_user("checker", ("risk_analyst",)), name="checker"),
    )
    before = _apply(book, 0)
    assert before["setup_source"] == "default" and before["record"]["models"] == []
    assert before["decision"] in ("review", "decline")  # no score: NO_SCORE, unless knocked out

    model = approved_model(bank, staff, feature_model_archive, "app_card")
    change = propose(
        bank,
        commands.ProposeStrategy(
            tenant_id=bank.tenant_id,
            strategy_id="default_consumer",
            document=default_document(scorecard=("app_card", 1)),
        ),
        staff[0],
    )
    assert decide_change(bank, change, staff[1]) == "approved"

    first = _apply(book, 1)
    assert first["setup_source"] == "registry" and first["strategy_version"] >= 1
    refs = first["record"]["models"]
    assert [(m["role"], m["model_id"], m["version"], m["content_hash"]) for m in refs] == [
        ("scorecard", "app_card", 1, model["content_hash"])
    ]
    assert first["score"] is not None

    doc = default_document(scorecard=("app_card", 1))
    for node in doc["nodes"]:
        if node["id"] == "pricing":
            node["content"]["rules"][0]["pricing-rate"] = "0.08"
    change = propose(
        bank,
        commands.ProposeStrategy(tenant_id=bank.tenant_id, strategy_id="default_consumer", document=doc),
        staff[0],
    )
    assert decide_change(bank, change, staff[1]) == "approved"
    second = _apply(book, 2)
    assert second["strategy_version"] == first["strategy_version"] + 1

    replayed = book.handle(commands.ReplayDecision, decision_id=first["id"])
    assert replayed["equal"] is True and replayed["versions"] == "stored"
    use_setup_source(DefaultSetupSource(models=""))  # a fresh process: nothing cached
    replayed = book.handle(commands.ReplayDecision, decision_id=first["id"])
    assert replayed["equal"] is True and replayed["versions"] == "stored"
    assert book.handle(commands.ReplayDecision, decision_id=before["id"])["equal"] is True
