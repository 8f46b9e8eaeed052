"""From evidence to case: sightings of one class at one place join one open case.

A new suspected violation either attaches to the nearest open case of the same class
within ``distance_m`` whose newest evidence is within ``window`` of this capture, or
opens a new case in state ``suspected`` (线索) for an inspector to confirm or dismiss.

:func:`attach_to_case` handles one item; :func:`attach_many` a whole ingest batch with the
same result as calling it item by item, in a few set-based statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases import journal
from cases.classes import route_for
from cases.db import param_mark
from cases.errors import CasesError, NotFoundError
from cases.geo import degree_box, distance_m
from cases.models import Case, CaseEvidence, Department, Evidence, utcnow

__all__ = ["CLOSED_STATES", "attach_many", "attach_to_case", "next_case_number"]

LEGAL_TZ = ZoneInfo("Asia/Shanghai")

#: States in which a case no longer takes new evidence.
CLOSED_STATES = frozenset({"dismissed", "no_penalty", "transferred", "closed", "archived"})

INTAKE_ACTOR = "system:intake"


def next_case_number(session: Session, department: str, when: datetime) -> str:
    """The next case number of ``department`` in the legal year of ``when``."""
    year = when.astimezone(LEGAL_TZ).year
    prefix = f"{department}-{year}-"
    # The highest serial, not the count: numbers stay unique even if a case row is removed.
    # Serials are zero-padded to five digits and longer only without leading zeros, so the
    # longest, then highest, number is the highest serial: ask the database for the top
    # few instead of reading every number of the year (the ingest asks once per batch).
    # Straight to the driver: the ingest opens cases in most batches, and SQLAlchemy's
    # building and compiling of this query cost about 1.5 ms of CPU each time on the 2-core
    # test VM. The flush keeps what it would have seen: cases added to the session.
    session.flush()
    conn = session.connection()
    mark = param_mark(conn)
    top = [
        row[0]
        for row in conn.exec_driver_sql(
            f"SELECT number FROM cases WHERE number LIKE {mark} "
            "ORDER BY length(number) DESC, number DESC LIMIT 20",
            (f"{prefix}%",),
        )
    ]
    matching = select(Case.number).where(Case.number.like(f"{prefix}%"))
    serials = [int(n[len(prefix) :]) for n in top if n[len(prefix) :].isdigit()]
    if not serials and len(top) == 20:  # only odd numbers on top: look at all of them
        numbers = session.scalars(matching).all()
        serials = [int(n[len(prefix) :]) for n in numbers if n[len(prefix) :].isdigit()]
    return f"{prefix}{max(serials, default=0) + 1:05d}"


# Departments found in the database, per engine: the ingest opens cases in every batch,
# and a query per batch for a row that is not removed while cases refer to it is wasted.
# Only rows found are remembered, not ones this call adds. A row found may still vanish (a
# rolled-back transaction that had added it, or a department removed by hand): the case
# insert then fails on its foreign key, and _open_cases forgets the engine's entries and
# tries again.
_known_departments: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()


def _ensure_department(session: Session, code: str) -> None:
    known = _known_departments.setdefault(session.get_bind(), set())
    if code in known:
        return
    if session.get(Department, code) is None:
        session.add(Department(id=code, name=code, name_zh=code))
        session.flush()
    else:
        known.add(code)


def _forget_departments(session: Session) -> None:
    _known_departments.pop(session.get_bind(), None)


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


def _new_case(evidence: Sighting, number: str, department: str, now: datetime) -> Case:
    return Case(**_case_row(evidence, number, department, now, None))


def _case_row(
    evidence: Sighting, number: str, department: str, now: datetime, newest: datetime | None
) -> dict[str, Any]:
    """The column values of a new case (what _new_case sets, plus the defaults)."""
    route = route_for(evidence.class_name)
    return {
        "number": number,
        "department": department,
        "class_name": evidence.class_name,
        "violation_code": route.violation_code,
        "procedure": "general",
        "state": "suspected",
        "lat": evidence.lat,
        "lon": evidence.lon,
        "site_id": evidence.site_id,
        "opened_at": now,
        "last_evidence_at": newest,
        "updated_at": now,
        "title": f"疑似{route.name_zh}（{evidence.site_id}）",
        "facts_json": {},
    }


def _opened_entry(case: Case, evidence_id: str) -> tuple[str, str, dict[str, Any]]:
    return _opened_entry_of(
        {
            "number": case.number,
            "class_name": case.class_name,
            "violation_code": case.violation_code,
            "lat": case.lat,
            "lon": case.lon,
        },
        evidence_id,
    )


def _opened_entry_of(row: dict[str, Any], evidence_id: str) -> tuple[str, str, dict[str, Any]]:
    """The ``case.opened`` audit entry of a new case, from its column values."""
    return (
        "case.opened",
        f"case:{row['number']}",
        {
            "case": row["number"],
            "state": "suspected",
            "class_name": row["class_name"],
            "violation_code": row["violation_code"],
            "lat": row["lat"],
            "lon": row["lon"],
            "evidence_id": evidence_id,
        },
    )


def _open_case(session: Session, evidence: Evidence, now: datetime) -> Case:
    route = route_for(evidence.class_name)
    _ensure_department(session, route.department)
    # Two intake workers may race for the same number: retry with the next one.
    for _attempt in range(5):
        number = next_case_number(session, route.department, now)
        case = _new_case(evidence, number, route.department, now)
        try:
            with session.begin_nested():
                session.add(case)
                session.flush()
        except IntegrityError:
            continue
        action, subject, payload = _opened_entry(case, evidence.id)
        journal.record(session, INTAKE_ACTOR, action, subject, payload)
        return case
    raise CasesError(f"could not allocate a case number for department {route.department}")


# -- a whole batch at once ------------------------------------------------------------------


class Sighting(Protocol):
    """What intake needs of an evidence item (an ``Evidence`` row or an ``EvidenceRecord``)."""

    @property
    def id(self) -> str: ...
    @property
    def class_name(self) -> str: ...
    @property
    def site_id(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def captured_at(self) -> datetime: ...


class CaseRef(NamedTuple):
    """The case an item went to (what :func:`attach_many` returns for each item)."""

    id: int
    number: str


@dataclass(eq=False)  # compared and hashed by identity
class _Slot:
    """A case an item of the batch goes to: an open one from the database, or a new one."""

    class_name: str
    lat: float
    lon: float
    seen: datetime  # newest capture (or opening) time, for the window
    case: Case | None = None  # an open case loaded from the database
    ref: CaseRef | None = None  # its id and number (new cases have only these)
    row: dict[str, Any] | None = None  # a new case's column values
    first: Sighting | None = None  # the item that opens a new case
    items: list[Sighting] = field(default_factory=list)
    newest: datetime | None = None  # newest capture among this batch's items


_links = cast(Table, CaseEvidence.__table__)
_cases = cast(Table, Case.__table__)

# The open cases of a class in a lat/lon box: built once, since attach_many asks it in every
# ingest batch and building the statement each time cost about 1 ms of CPU on the test VM.
_OPEN_CASES_IN_BOX = select(Case).where(
    Case.class_name == bindparam("class_name"),
    Case.state.not_in(CLOSED_STATES),
    Case.lat.between(bindparam("lat_min"), bindparam("lat_max")),
    Case.lon.between(bindparam("lon_min"), bindparam("lon_max")),
)


def attach_many(
    session: Session,
    evidence: Sequence[Sighting],
    distance_m: float = 50.0,
    window: timedelta = timedelta(days=30),
    at: datetime | None = None,
    *,
    new_evidence: bool = False,
) -> list[CaseRef]:
    """Attach stored evidence items to cases as :func:`attach_to_case` would, one by one.

    The items are taken in order, each joining the nearest matching open case, including
    cases opened by earlier items of the same call; returns each item's case (id and
    number). ``new_evidence``: the items were stored in this transaction, so none can be
    linked to a case yet (the query for existing links is skipped). Set-based:
    one query for the links that already exist, one query for the open cases per
    (class, site) group, one insert for the new cases (numbered in one query per
    department), one for the links, and the audit entries in the session's open
    ``AuditWriter`` if there is one. Flushes, does not commit.
    """
    if distance_m < 0:
        raise CasesError(f"distance_m {distance_m} is negative: give a radius in metres >= 0")
    if not evidence:
        return []
    now = at or utcnow()
    linked: dict[str, int] = {}
    if not new_evidence:
        query = select(CaseEvidence.evidence_id, CaseEvidence.case_id).where(
            CaseEvidence.evidence_id.in_({e.id for e in evidence})
        )
        linked = {eid: cid for eid, cid in session.execute(query)}
    # Candidate open cases per class: one box query per (class, site) group, as large as
    # the group's items plus the radius, so that it holds every case any item could join.
    groups: dict[tuple[str, str], list[Sighting]] = {}
    for e in evidence:
        if e.id not in linked:
            groups.setdefault((e.class_name, e.site_id), []).append(e)
    slots: dict[str, list[_Slot]] = {}
    known: dict[int, _Slot] = {}
    for (class_name, _site), items in groups.items():
        lats = [e.lat for e in items]
        lons = [e.lon for e in items]
        dlat, dlon = degree_box(max(abs(v) for v in lats), distance_m)
        box = {
            "class_name": class_name,
            "lat_min": min(lats) - dlat,
            "lat_max": max(lats) + dlat,
            "lon_min": min(lons) - dlon,
            "lon_max": max(lons) + dlon,
        }
        found = session.scalars(_OPEN_CASES_IN_BOX, box).all()
        for case in found:
            if case.id not in known:
                slot = _Slot(
                    case.class_name, case.lat, case.lon, case.last_evidence_at or case.opened_at
                )
                slot.case = case
                slot.ref = CaseRef(case.id, case.number)
                known[case.id] = slot
                slots.setdefault(class_name, []).append(slot)

    assigned: dict[str, _Slot] = {}
    done: set[str] = set()
    for e in evidence:
        if e.id in linked or e.id in assigned:
            continue
        near = _nearest_slot(slots.get(e.class_name, []), e, distance_m, window)
        if near is None:
            slot = _Slot(e.class_name, e.lat, e.lon, now, first=e)
            slots.setdefault(e.class_name, []).append(slot)
        else:
            slot = near
        slot.items.append(e)
        if slot.newest is None or e.captured_at > slot.newest:
            slot.newest = e.captured_at
        # What attach_to_case would now have stored as last_evidence_at, for later items.
        base = slot.case.last_evidence_at if slot.case is not None else None
        slot.seen = slot.newest if base is None else max(base, slot.newest)
        assigned[e.id] = slot

    used = list(dict.fromkeys(assigned.values()))  # in order of first use
    opened = _open_cases(session, [s for s in used if s.case is None], now)
    link_rows: list[dict[str, Any]] = []
    for slot in used:
        target = _case_of(slot)
        if slot.case is not None:  # new cases were inserted with these values
            case = slot.case
            if case.last_evidence_at is None or (
                slot.newest is not None and slot.newest > case.last_evidence_at
            ):
                case.last_evidence_at = slot.newest
            case.updated_at = now
        link_rows += [
            {"case_id": target.id, "evidence_id": e.id, "attached_at": now} for e in slot.items
        ]
    if link_rows:
        session.execute(insert(_links), link_rows)
    session.flush()  # the version-checked updates of the cases that took evidence

    # Audit entries in the order attach_to_case would have written them.
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for e in evidence:
        slot_of = assigned.get(e.id)
        if slot_of is None or e.id in done:
            continue
        done.add(e.id)
        target = _case_of(slot_of)
        if slot_of in opened and slot_of.first is e:
            assert slot_of.row is not None
            entries.append(_opened_entry_of(slot_of.row, e.id))
        entries.append(
            (
                "case.evidence_attached",
                f"case:{target.number}",
                {"case": target.number, "evidence_id": e.id, "class_name": e.class_name},
            )
        )
    journal.record_many(session, INTAKE_ACTOR, entries)

    before: dict[int, CaseRef] = {}
    if linked:
        linked_cases = select(Case.id, Case.number).where(Case.id.in_(set(linked.values())))
        before = {cid: CaseRef(cid, number) for cid, number in session.execute(linked_cases)}
    return [
        _case_of(assigned[e.id]) if e.id in assigned else before[linked[e.id]] for e in evidence
    ]


def _case_of(slot: _Slot) -> CaseRef:
    if slot.ref is None:  # pragma: no cover - every used slot has its case by now
        raise CasesError("internal error: a batch item was left without a case")
    return slot.ref


def _nearest_slot(
    candidates: list[_Slot], e: Sighting, radius_m: float, window: timedelta
) -> _Slot | None:
    best: tuple[float, _Slot] | None = None
    dlat, dlon = degree_box(e.lat, radius_m)
    for slot in candidates:
        # The same box and tests as _nearest_open_case, on the cases' current values.
        if abs(slot.lat - e.lat) > dlat or abs(slot.lon - e.lon) > dlon:
            continue
        if abs(e.captured_at - slot.seen) > window:
            continue
        d = distance_m(slot.lon, slot.lat, e.lon, e.lat)
        if d <= radius_m and (best is None or d < best[0]):
            best = (d, slot)
    return best[1] if best else None


def _open_cases(session: Session, new: list[_Slot], now: datetime) -> set[_Slot]:
    """Insert the batch's new cases, numbered in order; retried if another writer raced."""
    if not new:
        return set()
    departments: dict[str, None] = {}
    for slot in new:
        departments.setdefault(route_for(slot.class_name).department, None)
    for _attempt in range(5):
        for code in departments:
            _ensure_department(session, code)
        serial: dict[str, int] = {}
        rows: list[dict[str, Any]] = []
        for slot in new:
            assert slot.first is not None
            department = route_for(slot.class_name).department
            if department not in serial:
                number = next_case_number(session, department, now)
                serial[department] = int(number.rsplit("-", 1)[1])
            else:
                serial[department] += 1
            number = f"{department}-{now.astimezone(LEGAL_TZ).year}-{serial[department]:05d}"
            rows.append(_case_row(slot.first, number, department, now, slot.newest))
        try:
            with session.begin_nested():
                # A Core INSERT ... RETURNING id: the ingest needs only the new cases' ids
                # and numbers, and building ORM objects for them cost more than the insert.
                stmt = insert(_cases).returning(_cases.c.id, sort_by_parameter_order=True)
                ids = list(session.scalars(stmt, rows))
        except IntegrityError:
            # Another writer took a number (or a department went missing): once more.
            _forget_departments(session)
            continue
        for slot, case_id, row in zip(new, ids, rows, strict=True):
            slot.ref = CaseRef(case_id, row["number"])
            slot.row = row
        return set(new)
    raise CasesError(f"could not allocate case numbers for departments {', '.join(departments)}")
