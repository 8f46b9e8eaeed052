"""`patrol case`: list and show cases, take procedure steps, render their documents.

Every step goes through ``cases.procedure.take_step`` (so the CLI cannot skip or reorder
a step), is taken in the name of ``--user`` and needs ``--reason``. Documents are written
under ``$FIELDPATROL_HOME/documents``. ``patrol case export`` is provided by the audit
commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from patrol.output import console, emit_json, fail

app = typer.Typer(help="案件 (List, show, step and export cases).", no_args_is_help=True)

PROCEDURE_FILE = "procedure.yaml"


@contextmanager
def cases_session() -> Iterator[tuple[Session, Any]]:
    """A session on the configured database (migrated to head) and the settings."""
    from cases.db import make_engine, session_factory, upgrade
    from patrol.config import Settings

    settings = Settings.load()
    settings.ensure_dirs()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            yield session, settings
    finally:
        engine.dispose()


def procedure_config(home: Path) -> Any:
    """The department's procedure configuration (``procedure.yaml`` under the home)."""
    from cases.config import ProcedureConfig, load_procedure_config

    path = home / PROCEDURE_FILE
    return load_procedure_config(path) if path.is_file() else ProcedureConfig()


def _calendar(home: Path) -> Any:
    from cases.workdays import WorkCalendar

    path = home / "holidays.yaml"
    return WorkCalendar.from_files([path] if path.is_file() else [])


def _case_summary(case: Any) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "department": case.department,
        "class_name": case.class_name,
        "violation_code": case.violation_code,
        "procedure": case.procedure,
        "state": case.state,
        "lon": case.lon,
        "lat": case.lat,
        "opened_at": case.opened_at,
        "party": case.party.name if case.party else None,
        "decided_penalty": case.decided_penalty,
    }


