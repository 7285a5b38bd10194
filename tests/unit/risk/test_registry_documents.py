"""Model archives (deterministic, verified, safe to read) and strategy documents as editable tables."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from dipper.entrypoints.console.risk_registry_pages import rows_from_form
from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.risk.adapters.model_archive import ModelArchive, read_archive, runtime_from_archive
from dipper.risk.domain.strategy import Strategy, default_strategy
from dipper.risk.domain.strategy_document import (
    check_expressions,
    decision_tables,
    model_refs,
    replace_rules,
    with_meta,
)


def _archive(files: dict[str, bytes]) -> ModelArchive:
    import hashlib

    artifacts = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    lines = "".join(f"{n} {d}\n" for n, d in sorted(artifacts.items()))
    manifest = {
        "format": "dipper.risk.model/1",
        "kind": "scorecard",
        "artifacts": artifacts,
        "content_hash": "sha256:" + hashlib.sha256(lines.encode()).hexdigest(),
    }
    return ModelArchive({**files, "manifest.json": json.dumps(manifest, sort_keys=True).encode()}, manifest)


def test_the_zip_is_deterministic_and_holds_only_the_listed_files():
    archive = _archive({"model.json": b'{"kind": "x"}', "report/a.txt": b"a"})
    archive.files["stray.txt"] = b"not listed"
    first, second = (
        archive.to_bytes(),
        _archive({"report/a.txt": b"a", "model.json": b'{"kind": "x"}'}).to_bytes(),
    )
    assert first == second
    assert sorted(zipfile.ZipFile(io.BytesIO(first)).namelist()) == [
        "manifest.json",
        "model.json",
        "report/a.txt",
    ]
    again = read_archive(first)
    again.verify(archive.content_hash)
    with pytest.raises(ValidationFailed) as caught:
        again.verify("sha256:" + "0" * 64)
    assert caught.value.code == "model_tampered"


def test_a_folder_zipped_with_its_top_directory_is_read():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in _archive({"model.json": b"{}"}).files.items():
            z.writestr(f"card/{name}", content)
    assert set(read_archive(buffer.getvalue()).files) == {"manifest.json", "model.json"}


@pytest.mark.parametrize("name", ["/abs.txt", "../up.txt", "a/../../b", "a\\b"])
def test_unsafe_names_are_refused(name):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(name, b"x")
    with pytest.raises(ValidationFailed) as caught:
        read_archive(buffer.getvalue())
    assert caught.value.code == "invalid_model_archive"


def test_no_manifest_and_an_unknown_kind():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("model.json", b"{}")
    with pytest.raises(NotFound):
        read_archive(buffer.getvalue())
    with pytest.raises(ValidationFailed) as caught:
        runtime_from_archive(_archive({"model.json": b'{"kind": "mystery"}'}))
    assert caught.value.code == "invalid_model"


def _document():
    return json.loads(json.dumps(default_strategy().document))


def test_tables_round_trip_unchanged():
    document = _document()
    tables = decision_tables(document)
    assert [t["id"] for t in tables] == ["knockouts", "grades", "pricing", "limits"]
    same = replace_rules(document, {t["id"]: t["rules"] for t in tables})
    assert Strategy("s", 1, same).content_hash == Strategy("s", 1, document).content_hash


def test_replace_rules_refuses_unknown_tables_and_columns_and_fills_ids():
    document = _document()
    with pytest.raises(ValidationFailed):
        replace_rules(document, {"nope": []})
    with pytest.raises(ValidationFailed) as caught:
        replace_rules(document, {"pricing": [{"pricing-grade": '"A"', "oops": "1"}]})
    assert caught.value.details["unknown"] == ["oops"]
    out = replace_rules(
        document, {"pricing": [{"pricing-grade": '"A"', "pricing-rate": "0.07"}, {"pricing-rate": "0.2"}]}
    )
    rows = next(t for t in decision_tables(out) if t["id"] == "pricing")["rules"]
    assert [r["_id"] for r in rows] == ["pricing-1", "pricing-2"] and rows[1]["pricing-grade"] == ""
    context = {"score": 750, "age": 30, "kyc_passed": 1, "four_elements_verified": 1, "monthly_income": 9000}
    assert Strategy("s", 1, out).run(context)["annual_rate"] == 0.07


def test_every_cell_is_compiled():
    check_expressions(_document())
    for table, column, text in (("grades", "grade-score", ">= +* 5"), ("knockouts", "ko-condition", "age <")):
        document = _document()
        rows = next(t for t in decision_tables(document) if t["id"] == table)["rules"]
        rows[0][column] = text
        with pytest.raises(ValidationFailed) as caught:
            check_expressions(replace_rules(document, {table: rows}))
        assert caught.value.details == {**caught.value.details, "table": table, "row": 1, "column": column}


def test_model_refs():
    assert model_refs(_document()) == {}
    refs = model_refs(
        with_meta(_document(), models={"scorecard": {"name": "card", "version": 2}, "gbdt": None})
    )
    assert set(refs) == {"scorecard"} and refs["scorecard"].version == 2
    for bad in (
        {"neural": {"name": "x", "version": 1}},
        {"gbdt": {"name": "", "version": 1}},
        {"gbdt": {"name": "x", "version": 0}},
    ):
        with pytest.raises(ValidationFailed):
            model_refs(with_meta(_document(), models=bad))


def test_editor_form_back_to_rows():
    tables = decision_tables(_document())
    form = {
        "cell:pricing:1:pricing-grade": '"A"',
        "cell:pricing:1:pricing-rate": "0.07",
        "rowid:pricing:1": "pricing-A",
        "cell:pricing:2:pricing-grade": '"B"',
        "cell:pricing:2:pricing-rate": "0.09",
        "delete:pricing:2": "1",
        "cell:pricing:3:pricing-grade": "",
        "cell:pricing:3:pricing-rate": "",
        "csrf_token": "x",
    }
    assert rows_from_form(form, tables) == {
        "pricing": [{"pricing-grade": '"A"', "pricing-rate": "0.07", "_id": "pricing-A"}]
    }
    with pytest.raises(ValidationFailed):
        rows_from_form({"cell:pricing:1:nope": "1"}, tables)
