"""From evidence to case: sightings of one class at one place join one open case.

A new suspected violation either attaches to the nearest open case of the same class
within ``distance_m`` whose newest evidence is within ``window`` of this capture, or
opens a new case in state ``suspected`` (线索) for an inspector to confirm or dismiss.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases import journal
from cases.classes import route_for
from cases.errors import CasesError, NotFoundError
from cases.geo import degree_box, distance_m
from cases.models import Case, CaseEvidence, Department, Evidence, utcnow

__all__ = ["CLOSED_STATES", "attach_to_case", "next_case_number"]

LEGAL_TZ = ZoneInfo("Asia/Shanghai")

#: States in which a case no longer takes new evidence.
CLOSED_STATES = frozenset({"dismissed", "no_penalty", "transferred", "closed", "archived"})

INTAKE_ACTOR = "system:intake"


def next_case_number(session: Session, department: str, when: datetime) -> str:
    """The next case number of ``department`` in the legal year of ``when``."""
    year = when.astimezone(LEGAL_TZ).year
    prefix = f"{department}-{year}-"
    numbers = session.scalars(select(Case.number).where(Case.number.like(f"{prefix}%"))).all()
    # The highest serial, not the count: numbers stay unique even if a case row is removed.
    serials = [int(n[len(prefix) :]) for n in numbers if n[len(prefix) :].isdigit()]
    return f"{prefix}{max(serials, default=0) + 1:05d}"


def _ensure_department(session: Session, code: str) -> None:
    if session.get(Department, code) is None:
        session.add(Department(id=code, name=code, name_zh=code))
        session.flush()


def attach_to_case(
    session: Session,
    evidence_id: str,
    distance_m: float = 50.0,
    window: timedelta = timedelta(days=30),
    at: datetime | None = None,
) -> Case:
    """Attach evidence ``evidence_id`` to a matching open case, or open a new one.

    Idempotent: evidence already attached returns its case unchanged. Flushes, does not
    commit. Opening a case and attaching evidence each append an audit entry. ``at`` is
    the intake time (default now; given when replaying a backlog).
    """
    if distance_m < 0:
        raise CasesError(f"distance_m {distance_m} is negative: give a radius in metres >= 0")
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFoundError(f"evidence {evidence_id!r} not found: store it before attaching")
    linked = session.scalar(select(CaseEvidence).where(CaseEvidence.evidence_id == evidence_id))
    if linked is not None:
        return linked.case

    case = _nearest_open_case(session, evidence, distance_m, window)
    now = at or utcnow()
    if case is None:
        case = _open_case(session, evidence, now)
    session.add(CaseEvidence(case_id=case.id, evidence_id=evidence.id, attached_at=now))
    if case.last_evidence_at is None or evidence.captured_at > case.last_evidence_at:
        case.last_evidence_at = evidence.captured_at
    case.updated_at = now
    session.flush()
    journal.record(
        session,
        INTAKE_ACTOR,
        "case.evidence_attached",
        f"case:{case.number}",
        {"case": case.number, "evidence_id": evidence.id, "class_name": evidence.class_name},
    )
    return case


def _nearest_open_case(
    session: Session, evidence: Evidence, radius_m: float, window: timedelta
) -> Case | None:
    dlat, dlon = degree_box(evidence.lat, radius_m)
    candidates = session.scalars(
        select(Case).where(
            Case.class_name == evidence.class_name,
            Case.state.not_in(CLOSED_STATES),
            Case.lat.between(evidence.lat - dlat, evidence.lat + dlat),
            Case.lon.between(evidence.lon - dlon, evidence.lon + dlon),
        )
    ).all()
    best: tuple[float, Case] | None = None
    for case in candidates:
        seen = case.last_evidence_at or case.opened_at
        if abs(evidence.captured_at - seen) > window:
            continue
        d = distance_m_between(case, evidence)
        if d <= radius_m and (best is None or d < best[0]):
            best = (d, case)
    return best[1] if best else None


def distance_m_between(case: Case, evidence: Evidence) -> float:
    """Distance in metres from a case's location to an evidence item's location."""
    return distance_m(case.lon, case.lat, evidence.lon, evidence.lat)


def _open_case(session: Session, evidence: Evidence, now: datetime) -> Case:
    route = route_for(evidence.class_name)
    _ensure_department(session, route.department)
    # Two intake workers may race for the same number: retry with the next one.
    for _attempt in range(5):
        number = next_case_number(session, route.department, now)
        case = Case(
            number=number,
            department=route.department,
            class_name=evidence.class_name,
            violation_code=route.violation_code,
            procedure="general",
            state="suspected",
            lat=evidence.lat,
            lon=evidence.lon,
            site_id=evidence.site_id,
            opened_at=now,
            updated_at=now,
            title=f"疑似{route.name_zh}（{evidence.site_id}）",
            facts_json={},
        )
        try:
            with session.begin_nested():
                session.add(case)
                session.flush()
        except IntegrityError:
            continue
        journal.record(
            session,
            INTAKE_ACTOR,
            "case.opened",
            f"case:{case.number}",
            {
                "case": case.number,
                "state": "suspected",
                "class_name": case.class_name,
                "violation_code": case.violation_code,
                "lat": case.lat,
                "lon": case.lon,
                "evidence_id": evidence.id,
            },
        )
        return case
    raise CasesError(f"could not allocate a case number for department {route.department}")
