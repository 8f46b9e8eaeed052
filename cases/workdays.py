"""Chinese working-day arithmetic for legal deadlines (APL Art. 85), never guessed.

A day is a working day when the official holiday arrangement of its year says so:
weekdays work, weekends rest, statutory holidays rest, and make-up days (调休, a Saturday
or Sunday declared a workday) work. The arrangement comes from, in order of precedence:

1. administrator-maintained holiday tables (YAML/JSON files, see :func:`load_holiday_table`)
   — the State Council publishes each year late in the year before, so new years arrive
   here first;
2. ``chinese_calendar`` (``chinesecalendar`` on PyPI) for the years it knows.

A working-day computation that touches a year neither knows raises :class:`CalendarError`
naming the year and the file to extend. Calendar-day periods (90-day decision, 15-day
payment, 60-day review, 6-month lawsuit) count plain days; when their last day is not a
working day it moves to the next one (by analogy with 民事诉讼法 Art. 85) — and if that
cannot be known yet, the result says it is provisional.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml
from dateutil.relativedelta import relativedelta

from cases.errors import CalendarError

__all__ = [
    "LEGAL_TZ",
    "CalendarDeadline",
    "HolidayTable",
    "WorkCalendar",
    "YearArrangement",
    "legal_date",
    "load_holiday_table",
]

LEGAL_TZ = ZoneInfo("Asia/Shanghai")

#: Longest span a single computation may walk (guards against absurd inputs).
MAX_WORKING_DAYS = 3660


def legal_date(when: datetime) -> date:
    """The Asia/Shanghai calendar day of an aware UTC datetime (legal dates use it)."""
    if when.tzinfo is None:
        raise CalendarError(f"datetime {when.isoformat()} is naive: pass a timezone-aware time")
    return when.astimezone(LEGAL_TZ).date()


@dataclass
class YearArrangement:
    """One year's official arrangement: rest days that would be workdays, and vice versa."""

    year: int
    source: str = ""
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)


@dataclass
class HolidayTable:
    """Holiday arrangements for some years, from one administrator-maintained file."""

    years: dict[int, YearArrangement] = field(default_factory=dict)
    path: str = ""


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{where}: {value!r} is not a date; write YYYY-MM-DD") from None


def _entry_days(entry: Any, where: str) -> tuple[list[date], str]:
    if not isinstance(entry, dict):
        raise CalendarError(f"{where}: {entry!r} must be a mapping with 'date' or 'from'/'to'")
    name = str(entry.get("name", ""))
    if "date" in entry:
        return [_as_date(entry["date"], where)], name
    if "from" in entry and "to" in entry:
        start, end = _as_date(entry["from"], where), _as_date(entry["to"], where)
        if end < start:
            raise CalendarError(f"{where}: 'to' {end} is before 'from' {start}")
        return [start + timedelta(days=i) for i in range((end - start).days + 1)], name
    raise CalendarError(f"{where}: {entry!r} needs 'date', or 'from' and 'to'")


def parse_holiday_table(data: Any, path: str = "<data>") -> HolidayTable:
    """Validate and build a :class:`HolidayTable` from parsed YAML/JSON ``data``.

    Shape: ``{YEAR: {source: str, holidays: [{date|from,to, name}], workdays: [...]}}``.
    Every day must lie in its year; a make-up workday must be a Saturday or Sunday; no day
    may be both a holiday and a workday.
    """
    if not isinstance(data, dict):
        raise CalendarError(f"{path}: the top level must map years to arrangements")
    table = HolidayTable(path=path)
    for key, spec in data.items():
        try:
            year = int(key)
        except (TypeError, ValueError):
            raise CalendarError(f"{path}: key {key!r} is not a year") from None
        if not isinstance(spec, dict):
            raise CalendarError(f"{path}: year {year} must map to holidays/workdays lists")
        arr = YearArrangement(year=year, source=str(spec.get("source", "")))
        for kind in ("holidays", "workdays"):
            for i, entry in enumerate(spec.get(kind) or []):
                where = f"{path}: {year}.{kind}[{i}]"
                days, name = _entry_days(entry, where)
                for d in days:
                    if d.year != year:
                        raise CalendarError(f"{where}: {d} is not in year {year}")
                    if kind == "workdays" and d.weekday() < 5:
                        raise CalendarError(
                            f"{where}: {d} is a weekday; make-up workdays are Saturdays "
                            "or Sundays declared working days"
                        )
                    getattr(arr, kind)[d] = name
        both = set(arr.holidays) & set(arr.workdays)
        if both:
            first = min(both)
            raise CalendarError(f"{path}: {first} is listed both as a holiday and a workday")
        if not arr.holidays:
            raise CalendarError(
                f"{path}: year {year} lists no holidays; a year's arrangement always has some"
            )
        table.years[year] = arr
    return table


