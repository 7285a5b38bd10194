"""Days-past-due history derived from installments' due and paid-on dates (``loans.queries.dpd_series``):
the corners it returns draw exactly the day-by-day series of the end of day's rule."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dipper.loans.domain.delinquency import days_past_due
from dipper.loans.queries import DpdHistory, DpdPoint, dpd_series

START = date(2026, 1, 5)
DUES = [date(2026, 2, 5), date(2026, 3, 5), date(2026, 4, 5)]


def daily(installments, since, until):
    """The reference: the end of day's rule applied on every single day."""
    out = []
    day = since
    while day <= until:
        unpaid = [due for due, paid in installments if due <= day and (paid is None or paid > day)]
        out.append(days_past_due(day, min(unpaid, default=None)))
        day += timedelta(days=1)
    return out


def drawn(points, since, until):
    history = DpdHistory("L", since, until, points, max((p.days_past_due for p in points), default=0))
    return [history.on(since + timedelta(days=i)) for i in range((until - since).days + 1)]


def test_late_then_cured_then_late_again():
    # The first installment is paid 10 days late, the second on time, the third is still unpaid.
    installments = [(DUES[0], date(2026, 2, 15)), (DUES[1], DUES[1]), (DUES[2], None)]
    until = date(2026, 4, 12)
    points = dpd_series(installments, START, until)
    assert points == [
        DpdPoint(START, 0),
        DpdPoint(date(2026, 2, 5), 0),  # falls due: 0 that day, then one more each day
        DpdPoint(date(2026, 2, 14), 9),
        DpdPoint(date(2026, 2, 15), 0),  # cured on the day it was paid
        DpdPoint(date(2026, 4, 5), 0),
        DpdPoint(until, 7),  # late again
    ]
    assert drawn(points, START, until) == daily(installments, START, until)
    history = DpdHistory("L", START, until, points, 9)
    assert history.on(date(2026, 2, 10)) == 5 and history.on(date(2026, 2, 20)) == 0
    assert history.on(date(2026, 4, 10)) == 5


def test_a_partial_cure_counts_from_the_next_oldest_unpaid_installment():
    # Two installments missed; the older one is paid on 03-20, the newer (due 03-05) stays unpaid.
    installments = [(DUES[0], date(2026, 3, 20)), (DUES[1], None), (DUES[2], None)]
    until = date(2026, 3, 31)
    points = dpd_series(installments, START, until)
    assert DpdPoint(date(2026, 3, 19), 42) in points
    assert DpdPoint(date(2026, 3, 20), 15) in points  # 03-20 - 03-05: the next oldest
    assert points[-1] == DpdPoint(until, 26)
    assert drawn(points, START, until) == daily(installments, START, until)


def test_paid_on_the_due_date_is_never_past_due_and_an_empty_range_is_empty():
    installments = [(due, due) for due in DUES]
    points = dpd_series(installments, START, date(2026, 5, 1))
    assert {p.days_past_due for p in points} == {0}
    assert len(points) == 2  # flat: the first and the last day
    assert dpd_series(installments, START, START - timedelta(days=1)) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.one_of(st.none(), st.integers(0, 60))), min_size=0, max_size=6
    ),
    st.integers(0, 200),
)
def test_the_corners_draw_the_daily_series_exactly(raw, length):
    installments = [
        (START + timedelta(days=due), None if late is None else START + timedelta(days=due + late))
        for due, late in raw
    ]
    until = START + timedelta(days=length)
    points = dpd_series(installments, START, until)
    assert points[0].day == START and points[-1].day == until
    assert drawn(points, START, until) == daily(installments, START, until)
    assert len(points) <= 2 + 4 * len(installments)  # small: corners, not days
