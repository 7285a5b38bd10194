"""Risk features: one definition, two forms (a whole frame, one row), identical values."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.feature_set import (
    DEFAULT_FEATURE_SET,
    SCENES,
    AgeFromResidentId,
    Const,
    DType,
    Feature,
    FeatureSet,
    Flag,
    MissingPolicy,
    Num,
    Source,
    maximum,
    minimum,
    where,
)

FS = DEFAULT_FEATURE_SET


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _id_number(birth: dt.date, region: str = "110105", seq: str = "002", check: str = "X") -> str:
    return f"{region}{birth:%Y%m%d}{seq}{check}"


APP: dict[str, Any] = {
    "id_number": _id_number(dt.date(1990, 6, 15)),
    "application_date": dt.date(2024, 5, 1),
    "income_monthly_minor": 1_200_000,
    "requested_amount_minor": 5_000_000,
    "requested_term_months": 12,
    "employment_years": 3.5,
    "scene": "travel",
    "application_hour": 2,
    "kyc_passed": True,
    "four_elements_verified": True,
    "phone_tenure_months": 60,
    "device_risky": False,
    "blacklisted": False,
    "bureau_thin_file": False,
    "bureau_inquiries_3m": 2,
    "bureau_inquiries_6m": 0,
    "bureau_current_delinquency": False,
    "bureau_monthly_debt_minor": 300_000,
    "bureau_card_utilisation": 3.7,
    "dipper_loans_total": 0,
}


def test_default_set_values_for_one_application() -> None:
    row = FS.row(APP)
    assert len(FS.features) >= 30
    assert row["age"] == 33.0  # born 1990-06-15, applying 2024-05-01
    assert row["monthly_income"] == 12_000.0
    assert row["dti"] == 0.25
    assert row["dti_after_loan"] == (3_000.0 + 50_000.0 / 12.0) / 12_000.0
    assert row["scene"] == float(SCENES.index("travel"))
    assert row["night_application"] == 1.0
    assert math.isnan(row["bureau_inquiries_3m_share"])  # 2 / 0: no value, not infinity
    assert row["bureau_card_utilisation"] == 2.0  # capped
    assert row["dipper_has_history"] == 0.0
    assert row["dipper_active_loans"] == 0.0  # filled
    assert math.isnan(row["dipper_on_time_ratio"])  # kept missing
    assert math.isnan(row["employment_years"]) is False
    assert row["device_customer_count"] == 1.0  # a missing count means this applicant alone


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (dt.date(2000, 2, 29), dt.date(2018, 2, 28), 17.0),  # a 29 February birthday completes on 1 March
        (dt.date(2000, 2, 29), dt.date(2018, 3, 1), 18.0),
        (dt.date(2000, 5, 1), dt.date(2024, 5, 1), 24.0),
        (dt.date(2000, 5, 2), dt.date(2024, 5, 1), 23.0),
        (dt.date(2025, 1, 1), dt.date(2024, 5, 1), math.nan),  # born after applying
    ],
)
def test_age_from_resident_id_both_forms(birth: dt.date, on: dt.date, age: float) -> None:
    fs = FeatureSet(
        "t", 1, [Feature("age", 1, Source.IDENTITY, DType.INT, AgeFromResidentId("id", "d"), "", "")]
    )
    ident = _id_number(birth)
    assert _same(fs.row({"id": ident, "d": on})["age"], age)
    assert _same(fs.frame({"id": [ident], "d": [on]})["age"][0], age)


@pytest.mark.parametrize(
    "ident",
    [
        "",
        "11010519900230002X",
        "1101051990061500",
        "11010519900615002Y",
        "1101051990061500２X",
        "110105189906150021",
    ],
)
def test_malformed_resident_id_gives_a_missing_age(ident: str) -> None:
    fs = FeatureSet(
        "t", 1, [Feature("age", 1, Source.IDENTITY, DType.INT, AgeFromResidentId("id", "d"), "", "")]
    )
    on = dt.date(2024, 5, 1)
    assert math.isnan(fs.row({"id": ident, "d": on})["age"])
    assert math.isnan(fs.frame({"id": [ident], "d": [on]})["age"][0])


# ------------------------------------------------------------------------------------ frame == row

_numbers = st.one_of(
    st.none(),
    st.just(math.nan),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0, 0.0, -0.0, 1, 6, 12]),
)
_flags = st.one_of(st.none(), st.booleans())
_dates = st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)))
_ids = st.one_of(
    st.none(),
    st.builds(
        _id_number,
        st.dates(dt.date(1890, 1, 1), dt.date(2030, 12, 31)),
        st.sampled_from(["110105", "440305"]),
        st.sampled_from(["001", "123"]),
        st.sampled_from(["0", "7", "X", "x"]),
    ),
    st.text(alphabet="0123456789Xx-", max_size=19),
)
_texts = st.one_of(st.none(), st.sampled_from([*SCENES, "other", ""]))
_KIND_STRATEGY = {"number": _numbers, "flag": _flags, "date": _dates, "text": _texts}


def _strategy_for(name: str, kind: str) -> st.SearchStrategy[Any]:
    if name == "id_number":
        return _ids
    return _KIND_STRATEGY[kind]


_rows = st.fixed_dictionaries({n: _strategy_for(n, k.value) for n, k in FS.inputs.items()})

_LENIENT = FeatureSet(
    "lenient",
    1,
    [
        Feature(f.name, f.version, f.source, f.dtype, f.expr, "", "", categories=f.categories)
        for f in FS.features
    ],
)  # the default set with every missing value kept, so no generated row is rejected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_rows, min_size=1, max_size=12))
def test_frame_and_row_give_identical_values(rows: list[dict[str, Any]]) -> None:
    columns = {name: [r[name] for r in rows] for name in _LENIENT.inputs}
    frame = _LENIENT.frame(columns)
    for i, r in enumerate(rows):
        one = _LENIENT.row(r)
        for name, value in one.items():
            assert _same(frame[name][i], value), (name, i, frame[name][i], value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_numbers, _numbers, _flags), min_size=1, max_size=20))
def test_typed_numpy_columns_match_rows(values: list[tuple[Any, Any, Any]]) -> None:
    fs = FeatureSet(
        "ops",
        1,
        [
            Feature("ratio", 1, Source.APPLICATION, DType.FLOAT, Num("a") / Num("b"), "", ""),
            Feature("lo", 1, Source.APPLICATION, DType.FLOAT, minimum(Num("a"), Num("b")), "", ""),
            Feature(
                "hi", 1, Source.APPLICATION, DType.FLOAT, maximum(Num("a"), 3.0) - Num("b") * 2.0, "", ""
            ),
            Feature("pick", 1, Source.APPLICATION, DType.FLOAT, where(Flag("f"), Num("a"), Num("b")), "", ""),
            Feature("ge", 1, Source.APPLICATION, DType.FLAG, Num("a").ge(Num("b")), "", ""),
            Feature("miss", 1, Source.APPLICATION, DType.FLAG, Num("a").is_missing(), "", ""),
            Feature(
                "filled",
                1,
                Source.APPLICATION,
                DType.FLOAT,
                Num("b"),
                "",
                "",
                MissingPolicy.FILL,
                fill_value=-1.0,
            ),
        ],
    )
    a = np.array([math.nan if v[0] is None else float(v[0]) for v in values])
    b = np.array([math.nan if v[1] is None else float(v[1]) for v in values])
    f = np.array([math.nan if v[2] is None else float(v[2]) for v in values])
    frame = fs.frame({"a": a, "b": b, "f": f})
    for i, (va, vb, vf) in enumerate(values):
        one = fs.row({"a": va, "b": vb, "f": vf})
        for name, value in one.items():
            assert _same(frame[name][i], value), (name, i)


def test_frame_accepts_typed_columns_and_absent_inputs() -> None:
    n = 3
    cols = {k: [v] * n for k, v in APP.items()}
    cols["id_number"] = np.array([APP["id_number"]] * n)
    cols["application_date"] = np.array(["2024-05-01"] * n, dtype="datetime64[D]")
    cols["income_monthly_minor"] = np.array([1_200_000] * n, dtype=np.int64)
    frame = FS.frame(cols)
    one = FS.row(APP)
    assert set(frame) == set(FS.names)
    for name in FS.names:
        assert frame[name].dtype == np.float64
        assert all(_same(x, one[name]) for x in frame[name]), name


def test_row_accepts_decimals_and_iso_dates() -> None:
    row = FS.row({**APP, "income_monthly_minor": Decimal("1200000"), "application_date": "2024-05-01"})
    assert row == pytest.approx(FS.row(APP), nan_ok=True)


# ------------------------------------------------------------------------------------ missing policy


def test_reject_policy_refuses_a_row_and_a_frame() -> None:
    with pytest.raises(ValidationFailed) as err:
        FS.row({**APP, "id_number": None})
    assert err.value.code == "feature_missing"
    assert err.value.details["feature"] == "age"
    with pytest.raises(ValidationFailed) as err:
        FS.frame({"id_number": [APP["id_number"], "bad"], "application_date": [APP["application_date"]] * 2,
                  "requested_amount_minor": [1, 2]})  # fmt: skip
    assert err.value.code == "feature_missing"
    assert err.value.details == {"feature": "age", "rows": 1}


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("income_monthly_minor", "12000"),  # numbers come as numbers, never parsed from text
        ("income_monthly_minor", True),
        ("income_monthly_minor", math.inf),
        ("income_monthly_minor", 10**400),
        ("kyc_passed", "yes"),
        ("kyc_passed", 2),
        ("application_date", "01/05/2024"),
        ("application_date", "2024-02-30"),
        ("scene", 3),
    ],
)
def test_bad_input_is_a_validation_error_in_both_forms(name: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as err:
        FS.row({**APP, name: value})
    assert err.value.code == "invalid_feature_input"
    assert err.value.details["input"] == name
    cols = {k: [v, v] for k, v in APP.items()}
    cols[name] = [APP[name], value]
    with pytest.raises(ValidationFailed) as err:
        FS.frame(cols)
    assert err.value.code == "invalid_feature_input"
    assert err.value.details["input"] == name


def test_typed_column_of_the_wrong_kind_is_refused() -> None:
    cols = {k: [v] for k, v in APP.items()}
    cols["income_monthly_minor"] = np.array(["12000"])
    with pytest.raises(ValidationFailed) as err:
        FS.frame(cols)
    assert err.value.code == "invalid_feature_input"
    cols["income_monthly_minor"] = np.array([np.inf])
    with pytest.raises(ValidationFailed):
        FS.frame(cols)


def test_ragged_frame_is_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        FS.frame({"income_monthly_minor": [1, 2], "scene": ["travel"]})
    assert err.value.code == "feature_frame_ragged"


# ------------------------------------------------------------------------------------ versions and hashes


def _income(version: int = 1, divisor: float = 100.0, en: str = "Income") -> Feature:
    return Feature(
        "monthly_income", version, Source.APPLICATION, DType.FLOAT, Num("income") / divisor, en, "收入"
    )


def test_hash_follows_the_definition_not_the_description() -> None:
    base = _income()
    assert base.content_hash == _income().content_hash
    assert base.content_hash == _income(en="Declared monthly income").content_hash
    assert base.content_hash != _income(divisor=1000.0).content_hash
    assert base.content_hash != _income(version=2).content_hash
    assert base.definition == "(num(income) / 100.0)"


def test_feature_set_hash_changes_with_any_feature() -> None:
    one = FeatureSet("s", 1, [_income()])
    assert one.content_hash == FeatureSet("s", 1, [_income()]).content_hash
    assert one.content_hash != FeatureSet("s", 1, [_income(divisor=10.0)]).content_hash
    assert one.content_hash != FeatureSet("s", 2, [_income()]).content_hash
    manifest = one.manifest()
    assert manifest["features"]["monthly_income"]["content_hash"] == _income().content_hash


def test_definitions_are_checked() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        Num("Income; import os")
    with pytest.raises(ValueError, match="distinct"):
        FeatureSet("s", 1, [_income(), _income()])
    with pytest.raises(ValueError, match="fill value"):
        Feature("x", 1, Source.APPLICATION, DType.FLOAT, Num("x"), "", "", MissingPolicy.FILL)
    with pytest.raises(ValueError, match="read both"):
        FeatureSet(
            "s",
            1,
            [
                Feature("x", 1, Source.APPLICATION, DType.FLOAT, Num("x"), "", ""),
                Feature("y", 1, Source.APPLICATION, DType.FLAG, Flag("x"), "", ""),
            ],
        )
    with pytest.raises(ValueError, match="finite"):
        Const(math.inf)
    with pytest.raises(TypeError):
        Num("x") + "1"  # type: ignore[operator]
