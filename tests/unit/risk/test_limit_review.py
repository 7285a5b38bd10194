"""The limit review's pure pass: the strategy's proposal kept within what the loan core accepts."""

from __future__ import annotations

from dipper.risk.domain.limit_review import LineInput, default_limit_strategy, review_lines

GOOD = {
    "dipper_max_dpd_now": 0,
    "dipper_max_dpd_12m": 0,
    "dipper_on_time_ratio": 1.0,
    "dipper_months_since_first_loan": 12,
}
LATE = {**GOOD, "dipper_max_dpd_12m": 20}


def _line(i: int, limit: int, used: int, behaviour: dict[str, object], status: str = "active") -> LineInput:
    return LineInput(f"line-{i}", f"c-{i}", status, limit, used, behaviour)


def test_bounds_on_the_proposals() -> None:
    lines = [
        _line(0, 1_000_000, 950_000, LATE),  # lower to 70% would go below what is drawn
        _line(1, 1_000_000, 900_000, GOOD),  # raise by 30%, capped
        _line(2, 1_000_000, 900_000, GOOD, status="frozen"),
        _line(3, 1_000_000, 100_000, {}),  # no history: keep
        _line(4, 1_000_000, 500_000, {**GOOD, "dipper_max_dpd_now": 31}),
    ]
    out = review_lines(lines, default_limit_strategy(), max_limit_minor=1_200_000)
    assert [(p.action, p.new_limit_minor) for p in out] == [
        ("lower", 950_000),
        ("raise", 1_200_000),
        ("keep", 1_000_000),
        ("keep", 1_000_000),
        ("freeze", 1_000_000),
    ]
    assert out[0].reasons[0].code == "LR_LOWER_DELINQUENT" and out[0].reasons[0].text_en.startswith(
        "Past due"
    )
    assert out[2].reasons == () and out[1].features["line_utilisation"] == 0.9
    assert review_lines([], default_limit_strategy()) == []


def test_a_line_fully_drawn_is_kept_not_lowered() -> None:
    out = review_lines([_line(0, 1_000_000, 1_000_000, LATE)], default_limit_strategy())
    assert (out[0].action, out[0].new_limit_minor) == ("keep", 1_000_000)