@app.command("list")
def list_cases(
    state: str | None = typer.Option(None, "--state", help="Only cases in this state."),
    department: str | None = typer.Option(None, "--department", help="Only this department."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List cases, newest first."""
    from sqlalchemy import select

    from cases.models import Case

    with cases_session() as (session, _settings):
        q = select(Case).order_by(Case.id.desc())
        if state:
            q = q.where(Case.state == state)
        if department:
            q = q.where(Case.department == department)
        rows = [_case_summary(c) for c in session.scalars(q)]
    if json_out:
        emit_json({"cases": rows})
        return
    from rich.table import Table

    table = Table("number", "state", "class", "department", "party", "opened")
    for r in rows:
        table.add_row(
            r["number"],
            r["state"],
            r["class_name"],
            r["department"],
            r["party"] or "",
            r["opened_at"].isoformat(timespec="minutes"),
        )
    console.print(table)


@app.command("show")
def show(
    case_ref: str = typer.Argument(..., metavar="CASE", help="Case number or id."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show a case: steps (who/when/why), deadlines, evidence, documents, next actions,
    similar cases and the applicable law."""
    from cases.deadlines import case_deadlines
    from cases.discretion import shipped_benchmarks
    from cases.errors import CasesError
    from cases.procedure import available_actions, get_case
    from cases.similar import applicable_law, similar_cases
    from cases.workdays import LEGAL_TZ
    from patrol.sortie_report import reports_for

    with cases_session() as (session, settings):
        try:
            case = get_case(session, case_ref)
            today = datetime.now(LEGAL_TZ).date()
            cfg = procedure_config(settings.home)
            doc = _case_summary(case)
            doc["facts"] = case.facts
            doc["steps"] = [
                {
                    "seq": s.seq,
                    "action": s.action,
                    "from": s.from_state,
                    "to": s.to_state,
                    "at": s.taken_at,
                    "actor": s.actor_name,
                    "role": s.actor_role,
                    "officers": s.officers,
                    "reason": s.reason,
                    "evidence_ids": s.evidence_ids,
                    "documents": [d.number for d in s.documents],
                }
                for s in case.steps
            ]
            doc["deadlines"] = [
                d.to_dict()
                for d in case_deadlines(session, case, today, _calendar(settings.home), cfg)
            ]
            doc["evidence"] = [
                {
                    "id": link.evidence_id,
                    "captured_at": link.evidence.captured_at,
                    "class_name": link.evidence.class_name,
                    "confidence": link.evidence.confidence,
                    "art41_review": link.evidence.art41_review,
                }
                for link in case.evidence_links
            ]
            # The mission reports of the sorties that fed this case (`patrol sortie report`).
            doc["sortie_reports"] = reports_for(
                settings, [link.evidence.sortie_id for link in case.evidence_links]
            )
            doc["next_actions"] = available_actions(case, None, cfg)
            doc["similar_cases"] = similar_cases(session, case)
            doc["applicable_law"] = applicable_law(case, shipped_benchmarks(), today)
        except CasesError as exc:
            fail(str(exc))
    if json_out:
        emit_json(doc)
        return
    console.print(
        f"[bold]{doc['number']}[/] {doc['state']} ({doc['class_name']}, {doc['department']})"
    )
    for s in doc["steps"]:
        console.print(
            f"  {s['seq']:>2}. {s['action']:<22} {s['at']:%Y-%m-%d %H:%M} "
            f"{s['actor']} ({s['role']}): {s['reason']}"
        )
    for d in doc["deadlines"]:
        flag = {
            "overdue": "[red]OVERDUE[/]",
            "warning": "[yellow]due soon[/]",
            "missed": "[red]missed[/]",
        }.get(d["status"], d["status"])
        console.print(f"  deadline {d['kind']:<15} due {d['due_on']} {flag}  ({d['basis']})")
    for r in doc["sortie_reports"]:
        where = r["html"] or f"not written yet: {r['command']}"
        console.print(f"  巡查报告 sortie report {r['sortie_id']}: {where}")
    console.print(f"  next: {', '.join(doc['next_actions']) or '—'}")


def _parse_data(data: str | None) -> dict[str, Any]:
    if not data:
        return {}
    text = data
    if data.startswith("@"):
        try:
            text = Path(data[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"--data {data}: cannot read ({exc.strerror})")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--data is not valid JSON ({exc.msg} at {exc.pos})")
    if not isinstance(value, dict):
        fail("--data must be a JSON object")
    return value


@app.command("step")
def step(
    case_ref: str = typer.Argument(..., metavar="CASE", help="Case number or id."),
    action: str = typer.Argument(..., help="Procedure action, e.g. confirm, file, investigate."),
    user: str = typer.Option(..., "--user", help="Username of the person taking the step."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded with the step)."),
    data: str | None = typer.Option(None, "--data", help="Step fields as JSON, or @file.json."),
    at: str | None = typer.Option(None, "--at", help="When it happened (ISO 8601 with zone)."),
    no_documents: bool = typer.Option(False, "--no-documents", help="Do not render documents now."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Take one procedure step; refused steps name the rule and the article (exit 1)."""
    from sqlalchemy.orm.exc import StaleDataError

    from cases.errors import CasesError
    from cases.procedure import take_step

    fields = _parse_data(data)
    when = None
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not ISO 8601 (e.g. 2026-11-02T10:00:00+08:00)")
        if when.tzinfo is None:
            fail(f"--at {at!r} has no time zone; add +08:00 or Z")
    with cases_session() as (session, settings):
        try:
            st = take_step(
                session,
                case_ref,
                action,
                user,
                reason,
                fields,
                at=when,
                config=procedure_config(settings.home),
                calendar=_calendar(settings.home),
                documents_dir=None if no_documents else settings.home / "documents",
            )
            session.commit()
        except CasesError as exc:
            session.rollback()
            fail(str(exc))
        except StaleDataError:
            session.rollback()
            fail(f"case {case_ref} was changed by someone else meanwhile; show it and retry")
        result: dict[str, Any] = {
            "case": st.case.number,
            "seq": st.seq,
            "action": st.action,
            "from": st.from_state,
            "to": st.to_state,
            "at": st.taken_at,
            "actor": st.actor_name,
            "documents": [
                {"number": d.number, "pdf": d.pdf_path, "docx": d.docx_path} for d in st.documents
            ],
            "data": st.data,
        }
    if json_out:
        emit_json(result)
    else:
        console.print(
            f"{result['case']}: {result['from']} -> {result['to']} ({action} by {result['actor']})"
        )
        for d in result["documents"]:
            console.print(f"  {d['number']}: {d['pdf']}")


@app.command("documents")
def documents(
    case_ref: str = typer.Argument(..., metavar="CASE", help="Case number or id."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List a case's documents, rendering any a step produced but has not written yet."""
    from cases.documents import render_step_documents
    from cases.errors import CasesError
    from cases.procedure import get_case

    with cases_session() as (session, settings):
        try:
            case = get_case(session, case_ref)
            for st in case.steps:
                render_step_documents(
                    session, st, settings.home / "documents", _calendar(settings.home)
                )
            session.commit()
        except CasesError as exc:
            session.rollback()
            fail(str(exc))
        rows = [
            {
                "number": d.number,
                "kind": d.kind,
                "title": d.title,
                "step": st.seq,
                "pdf": d.pdf_path,
                "pdf_sha256": d.pdf_sha256,
                "docx": d.docx_path,
                "docx_sha256": d.docx_sha256,
            }
            for st in case.steps
            for d in st.documents
        ]
    if json_out:
        emit_json({"case": case_ref, "documents": rows})
        return
    for r in rows:
        console.print(f"{r['number']}  {r['title']}  step {r['step']}  {r['pdf']}")


@app.command("user-add")
def user_add(
    username: str = typer.Argument(...),
    name: str = typer.Option(..., "--name", help="Full name (appears on documents)."),
    role: str = typer.Option(..., "--role", help="inspector, head, legal_reviewer, archivist, ..."),
    department: str | None = typer.Option(None, "--department", help="Department code, e.g. CG."),
    credential: str | None = typer.Option(None, "--credential", help="Enforcement credential no."),
    credential_valid_until: str | None = typer.Option(None, "--credential-valid-until"),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Add a user who can take steps (officers need a credential, Art. 42)."""
    from cases.errors import CasesError
    from cases.users import create_user

    try:
        valid = date.fromisoformat(credential_valid_until) if credential_valid_until else None
    except ValueError:
        fail("--credential-valid-until is not YYYY-MM-DD")
    with cases_session() as (session, _settings):
        try:
            u = create_user(
                session, username, name, role, department, credential, valid, actor="cli:user-add"
            )
            session.commit()
        except CasesError as exc:
            fail(str(exc))
        out = {"id": u.id, "username": u.username, "role": u.role, "department": u.department_id}
    if json_out:
        emit_json(out)
    else:
        console.print(f"user {out['username']} ({out['role']}) added")
