"""Fixtures of the registry tests: two small trained model directories (made once per run), staff
with the risk roles, and helpers that go through maker-checker."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dipper.access import commands as access_commands
from dipper.kernel.uow import Actor
from dipper.risk import commands, queries


def write_applications(path: Path, n: int = 600, seed: int = 5) -> Path:
    """A small credit file whose columns are features of the default feature set (score and income)."""
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(0, 1.2, n)
    income = rng.lognormal(9, 0.5, n)
    logit = -1.0 + 2.5 * utilisation - 0.8 * (np.log(income) - 9)
    bad = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utilisation", "monthly_income", "bad"])
        for i in range(n):
            writer.writerow([f"{utilisation[i]:.4f}", f"{income[i]:.2f}", bad[i]])
    return path


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trained scorecard and a trained gbdt directory (trained once per test run)."""
    root = tmp_path_factory.mktemp("registry-models")
    data = write_applications(root / "applications.csv")
    out = {}
    for kind in ("scorecard", "gbdt"):
        out[kind] = root / kind
        commands.run(commands.TrainModel(data=data, target="bad", kind=kind, out=out[kind], seed=3))
    return out


@pytest.fixture(scope="session")
def archives(model_dirs: dict[str, Path]) -> dict[str, bytes]:
    return {kind: commands.pack_model_directory(path) for kind, path in model_dirs.items()}


@pytest.fixture
def staff(bank: Any) -> tuple[Actor, Actor]:
    maker = Actor(kind="user", id=bank.add_user("analyst", ("risk_analyst",)), name="analyst")
    checker = Actor(kind="user", id=bank.add_user("reviewer", ("risk_analyst",)), name="reviewer")
    return maker, checker


def run(bank: Any, command: Any, actor: Actor) -> Any:
    return bank.container.handle(command, actor=actor, tenant_id=bank.tenant_id)


def propose(bank: Any, command: Any, maker: Actor) -> str:
    """Send a registry command and the change request it answers; the change request's id."""
    proposal = run(bank, command, maker)
    assert isinstance(proposal, access_commands.ProposeChange)
    change_id: str = run(bank, proposal, maker)
    return change_id


def decide(bank: Any, change_id: str, checker: Actor, *, approve: bool = True) -> str:
    decision = access_commands.DecideChange(tenant_id=bank.tenant_id, change_id=change_id, approve=approve)
    status: str = run(bank, decision, checker)
    return status


def approved_model(bank: Any, staff: tuple[Actor, Actor], archive: bytes, name: str) -> dict[str, Any]:
    maker, checker = staff
    change_id = propose(
        bank, commands.RegisterModel(tenant_id=bank.tenant_id, name=name, archive=archive), maker
    )
    assert decide(bank, change_id, checker) == "approved"
    models = queries.list_models(bank.container.uow(bank.tenant_id), name)
    return models[0]


def default_document(**models: tuple[str, int]) -> dict[str, Any]:
    """The packaged default document, naming the given models (slot -> (name, version))."""
    document = dict(queries.packaged_strategy().document)
    meta = dict(document.get("dipper") or {})
    meta["models"] = {slot: {"name": n, "version": v} for slot, (n, v) in models.items()}
    document["dipper"] = meta
    return json.loads(json.dumps(document))
