"""Public disclosure of enforcement decisions (公示): a redacted register with deadlines.

Penalty and permit decisions are published within 7 working days of the decision, other
decisions within 20 (city plan 三(三)3); the published text is redacted — individuals'
names masked, ID numbers removed, phone numbers and house numbers hidden (APL Art. 48,
Art. 50); a published decision that is changed or revoked is withdrawn within 3 working
days with the reasons (Art. 48). The disclosure rate of general-procedure penalty
decisions is tracked against the city plan's 100 % target.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import journal
from cases.config import ProcedureConfig
from cases.errors import CasesError, NotFoundError
from cases.models import Case, CaseDeadline, Disclosure, Document, Party, utcnow
from cases.workdays import WorkCalendar, legal_date

__all__ = [
    "disclosure_rate",
    "public_register",
    "publish",
    "redact",
    "register_decision",
    "withdraw",
]

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|(?<!\d)\d{15}(?!\d)")
MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
DISTRICT_END = "区县旗镇乡"


def mask_address(address: str) -> str:
    """Keep an address down to its district (区/县/镇/乡), hide the rest: 沈阳市浑南区***."""
    cut = max(address.rfind(ch) for ch in DISTRICT_END)
    return (address[: cut + 1] if cut >= 0 else "") + "***"


def mask_name(name: str) -> str:
    """Keep the surname, mask the rest: 陈某某 → 陈**, 李娜 → 李*."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def redact(text: str, parties: list[Party]) -> str:
    """Remove personal data from ``text`` before it is published.

    Individuals' names are masked (organisations' names stay: they are published by law),
    ID numbers are removed, mobile numbers are masked and an individual's house number is
    hidden behind the district.
    """
    out = text
    for p in parties:
        if p.kind == "individual" and p.name:
            out = out.replace(p.name, mask_name(p.name))
        if p.id_number:
            out = out.replace(p.id_number, "[证件号码已删除]")
        if p.phone:
            out = out.replace(p.phone, "[电话已删除]")
        if p.kind == "individual" and p.address:
            out = out.replace(p.address, mask_address(p.address))
    out = ID_NUMBER.sub("[证件号码已删除]", out)
    out = MOBILE.sub(r"\1****\2", out)
    return out


def register_decision(
    session: Session,
    case: Case,
    decided_on: date,
    kind: str,
    calendar: WorkCalendar,
    config: ProcedureConfig,
) -> Disclosure:
    """Start the disclosure of a decision: a pending register entry with its due date."""
    if kind not in ("penalty", "permit", "other"):
        raise CasesError(f"disclosure kind {kind!r}; use penalty, permit or other")
    days = (
        config.disclosure_penalty_working_days
        if kind in ("penalty", "permit")
        else config.disclosure_other_working_days
    )
    due = calendar.add_working_days(decided_on, days)
    row = Disclosure(
        case_id=case.id,
        kind=kind,
        procedure=case.procedure,
        decided_on=decided_on,
        due_on=due,
        title=f"{case.number} 行政处罚决定",
        state="pending",
    )
    session.add(row)
    session.flush()
    return row


def _decision_document(session: Session, case_id: int) -> Document | None:
    return session.scalar(
        select(Document)
        .where(Document.case_id == case_id, Document.kind.in_(("decision", "summary_decision")))
        .order_by(Document.id.desc())
    )


