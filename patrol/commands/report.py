"""`patrol report monthly`: the monthly progress report as PDF and CSV (city plan 四(三))."""

from __future__ import annotations

from pathlib import Path

import typer

from patrol.output import console, emit_json, fail

app = typer.Typer(help="报表 (Monthly report).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """报表 (Monthly report)."""  # keeps `report monthly` a sub-command, not the group itself


@app.command("monthly")
def monthly(
    month: str = typer.Option(..., "--month", help="The month, YYYY-MM (e.g. 2026-11)."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder (default $FIELDPATROL_HOME/reports)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Missions, area, detections, cases, deadlines and disclosure rate per department."""
    from cases.errors import CasesError
    from cases.report import monthly_report, write_report
    from patrol.commands.case import _calendar, cases_session

    with cases_session() as (session, settings):
        try:
            report = monthly_report(session, month, _calendar(settings.home))
            paths = write_report(report, out or settings.reports_dir)
        except CasesError as exc:
            fail(str(exc))
    doc = report.to_dict() | {"files": {k: str(v) for k, v in paths.items()}}
    if json_out:
        emit_json(doc)
        return
    console.print(f"monthly report {report.month}, due {report.due_on or 'unknown'}")
    for r in report.rows:
        console.print(
            f"  {r['department']:<10} sorties {r['sorties']:>3}  detections {r['detections']:>3}  "
            f"opened {r['cases_opened']:>3}  decided {r['cases_decided']:>3}  "
            f"closed {r['cases_closed']:>3}  disclosure {r['disclosure_rate']}"
        )
    console.print(f"  {paths['pdf']}\n  {paths['csv']}")
