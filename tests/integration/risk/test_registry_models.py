"""The model registry: register, approve under maker-checker, use only when approved, detect tampering."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import update
from tests.integration.risk.conftest import decide, propose, run

from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.risk import commands, queries
from dipper.risk.adapters.registry_tables import RiskModel


def _register(bank, staff, archive, name="card"):
    maker, _ = staff
    return propose(bank, commands.RegisterModel(tenant_id=bank.tenant_id, name=name, archive=archive), maker)


def _uow(bank):
    return bank.container.uow(bank.tenant_id)


def test_register_stores_a_pending_version_with_its_fingerprints(bank, staff, archives, model_dirs):
    _register(bank, staff, archives["scorecard"])
    [model] = queries.list_models(_uow(bank))
    manifest = json.loads((model_dirs["scorecard"] / "manifest.json").read_text())
    assert (model["name"], model["version"], model["kind"], model["status"]) == (
        "card",
        1,
        "scorecard",
        "pending",
    )
    assert model["content_hash"] == manifest["content_hash"]
    assert model["data_fingerprint"] == manifest["training_data"]["sha256"]
    assert model["metrics_summary"]["auc"] == manifest["metrics"]["validation"]["auc"]
    detail = queries.get_model(_uow(bank), model["id"])
    assert "report/report.html" in detail["files"] and detail["manifest"]["kind"] == "scorecard"
    # The stored zip is deterministic: packing the directory again gives the same bytes.
    assert queries.model_file(_uow(bank), model["id"], "archive.zip") == commands.pack_model_directory(
        model_dirs["scorecard"]
    )


def test_the_maker_cannot_approve_their_own_model(bank, staff, archives):
    maker, checker = staff
    change_id = _register(bank, staff, archives["scorecard"])
    with pytest.raises(PermissionDenied) as caught:
        decide(bank, change_id, maker)
    assert caught.value.code == "maker_cannot_check"
    assert queries.list_models(_uow(bank))[0]["status"] == "pending"
    assert decide(bank, change_id, checker) == "approved"
    [model] = queries.list_models(_uow(bank))
    assert model["status"] == "approved" and model["approved_by"] == checker.id


def test_a_pending_or_rejected_model_is_never_handed_out(bank, staff, archives):
    _, checker = staff
    change_id = _register(bank, staff, archives["gbdt"], name="trees")
    with pytest.raises(ValidationFailed) as caught:
        queries.approved_model(_uow(bank), "trees", 1)
    assert caught.value.code == "model_not_approved"
    assert decide(bank, change_id, checker, approve=False) == "rejected"
    assert queries.list_models(_uow(bank))[0]["status"] == "rejected"
    with pytest.raises(ValidationFailed) as caught:
        queries.approved_model(_uow(bank), "trees", 1)
    assert caught.value.code == "model_not_approved"
    # Registered again after the rejection: the same version is proposed again, then approved.
    change_id = _register(bank, staff, archives["gbdt"], name="trees")
    assert decide(bank, change_id, checker) == "approved"
    model = queries.approved_model(_uow(bank), "trees", 1)
    assert model.kind == "gbdt" and model.version == 1
    application = {"utilisation": 0.4, "monthly_income": 9000.0}
    assert model.decide(application)["score"] == pytest.approx(model.runtime.score_one(application))


def test_the_same_files_twice_are_one_model_and_versions_count_per_name(bank, staff, archives):
    _, checker = staff
    decide(bank, _register(bank, staff, archives["scorecard"]), checker)
    with pytest.raises(Conflict) as caught:
        _register(bank, staff, archives["scorecard"], name="other")
    assert caught.value.code == "model_exists"
    decide(bank, _register(bank, staff, archives["gbdt"], name="card"), checker)
    assert [(m["name"], m["version"]) for m in queries.list_models(_uow(bank))] == [("card", 2), ("card", 1)]


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


def test_a_changed_file_in_the_upload_is_refused(bank, staff, archives):
    with zipfile.ZipFile(io.BytesIO(archives["scorecard"])) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files["metrics.json"] = b'{"validation": {"auc": 0.99}}\n'
    with pytest.raises(ValidationFailed) as caught:
        _register(bank, staff, _zip(files))
    assert caught.value.code == "model_tampered" and caught.value.details["changed"] == ["metrics.json"]
    for bad, code in (
        (b"not a zip", "invalid_model_archive"),
        (_zip({"../x": b"1"}), "invalid_model_archive"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            _register(bank, staff, bad)
        assert caught.value.code == code
    with pytest.raises(NotFound) as missing:
        _register(bank, staff, _zip({"a.txt": b"1"}))
    assert missing.value.code == "model_not_found"
    assert queries.list_models(_uow(bank)) == []


def test_a_stored_artifact_that_no_longer_matches_its_hash_is_refused_on_load(bank, staff, archives):
    _, checker = staff
    decide(bank, _register(bank, staff, archives["gbdt"], name="tampered"), checker)
    with zipfile.ZipFile(io.BytesIO(archives["gbdt"])) as z:
        files = {n: z.read(n) for n in z.namelist()}
    model_json = json.loads(files["model.json"])
    files["model.json"] = json.dumps({**model_json, "base_score": 1.0}).encode()
    uow = _uow(bank)
    with uow:
        uow.session.execute(
            update(RiskModel).where(RiskModel.name == "tampered").values(artifact=_zip(files))
        )
        uow.commit()
    queries.clear_caches()  # a fresh process: nothing loaded yet
    with pytest.raises(ValidationFailed) as caught:
        queries.approved_model(_uow(bank), "tampered", 1)
    assert caught.value.code == "model_tampered"
    assert "model.json" in caught.value.details["changed"]


def test_models_of_another_bank_look_absent(make_bank, staff, bank, archives):
    _, checker = staff
    decide(bank, _register(bank, staff, archives["scorecard"], name="mine"), checker)
    other = make_bank("Other Bank")
    assert queries.list_models(other.container.uow(other.tenant_id)) == []
    with pytest.raises(NotFound):
        queries.approved_model(other.container.uow(other.tenant_id), "mine", 1)
    model_id = queries.list_models(_uow(bank))[0]["id"]
    with pytest.raises(NotFound):
        queries.get_model(other.container.uow(other.tenant_id), model_id)


def test_retire_is_refused_while_a_strategy_uses_the_model(bank, staff, archives):
    maker, checker = staff
    decide(bank, _register(bank, staff, archives["scorecard"]), checker)
    model_id = queries.list_models(_uow(bank))[0]["id"]
    from tests.integration.risk.conftest import default_document

    document = default_document(scorecard=("card", 1))
    change_id = propose(
        bank,
        commands.ProposeStrategy(tenant_id=bank.tenant_id, strategy_id="default_consumer", document=document),
        maker,
    )
    decide(bank, change_id, checker)
    with pytest.raises(Conflict) as caught:
        run(bank, commands.RetireModel(tenant_id=bank.tenant_id, model_id=model_id), maker)
    assert caught.value.code == "model_in_use"
    other = propose(
        bank,
        commands.ProposeStrategy(
            tenant_id=bank.tenant_id, strategy_id="default_consumer", document=default_document()
        ),
        maker,
    )
    decide(bank, other, checker)
    run(bank, commands.RetireModel(tenant_id=bank.tenant_id, model_id=model_id, reason="replaced"), maker)
    assert queries.list_models(_uow(bank))[0]["status"] == "retired"
    with pytest.raises(ValidationFailed) as caught:
        queries.approved_model(_uow(bank), "card", 1)
    assert caught.value.code == "model_not_approved"