class _StringDatesLoader(yaml.SafeLoader):
    """YAML loader that leaves dates as text, so a bad date is reported with its entry."""


_StringDatesLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_holiday_table(path: str | Path) -> HolidayTable:
    """Load an administrator-maintained holiday table (``.yaml``/``.yml`` or ``.json``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalendarError(f"holiday table {p}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.load(text, _StringDatesLoader)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CalendarError(f"holiday table {p}: not valid YAML/JSON ({exc})") from None
    return parse_holiday_table(data or {}, str(p))


@dataclass(frozen=True)
class CalendarDeadline:
    """A calendar-day deadline; ``provisional`` when its roll-forward could not be checked."""

    due_on: date
    provisional: bool = False
    note: str = ""


class WorkCalendar:
    """Working days from holiday tables (first) and ``chinese_calendar`` (for its years)."""

    def __init__(self, tables: Iterable[HolidayTable] = (), use_builtin: bool = True) -> None:
        self._years: dict[int, YearArrangement] = {}
        self._sources: list[str] = []
        for table in tables:
            self._years.update(table.years)
            if table.path:
                self._sources.append(table.path)
        self._use_builtin = use_builtin

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], use_builtin: bool = True) -> WorkCalendar:
        """A calendar from holiday table files (missing files are an error)."""
        return cls([load_holiday_table(p) for p in paths], use_builtin=use_builtin)

    def _builtin_knows(self, year: int) -> bool:
        if not self._use_builtin:
            return False
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def knows(self, year: int) -> bool:
        """Whether the holiday arrangement of ``year`` is known."""
        return year in self._years or self._builtin_knows(year)

    def known_years(self) -> list[int]:
        """Years with a known arrangement (tables and the built-in data)."""
        years = set(self._years)
        if self._use_builtin:
            years.update(y for y in range(2004, 2100) if self._builtin_knows(y))
        return sorted(years)

    def _unknown(self, year: int) -> CalendarError:
        known = self.known_years()
        span = f"{known[0]}-{known[-1]}" if known else "none"
        files = ", ".join(self._sources) or "no holiday table file loaded"
        return CalendarError(
            f"no holiday data for year {year} (known years: {span}; tables: {files}); "
            f"add the State Council's {year} arrangement to the holiday table file "
            "(see docs/cases.md) — working days are never guessed"
        )

    def is_workday(self, day: date) -> bool:
        """True on a working day; :class:`CalendarError` if the year is not known."""
        arr = self._years.get(day.year)
        if arr is not None:
            if day in arr.holidays:
                return False
            if day in arr.workdays:
                return True
            return day.weekday() < 5
        if self._use_builtin:
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                pass
        raise self._unknown(day.year)

    def holiday_name(self, day: date) -> str:
        """The holiday or make-up name of ``day`` ('' for an ordinary day)."""
        arr = self._years.get(day.year)
        if arr is not None:
            return arr.holidays.get(day) or arr.workdays.get(day) or ""
        try:
            _on, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            raise self._unknown(day.year) from None
        return str(name or "")

    def next_workday(self, day: date, inclusive: bool = True) -> date:
        """The first working day on or after ``day`` (after it if not ``inclusive``)."""
        d = day if inclusive else day + timedelta(days=1)
        for _ in range(MAX_WORKING_DAYS):
            if self.is_workday(d):
                return d
            d += timedelta(days=1)
        raise CalendarError(f"no working day within {MAX_WORKING_DAYS} days of {day}")

    def add_working_days(self, start: date, n: int) -> date:
        """The day ``n`` working days after ``start`` (the start day is not counted)."""
        if n < 0:
            raise CalendarError(f"working days n={n} is negative; give 0 or more")
        if n > MAX_WORKING_DAYS:
            raise CalendarError(f"working days n={n} is too large (max {MAX_WORKING_DAYS})")
        if n == 0:
            return self.next_workday(start)
        d, left = start, n
        while left:
            d += timedelta(days=1)
            if self.is_workday(d):
                left -= 1
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when ``end`` is before ``start``."""
        if end < start:
            return -self.working_days_between(end, start)
        if (end - start).days > MAX_WORKING_DAYS * 2:
            raise CalendarError(f"span {start}..{end} is too long to count")
        return sum(
            1 for i in range(1, (end - start).days + 1) if self.is_workday(start + timedelta(i))
        )

    def _roll(self, raw: date, what: str) -> CalendarDeadline:
        if not self.knows(raw.year):
            return CalendarDeadline(
                raw,
                provisional=True,
                note=(
                    f"{what} ends {raw}; no holiday data for {raw.year} yet, so whether it "
                    "moves to a later working day is not known"
                ),
            )
        due = self.next_workday(raw)
        note = f"{what} ends {raw}" + (f", moved to working day {due}" if due != raw else "")
        return CalendarDeadline(due, provisional=False, note=note)

    def add_calendar_days(self, start: date, days: int) -> CalendarDeadline:
        """A calendar-day period of ``days`` from ``start`` (start day not counted)."""
        if days < 0:
            raise CalendarError(f"calendar days {days} is negative; give 0 or more")
        return self._roll(start + timedelta(days=days), f"{days}-day period from {start}")

    def add_months(self, start: date, months: int) -> CalendarDeadline:
        """A period of ``months`` months from ``start`` (e.g. the 6-month lawsuit period)."""
        if months < 0:
            raise CalendarError(f"months {months} is negative; give 0 or more")
        return self._roll(start + relativedelta(months=months), f"{months}-month period")

    def monthly_report_due(self, year: int, month: int) -> date:
        """City plan: the monthly report is due on the 20th, or the next working day."""
        return self.next_workday(date(year, month, 20))


