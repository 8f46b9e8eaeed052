"""`patrol calendar`: working-day arithmetic for inspectors (APL Art. 85).

Uses the built-in holiday data (chinese_calendar) and the administrator's holiday table
``$FIELDPATROL_HOME/holidays.yaml`` when present (or ``--holidays FILE``). A year neither
knows is refused with exit 1, never guessed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from patrol.output import emit_json, fail

app = typer.Typer(help="工作日计算 (Working-day arithmetic).", no_args_is_help=True)

HOLIDAYS_FILE = "holidays.yaml"


def work_calendar(holidays: Path | None = None) -> object:
    """The calendar with the administrator's holiday table (explicit, or under the home)."""
    from cases.workdays import WorkCalendar
    from patrol.config import Settings

    paths: list[Path] = []
    if holidays is not None:
        paths.append(holidays)
    else:
        default = Settings.load().home / HOLIDAYS_FILE
        if default.is_file():
            paths.append(default)
    return WorkCalendar.from_files(paths)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"DATE {text!r} is not a date; write YYYY-MM-DD (e.g. 2026-09-30)")


@app.command("add-working-days")
def add_working_days(
    day: str = typer.Argument(..., metavar="DATE", help="Start day (not counted), YYYY-MM-DD."),
    n: int = typer.Argument(..., help="Working days to add."),
    holidays: Path | None = typer.Option(None, "--holidays", help="Holiday table file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Print the day N working days after DATE (holidays and make-up days counted)."""
    from cases.errors import CasesError
    from cases.workdays import WorkCalendar

    start = _day(day)
    try:
        cal = work_calendar(holidays)
        assert isinstance(cal, WorkCalendar)
        result = cal.add_working_days(start, n)
    except CasesError as exc:
        fail(str(exc))
    if json_out:
        emit_json({"start": start, "working_days": n, "result": result})
    else:
        typer.echo(result.isoformat())


@app.command("is-workday")
def is_workday(
    day: str = typer.Argument(..., metavar="DATE", help="The day, YYYY-MM-DD."),
    holidays: Path | None = typer.Option(None, "--holidays", help="Holiday table file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Print true if DATE is a working day in China, false if not."""
    from cases.errors import CasesError
    from cases.workdays import WorkCalendar

    d = _day(day)
    try:
        cal = work_calendar(holidays)
        assert isinstance(cal, WorkCalendar)
        value = cal.is_workday(d)
        name = cal.holiday_name(d)
    except CasesError as exc:
        fail(str(exc))
    if json_out:
        emit_json({"date": d, "workday": value, "name": name or None})
    else:
        typer.echo("true" if value else "false")
