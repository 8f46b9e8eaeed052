"""`patrol case export CASE`: the case file as one zip that verifies offline.

Registered under `patrol case` by `patrol.cli` (see ``_attach_extras``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from patrol.config import Settings
from patrol.output import console, emit_json

app = typer.Typer(help="导出案卷 (Export a case with its evidence and audit proofs).")


@app.command("export")
def export(
    case_id: str = typer.Argument(..., help="Case number or numeric id."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Zip to write (default: reports/case-<number>.zip)."
    ),
    json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Write a zip with the case record, documents, media, audit entries with inclusion
    proofs and the signed head; check it with `patrol audit verify-export FILE`."""
    from cases.audit import LogKey
    from cases.audit.export import export_case
    from patrol.commands.audit import key_path, open_session

    settings = Settings.load()
    settings.ensure_dirs()
    with open_session(settings) as session:
        key = LogKey.load_or_create(key_path(settings))
        target = out
        if target is None:
            from cases.audit.export import find_case

            number = find_case(session, case_id).number
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in number)
            target = settings.reports_dir / f"case-{safe}.zip"
        summary = export_case(
            session,
            case_id,
            target,
            key,
            media_dir=settings.media_dir,
            files_root=settings.home,
            actor="user:cli",
        )
        session.commit()
    if json:
        emit_json(asdict(summary))
    else:
        console.print(
            f"case {summary.case_number}: {summary.path} ({summary.files} files, "
            f"{summary.media} media, {summary.documents} documents, "
            f"{summary.audit_entries} audit entries proven at tree size {summary.tree_size})",
            markup=False,
            soft_wrap=True,
        )
        for item in summary.missing:
            console.print(f"  missing: {item}", markup=False, soft_wrap=True)
