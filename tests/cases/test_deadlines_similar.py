"""Deadline warnings and flags on a case; similar cases nearby; class routes agree with vision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from cases.classes import class_routes
from cases.config import ProcedureConfig
from cases.deadlines import case_deadlines
from cases.discretion import shipped_benchmarks
from cases.evidence import store_evidence
from cases.intake import attach_to_case
from cases.similar import applicable_law, similar_cases
from cases.workdays import WorkCalendar

from .factories import BASE_LAT, evidence_record
from .scenario import World


def test_deadline_status_open_warning_overdue_met(sqlite_session: Session) -> None:
    world = World(sqlite_session)
    world.run(["confirm", "file", "investigate", "review_evidence"])
    world.step("preserve_evidence")  # 7 working days to decide on the preserved items
    cal, cfg = WorkCalendar(), ProcedureConfig()
    pres = next(
        d
        for d in case_deadlines(sqlite_session, world.case, world.t.date(), cal, cfg)
        if d.kind == "preservation"
    )
    assert pres.status == "open" and pres.working_days_left == 7
    two_before = cal.add_working_days(world.t.date(), 5)
    warn = next(
        d
        for d in case_deadlines(sqlite_session, world.case, two_before, cal, cfg)
        if d.kind == "preservation"
    )
    assert warn.status == "warning" and warn.working_days_left == 2
    late = pres.due_on + timedelta(days=1)
    flag = next(
        d
        for d in case_deadlines(sqlite_session, world.case, late, cal, cfg)
        if d.kind == "preservation"
    )
    assert flag.status == "overdue"
    world.step("handle_preserved", days=2)
    met = next(
        d
        for d in case_deadlines(sqlite_session, world.case, late, cal, cfg)
        if d.kind == "preservation"
    )
    assert met.status == "met" and met.met_on is not None
    decision = next(
        d
        for d in case_deadlines(sqlite_session, world.case, late, cal, cfg)
        if d.kind == "decision"
    )
    assert decision.unit == "calendar" and decision.basis.startswith("APL Art. 60")


def test_similar_cases_and_applicable_law(sqlite_session: Session) -> None:
    s = sqlite_session
    t0 = datetime(2026, 3, 2, 2, tzinfo=UTC)
    cases = []
    for i, dlat in enumerate([0.0, 0.003, 0.006, 0.05]):  # 0, ~330 m, ~670 m, ~5.5 km
        rec = evidence_record(lat=BASE_LAT + dlat, captured_at=t0 + timedelta(days=40 * i), seq=i)
        store_evidence(s, rec)
        cases.append(attach_to_case(s, rec.id, at=t0 + timedelta(days=40 * i, hours=1)))
    other = evidence_record(class_name="open_burning", captured_at=t0, seq=9)
    store_evidence(s, other)
    attach_to_case(s, other.id, at=t0 + timedelta(hours=1))
    s.commit()
    found = similar_cases(s, cases[2], radius_m=1000)
    assert [f["number"] for f in found] == [cases[1].number, cases[0].number]
    assert 300 < found[0]["distance_m"] < 360
    law = applicable_law(cases[0], shipped_benchmarks(), date(2026, 11, 2))
    assert law["penalty_basis"] == "《中华人民共和国城乡规划法》第六十四条"
    assert [r["id"] for r in law["benchmark"]["rows"]] == ["CG-IC-1", "CG-IC-2", "CG-IC-3"]
    assert "APL Art. 45" in law["procedure"]


def test_class_routes_agree_with_the_detector_classes() -> None:
    from vision.classes import VIOLATION_CLASSES

    routes = class_routes()
    assert set(routes) == {c.name for c in VIOLATION_CLASSES}
    for c in VIOLATION_CLASSES:
        assert routes[c.name].violation_code == c.violation_code
