"""Working-day deadlines across the 2026 Spring Festival and National Day; unknown years."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cases.errors import CalendarError
from cases.workdays import (
    WorkCalendar,
    legal_date,
    load_holiday_table,
    save_table_to_db,
    table_from_db,
)

CAL = WorkCalendar()


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 2, 14), True),  # Saturday, make-up workday before the Spring Festival
        (date(2026, 2, 15), False),  # Spring Festival holiday (Sunday)
        (date(2026, 2, 16), False),  # Monday inside the holiday
        (date(2026, 2, 23), False),  # last holiday day (Monday)
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday, make-up workday after
        (date(2026, 3, 1), False),  # ordinary Sunday
        (date(2026, 9, 20), True),  # Sunday, make-up workday before National Day
        (date(2026, 10, 1), False),
        (date(2026, 10, 7), False),
        (date(2026, 10, 10), True),  # Saturday, make-up workday after
        (date(2026, 10, 11), False),
    ],
)
def test_is_workday_2026(day: date, expected: bool) -> None:
    assert CAL.is_workday(day) is expected


def test_seven_working_days_across_the_spring_festival() -> None:
    # Notice on Thu 2026-02-12: counted days are Fri 13, Sat 14 (make-up), then the
    # holiday 15..23 is skipped, Tue 24, Wed 25, Thu 26, Fri 27, Sat 28 (make-up).
    assert CAL.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
    assert CAL.add_working_days(date(2026, 2, 12), 7) == date(2026, 2, 28)
    assert CAL.add_working_days(date(2026, 2, 12), 8) == date(2026, 3, 2)


def test_working_days_across_national_day() -> None:
    # Decision on Fri 2026-09-18: Sun 20 is a make-up day; 1..7 October rest; Sat 10 works.
    assert CAL.add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)
    assert CAL.add_working_days(date(2026, 9, 29), 2) == date(2026, 10, 8)
    assert CAL.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert CAL.add_working_days(date(2026, 9, 30), 4) == date(2026, 10, 12)
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 12)) == 4


def test_2027_refused_with_a_clear_message() -> None:
    with pytest.raises(CalendarError, match=r"no holiday data for year 2027.*never guessed"):
        CAL.add_working_days(date(2026, 12, 28), 5)
    with pytest.raises(CalendarError, match="2027"):
        CAL.is_workday(date(2027, 3, 3))


def test_calendar_day_periods_roll_to_next_working_day() -> None:
    # 15-day payment from 2026-09-22 ends 2026-10-07 (holiday) -> 2026-10-08.
    d = CAL.add_calendar_days(date(2026, 9, 22), 15)
    assert d.due_on == date(2026, 10, 8) and not d.provisional
    # 90 days from 2026-11-20 ends in 2027: stated provisional, not guessed.
    p = CAL.add_calendar_days(date(2026, 11, 20), 90)
    assert p.due_on == date(2027, 2, 18) and p.provisional and "2027" in p.note
    # 6-month lawsuit period
    assert CAL.add_months(date(2026, 3, 31), 6).due_on == date(2026, 9, 30)


def test_monthly_report_due_on_20th_or_next_working_day() -> None:
    assert CAL.monthly_report_due(2026, 6) == date(2026, 6, 22)  # 20th is a Saturday
    assert CAL.monthly_report_due(2026, 11) == date(2026, 11, 20)


def test_legal_date_is_shanghai_day() -> None:
    assert legal_date(datetime(2026, 9, 30, 17, 0, tzinfo=UTC)) == date(2026, 10, 1)


HOLIDAYS_2027 = """\
# A test arrangement for 2027 (fictional dates; the real one is published by the State Council)
2027:
  source: test arrangement
  holidays:
    - {from: 2027-02-06, to: 2027-02-12, name: 春节}
    - {date: 2027-01-01, name: 元旦}
  workdays:
    - {date: 2027-02-13, name: 春节调休}
"""


def test_administrator_table_extends_to_a_new_year(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yaml"
    path.write_text(HOLIDAYS_2027, encoding="utf-8")
    cal = WorkCalendar.from_files([path])
    assert cal.knows(2027) and not CAL.knows(2027)
    assert cal.is_workday(date(2027, 2, 13)) is True  # Saturday make-up
    assert cal.is_workday(date(2027, 2, 8)) is False
    # Across the year end now works: Mon 28 Dec 2026 + 5 -> skips 1 Jan 2027 and the weekend.
    assert cal.add_working_days(date(2026, 12, 28), 5) == date(2027, 1, 5)
    with pytest.raises(CalendarError, match="2028"):
        cal.add_working_days(date(2027, 12, 28), 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2027:\n  holidays: [{date: 2027-13-01}]\n", "not a date"),
        ("2027:\n  holidays: [{date: 2026-10-01}]\n", "not in year 2027"),
        (
            "2027:\n  holidays: [{date: 2027-01-01}]\n  workdays: [{date: 2027-01-06}]\n",
            "is a weekday",
        ),
        ("2027:\n  workdays: [{date: 2027-01-09}]\n", "lists no holidays"),
        (
            "2027:\n  holidays: [{date: 2027-01-09}]\n  workdays: [{date: 2027-01-09}]\n",
            "both as a holiday and a workday",
        ),
    ],
)
def test_bad_holiday_table_rejected_with_entry_named(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError, match=message):
        load_holiday_table(path)


def test_holiday_table_round_trips_through_database(tmp_path: Path, session: Session) -> None:
    path = tmp_path / "holidays.yaml"
    path.write_text(HOLIDAYS_2027, encoding="utf-8")
    assert save_table_to_db(session, load_holiday_table(path)) == 9
    session.commit()
    cal = WorkCalendar([table_from_db(session)])
    assert cal.is_workday(date(2027, 2, 13)) and not cal.is_workday(date(2027, 2, 12))
