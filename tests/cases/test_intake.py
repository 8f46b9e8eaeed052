"""Evidence to case: same class and place join one open case; otherwise a new suspected case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases import audit
from cases.errors import NotFoundError
from cases.evidence import store_evidence
from cases.intake import attach_to_case
from cases.models import Case, CaseEvidence

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
