"""Evidence to case: same class and place join one open case; otherwise a new suspected case."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cases import audit
from cases.db import make_engine, session_factory
from cases.errors import NotFoundError
from cases.evidence import EvidenceRecord, store_evidence, store_evidence_many
from cases.intake import attach_many, attach_to_case, next_case_number
from cases.models import Case, CaseEvidence, Department

from .factories import BASE_LAT, BASE_LON, evidence_record

# One metre of latitude in degrees (good enough for test offsets).
M = 1 / 111_195.0


def _ingest(session: Session, **kw: object) -> Case:
    rec = evidence_record(**kw)  # type: ignore[arg-type]
    store_evidence(session, rec)
    case = attach_to_case(session, rec.id)
    session.commit()
    return case


def test_sightings_of_one_place_and_class_join_one_case(session: Session) -> None:
    t0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    a = _ingest(session, captured_at=t0)
    assert a.state == "suspected" and a.number.startswith("CG-2026-")
    assert a.violation_code == "CG-ILLEGAL-CONSTRUCTION"
    b = _ingest(session, lat=BASE_LAT + 30 * M, captured_at=t0 + timedelta(days=3), seq=2)
    assert b.id == a.id
    # Other class at the same spot -> its own case, its own department.
    c = _ingest(session, class_name="open_burning", captured_at=t0, seq=3)
    assert c.id != a.id and c.department == "HB" and c.number.startswith("HB-2026-")
    # Too far (80 m) -> new case.
    d = _ingest(session, lat=BASE_LAT + 80 * M, captured_at=t0, seq=4)
    assert d.id != a.id
    # Too late (after the 30-day window) -> new case.
    e = _ingest(session, captured_at=t0 + timedelta(days=45), seq=5)
    assert e.id not in (a.id, d.id)
    assert session.scalar(select(func.count()).select_from(Case)) == 4
    links = session.scalar(
        select(func.count()).select_from(CaseEvidence).where(CaseEvidence.case_id == a.id)
    )
    assert links == 2


def test_attach_is_idempotent_and_audited(session: Session) -> None:
    rec = evidence_record()
    store_evidence(session, rec)
    before = audit.count(session)
    first = attach_to_case(session, rec.id)
    again = attach_to_case(session, rec.id)
    session.commit()
    assert first.id == again.id
    # case opened + evidence attached: two entries; the repeat adds none.
    assert audit.count(session) == before + 2
    assert audit.verify(session).ok


def test_closed_case_does_not_take_new_evidence(session: Session) -> None:
    a = _ingest(session)
    a.state = "dismissed"
    session.commit()
    b = _ingest(session, seq=2)
    assert b.id != a.id


def test_configurable_distance(session: Session) -> None:
    rec1 = evidence_record(lon=BASE_LON)
    rec2 = evidence_record(lon=BASE_LON + 0.0015, seq=2)  # ~125 m east at 41.7 N
    for r in (rec1, rec2):
        store_evidence(session, r)
    a = attach_to_case(session, rec1.id, distance_m=200)
    b = attach_to_case(session, rec2.id, distance_m=200)
    assert a.id == b.id


def test_unknown_evidence_is_refused(session: Session) -> None:
    with pytest.raises(NotFoundError, match="ev-missing"):
        attach_to_case(session, "ev-missing")


def test_case_numbers_continue_after_the_highest_serial(session: Session) -> None:
    a = _ingest(session)
    prefix = a.number.rsplit("-", 1)[0]

    def add(number: str) -> None:
        session.add(
            Case(
                number=number, department=a.department, class_name=a.class_name, lat=a.lat,
                lon=a.lon, opened_at=a.opened_at, updated_at=a.updated_at,
            )
        )  # fmt: skip
        session.commit()

    for number in ("00012", "00007", "manual-3"):  # a gap, an older one, a hand-made one
        add(f"{prefix}-{number}")
    assert next_case_number(session, a.department, a.opened_at) == f"{prefix}-00013"
    add(f"{prefix}-100000")  # past five digits
    assert next_case_number(session, a.department, a.opened_at) == f"{prefix}-100001"


def _batch_world() -> tuple[list[EvidenceRecord], list[EvidenceRecord]]:
    """Evidence already attached before a batch, and a batch that exercises every rule."""
    t0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)

    def rec(n: int, **kw: Any) -> EvidenceRecord:
        return evidence_record(evidence_id=f"ev-{n:02d}", seq=n, **kw)

    p2, p3, p4 = BASE_LAT + 0.01, BASE_LAT + 0.02, BASE_LAT + 0.03  # 1.1, 2.2, 3.3 km north
    before = [
        rec(0, captured_at=t0),  # opens case A at the base point
        rec(1, class_name="open_burning", lat=p2, captured_at=t0),  # case C, closed below
        rec(2, lat=p3, captured_at=t0 - timedelta(days=60)),  # case O, too old to join
        rec(3, lat=p4, captured_at=t0 - timedelta(days=60)),  # case Q
    ]
    batch = [
        rec(10, lat=BASE_LAT + 20 * M, captured_at=t0 + timedelta(days=1)),  # joins A
        rec(11, lat=p3, captured_at=t0),  # O is outside the window: opens N1
        rec(12, lat=p3 + 10 * M, captured_at=t0 + timedelta(hours=1)),  # joins N1
        rec(13, class_name="open_burning", lat=p2, captured_at=t0),  # C closed: opens N2
        rec(14, class_name="open_burning", lat=p2 + 5 * M, captured_at=t0),  # joins N2
        rec(15, lat=BASE_LAT + 80 * M, captured_at=t0),  # 80 m from A: opens N3
        rec(16, lat=BASE_LAT + 45 * M, captured_at=t0 + timedelta(days=2)),  # nearer N3 than A
        before[0],  # already attached: stays with A, no new entries
        rec(17, lat=BASE_LAT + 10 * M, captured_at=t0 - timedelta(days=1)),  # A, older capture
        rec(10, lat=BASE_LAT + 20 * M, captured_at=t0 + timedelta(days=1)),  # repeated item
        rec(19, lat=p4, captured_at=t0 - timedelta(days=40)),  # joins Q (20 days later)
        rec(20, lat=p4, captured_at=t0 - timedelta(days=15)),  # Q, thanks to the one before
    ]
    batch.append(dataclasses.replace(rec(18, lat=BASE_LAT + 5 * M), site_id="other-site"))
    return before, batch


def _record_state(session: Session, skip_entries: int) -> dict[str, Any]:
    cases = session.execute(
        select(
            Case.number, Case.class_name, Case.state, Case.lat, Case.lon, Case.last_evidence_at
        ).order_by(Case.number)
    ).all()
    links = session.execute(
        select(CaseEvidence.evidence_id, Case.number)
        .join(Case, Case.id == CaseEvidence.case_id)
        .order_by(CaseEvidence.evidence_id)
    ).all()
    entries = session.execute(
        select(audit.AuditEntry.action, audit.AuditEntry.subject, audit.AuditEntry.payload)
        .where(audit.AuditEntry.id >= skip_entries)
        .order_by(audit.AuditEntry.id)
    ).all()
    return {
        "cases": [tuple(c) for c in cases],
        "links": [tuple(x) for x in links],
        "entries": [(a, s, json.loads(p)) for a, s, p in entries],
    }


def _prepare(session: Session, before: list[EvidenceRecord], at: datetime) -> int:
    for r in before:
        store_evidence(session, r)
        attach_to_case(session, r.id, at=at)
    session.execute(
        select(Case).where(Case.class_name == "open_burning")
    ).scalar_one().state = "dismissed"
    session.commit()
    return audit.count(session)


def test_attach_many_matches_one_by_one(
    session: Session, sqlite_template: Path, tmp_path: Path
) -> None:
    """A whole batch at once gives the cases, links and audit entries of item-by-item intake."""
    at = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    before, batch = _batch_world()

    # Reference: item by item, on a database of its own.
    ref_path = tmp_path / "reference.db"
    shutil.copyfile(sqlite_template, ref_path)
    engine = make_engine(f"sqlite:///{ref_path}")
    with session_factory(engine)() as ref:
        skip = _prepare(ref, before, at)
        one_by_one = [
            attach_to_case(ref, r.id, at=at).number for r in batch if store_evidence(ref, r) or True
        ]
        ref.commit()
        expected = _record_state(ref, skip)
    engine.dispose()

    skip = _prepare(session, before, at)
    new = store_evidence_many(session, batch)
    assert new == {r.id for r in batch} - {before[0].id}
    with audit.AuditWriter(session):  # the ingest's batch writer: entries buffered
        cases = attach_many(session, batch, at=at)
    session.commit()
    assert [c.number for c in cases] == one_by_one
    assert len(set(one_by_one)) == 5  # A, Q and the new N1, N2, N3: each rule had its say
    assert _record_state(session, skip) == expected
    assert audit.verify(session).ok


def test_attach_many_remakes_a_department_removed_after_it_was_seen(session: Session) -> None:
    """Intake remembers the departments it found; one removed since (by an administrator,
    with its cases) is made again instead of the batch failing on the missing row."""
    t0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    first = evidence_record(evidence_id="ev-a", seq=1, captured_at=t0)
    store_evidence(session, first)
    [ref] = attach_many(session, [first], new_evidence=True)
    session.commit()
    department = session.get(Case, ref.id).department  # type: ignore[union-attr]
    second = evidence_record(evidence_id="ev-b", seq=2, lat=BASE_LAT + 0.01, captured_at=t0)
    store_evidence(session, second)
    attach_many(session, [second], new_evidence=True)  # the department is found, remembered
    session.commit()

    session.execute(delete(CaseEvidence))
    session.execute(delete(Case))
    session.execute(delete(Department).where(Department.id == department))
    session.commit()

    third = evidence_record(evidence_id="ev-c", seq=3, captured_at=t0)
    store_evidence(session, third)
    [again] = attach_many(session, [third], new_evidence=True)
    session.commit()
    case = session.get(Case, again.id)
    assert case is not None and case.department == department and case.number == again.number
    assert session.get(Department, department) is not None