def save_table_to_db(session: Any, table: HolidayTable) -> int:
    """Store ``table`` in the ``holidays`` table (replacing those years); returns rows written."""
    from sqlalchemy import delete

    from cases.models import HolidayDay

    written = 0
    for year, arr in table.years.items():
        session.execute(
            delete(HolidayDay).where(
                HolidayDay.day >= date(year, 1, 1), HolidayDay.day <= date(year, 12, 31)
            )
        )
        for d, name in sorted(arr.holidays.items()):
            session.add(HolidayDay(day=d, kind="holiday", name=name, source=arr.source))
            written += 1
        for d, name in sorted(arr.workdays.items()):
            session.add(HolidayDay(day=d, kind="workday", name=name, source=arr.source))
            written += 1
    session.flush()
    return written


def table_from_db(session: Any) -> HolidayTable:
    """The holiday arrangements stored in the database (years with at least one row)."""
    from sqlalchemy import select

    from cases.models import HolidayDay

    table = HolidayTable(path="database:holidays")
    for row in session.scalars(select(HolidayDay).order_by(HolidayDay.day)):
        arr = table.years.setdefault(row.day.year, YearArrangement(row.day.year, row.source))
        (arr.holidays if row.kind == "holiday" else arr.workdays)[row.day] = row.name
    return table
