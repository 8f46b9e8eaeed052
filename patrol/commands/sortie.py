"""`patrol sortie report SORTIE`: the mission report of one sortie (HTML, PDF, map, JSON)."""

from __future__ import annotations

from pathlib import Path

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="架次 (Sortie records and mission reports).", no_args_is_help=True)


@app.callback()
def group() -> None:
    """A group even with one command: more sub-commands join it later."""


@app.command()
def report(
    sortie_id: str = typer.Argument(..., metavar="SORTIE", help="The sortie id (S-...)."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as one JSON."),
    out: Path = typer.Option(
        None, "--out", help="Folder for the files (default: $FIELDPATROL_HOME/reports/SORTIE)."
    ),
) -> None:
    """生成巡查任务报告 (Write the mission report: map, coverage, timeline, anomalies,
    evidence, tlog hash; HTML and PDF)."""
    from patrol.ground import Ground
    from patrol.sortie_report import build_report

    try:
        settings = Settings.load()
    except ConfigError as exc:
        fail(str(exc))
    ground = Ground(settings, actor="patrol.report")
    try:
        ground.open_database()
        if out is not None:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                fail(f"--out {out}: cannot create the folder ({exc.strerror}); name a writable one")
        result = build_report(ground, sortie_id, out)
    finally:
        ground.stop()
    if json_output:
        emit_json(result.to_dict())
        return
    c = result.coverage
    console.print(f"[bold]巡查任务报告 {sortie_id}[/] — {result.sortie['status']}")
    console.print(
        f"覆盖 coverage: 实际成像 imaged {c.imaged_pct:.1f} %, 计划 planned {c.planned_pct:.1f} %, "
        f"计划内已成像 {c.imaged_of_planned_pct:.1f} %"
    )
    console.print(
        f"异常 anomalies: {len(result.anomalies)}   证据 evidence: {len(result.evidence)}   "
        f"tlog sha256: {result.tlog.get('sha256')}"
    )
    console.print(f"HTML: {result.files['html']}\nPDF:  {result.files['pdf']}")
