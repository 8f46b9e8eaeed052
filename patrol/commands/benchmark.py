"""`patrol benchmark`: validate discretion benchmark tables and recommend a penalty.

Without paths the shipped EXAMPLE tables are used (replace them with the department's
published benchmark: put the files in a folder and pass them).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer

from patrol.output import console, emit_json, fail

app = typer.Typer(
    help="裁量基准 (Validate benchmark tables, recommend penalties).", no_args_is_help=True
)


def _tables(paths: list[Path] | None) -> list[Any]:
    from cases.discretion import load_benchmarks, shipped_benchmarks

    if not paths:
        return shipped_benchmarks()
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return load_benchmarks(files)


@app.command("validate")
def validate(
    paths: list[Path] | None = typer.Argument(
        None, help="Table files or folders (default: shipped examples)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Load and check benchmark tables; a bad row is named and the exit code is 1."""
    from cases.errors import CasesError

    try:
        tables = _tables(paths)
    except CasesError as exc:
        fail(str(exc))
    summary = [
        {
            "violation_code": t.violation_code,
            "name": t.name,
            "source": t.source,
            "sha256": t.sha256,
            "valid_from": t.valid_from,
            "valid_to": t.valid_to,
            "rows": len(t.tiers),
            "example": t.example,
        }
        for t in tables
    ]
    if json_out:
        emit_json({"ok": True, "tables": summary})
        return
    for s in summary:
        mark = " (EXAMPLE)" if s["example"] else ""
        console.print(f"ok  {s['violation_code']}  {s['rows']} rows  {s['source']}{mark}")


@app.command("recommend")
def recommend_cmd(
    code: str = typer.Argument(..., help="Violation code, e.g. ZR-ILLEGAL-LAND-OCCUPATION."),
    facts: str = typer.Option("{}", "--facts", help="Facts as JSON, e.g. '{\"area_m2\": 150}'."),
    area: float | None = typer.Option(None, "--area", help="Shortcut for the area_m2 fact."),
    party_kind: str = typer.Option(
        "individual", "--party-kind", help="individual or organisation."
    ),
    on: str | None = typer.Option(None, "--on", help="Decision day (default today)."),
    tables: list[Path] | None = typer.Option(None, "--tables", help="Table files or folders."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Recommend a tier, a range and the reasons (说明理由) for the facts of a case."""
    from cases.discretion import recommend
    from cases.errors import CasesError

    try:
        fact_map = json.loads(facts)
    except json.JSONDecodeError as exc:
        fail(f"--facts is not valid JSON ({exc.msg}); e.g. '{{\"area_m2\": 150}}'")
    if not isinstance(fact_map, dict):
        fail("--facts must be a JSON object")
    if area is not None:
        fact_map["area_m2"] = area
    fact_map.setdefault("party_kind", party_kind)
    try:
        day = date.fromisoformat(on) if on else date.today()
    except ValueError:
        fail(f"--on {on!r} is not YYYY-MM-DD")
    try:
        rec = recommend(_tables(tables), code, fact_map, day)
    except CasesError as exc:
        fail(str(exc))
    if json_out:
        emit_json(rec.to_dict())
        return
    console.print(
        f"[bold]{rec.tier}[/]  {rec.min_yuan}-{rec.max_yuan} yuan, suggested {rec.suggested_yuan}"
    )
    for r in rec.reasons:
        typer.echo(r)