def publish(
    session: Session, disclosure_id: int, actor: str, at: datetime | None = None
) -> Disclosure:
    """Publish a pending entry: redacted decision text, on-time flag, deadline met. Audited."""
    row = session.get(Disclosure, disclosure_id)
    if row is None:
        raise NotFoundError(f"disclosure {disclosure_id} not found")
    if row.state != "pending":
        raise CasesError(f"disclosure {disclosure_id} is {row.state}; only pending ones publish")
    case = session.get(Case, row.case_id)
    assert case is not None
    when = at or utcnow()
    doc = _decision_document(session, case.id)
    if doc is not None:
        text = str((doc.data or {}).get("text", ""))
        row.document_id = doc.id
    else:
        penalty = case.decided_penalty or {}
        text = (
            f"{case.number} 当事人：{case.party.name if case.party else ''} 违法事实：{case.facts} "
            f"处罚：{penalty}"
        )
    parties = [case.party] if case.party else []
    row.redacted_text = redact(text, parties)
    row.published_at = when
    row.published_on = legal_date(when)
    row.state = "published"
    for dl in session.scalars(
        select(CaseDeadline).where(
            CaseDeadline.case_id == case.id,
            CaseDeadline.kind == "disclosure",
            CaseDeadline.met_on.is_(None),
        )
    ):
        dl.met_on = row.published_on
    session.flush()
    journal.record(
        session,
        actor,
        "disclosure.published",
        f"case:{case.number}",
        {"disclosure": row.id, "due_on": str(row.due_on), "published_on": str(row.published_on)},
    )
    return row


def withdraw(
    session: Session,
    disclosure_id: int,
    actor: str,
    reason: str,
    changed_on: date,
    calendar: WorkCalendar,
    config: ProcedureConfig,
    at: datetime | None = None,
) -> Disclosure:
    """Withdraw a published decision that was changed or revoked, with the reasons."""
    row = session.get(Disclosure, disclosure_id)
    if row is None:
        raise NotFoundError(f"disclosure {disclosure_id} not found")
    if row.state != "published":
        raise CasesError(f"disclosure {disclosure_id} is {row.state}; only published ones withdraw")
    if not reason.strip():
        raise CasesError("withdrawal needs the reasons (APL Art. 48)")
    when = at or utcnow()
    row.withdraw_due_on = calendar.add_working_days(changed_on, config.withdrawal_working_days)
    row.withdrawn_at = when
    row.withdraw_reason = reason
    row.state = "withdrawn"
    session.add(
        CaseDeadline(
            case_id=row.case_id,
            kind="withdrawal",
            basis="APL Art. 48 (withdraw within 3 working days)",
            start_on=changed_on,
            due_on=row.withdraw_due_on,
            unit="working",
            met_on=legal_date(when),
        )
    )
    session.flush()
    journal.record(
        session,
        actor,
        "disclosure.withdrawn",
        f"disclosure:{row.id}",
        {"reason": reason, "due_on": str(row.withdraw_due_on), "on": str(legal_date(when))},
    )
    return row


def public_register(session: Session) -> list[dict[str, Any]]:
    """The published, redacted entries (what the public sees)."""
    rows = session.scalars(
        select(Disclosure).where(Disclosure.state == "published").order_by(Disclosure.id)
    )
    return [
        {
            "id": r.id,
            "title": r.title,
            "decided_on": str(r.decided_on),
            "published_on": str(r.published_on),
            "text": r.redacted_text,
        }
        for r in rows
    ]


def disclosure_rate(session: Session, start: date, end: date, today: date) -> dict[str, Any]:
    """Disclosure of general-procedure penalty decisions taken in [start, end].

    ``rate`` counts published entries; ``on_time_rate`` those published by their due day;
    entries not yet due on ``today`` count as pending, not as failures.
    """
    rows = session.scalars(
        select(Disclosure).where(
            Disclosure.kind == "penalty",
            Disclosure.procedure == "general",
            Disclosure.decided_on >= start,
            Disclosure.decided_on <= end,
        )
    ).all()
    published = [r for r in rows if r.published_on is not None]
    on_time = [r for r in published if r.published_on and r.published_on <= r.due_on]
    overdue = [r for r in rows if r.published_on is None and r.due_on < today]
    pending = [r for r in rows if r.published_on is None and r.due_on >= today]
    total = len(rows)
    return {
        "decisions": total,
        "published": len(published),
        "published_on_time": len(on_time),
        "overdue_unpublished": len(overdue),
        "pending_not_yet_due": len(pending),
        "rate": (len(published) / total) if total else None,
        "on_time_rate": (len(on_time) / total) if total else None,
        "target": 1.0,
    }
