"""Review of electronic monitoring evidence (APL Art. 41) for drone and robot captures.

Before a record can support a penalty, the agency reviews it: the record is true, clear,
complete and accurate (the reviewer's judgement, each check stated), the device passed
legal and technical review and is metrologically verified on the capture date, and the
place of use was published before the capture (facts kept in ``devices`` and ``sites``).
Unreviewed or failed records may not be cited in a notice or decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from cases import journal
from cases.errors import CasesError, NotFoundError, ProcedureError
from cases.models import Device, Evidence, SiteRecord, User, utcnow
from cases.workdays import legal_date

__all__ = [
    "DEVICE_CHECKS",
    "RECORD_CHECKS",
    "Art41Result",
    "approve_device",
    "publish_site",
    "review_evidence",
]

#: The reviewer's judgement on the record itself (Art. 41 para 2).
RECORD_CHECKS: dict[str, str] = {
    "record_true": "记录内容真实",
    "record_clear": "记录清晰",
    "record_complete": "记录完整",
    "record_accurate": "记录准确",
}

#: Facts about the device and place, read from the database (Art. 41 para 1; 2024 guidance).
DEVICE_CHECKS: dict[str, str] = {
    "device_legal_review": "设备经法制和技术审核",
    "device_metrology_valid": "设备计量检定有效",
    "place_published": "设置地点已向社会公布",
}


@dataclass(frozen=True)
class Art41Result:
    """The outcome of one review: every check with its result, and the failures named."""

    evidence_id: str
    passed: bool
    checks: dict[str, bool]
    failed: list[str]
    notes: dict[str, str]


def approve_device(
    session: Session,
    vehicle_id: str,
    legal_review_ref: str,
    metrology_valid_until: date,
    actor: str,
    public_key: str = "",
) -> Device:
    """Record that a device passed legal/technical review and its verification validity."""
    if not legal_review_ref:
        raise CasesError("legal_review_ref is empty: give the approval document's reference")
    device = session.get(Device, vehicle_id)
    if device is None:
        device = Device(vehicle_id=vehicle_id, public_key=public_key, enrolled_at=utcnow())
        session.add(device)
    device.legal_review_ref = legal_review_ref
    device.metrology_valid_until = metrology_valid_until
    session.flush()
    journal.record(
        session,
        actor,
        "device.approved",
        f"device:{vehicle_id}",
        {"legal_review_ref": legal_review_ref, "metrology_valid_until": str(metrology_valid_until)},
    )
    return device


def publish_site(
    session: Session,
    site_id: str,
    published_ref: str,
    published_at: datetime,
    actor: str,
    name: str = "",
    geojson: dict[str, Any] | None = None,
) -> SiteRecord:
    """Record that the site's use of electronic monitoring was published (Art. 41)."""
    if not published_ref:
        raise CasesError("published_ref is empty: give the public notice's reference")
    site = session.get(SiteRecord, site_id)
    if site is None:
        site = SiteRecord(id=site_id, name=name or site_id, geojson=geojson or {})
        session.add(site)
    site.published_at = published_at
    site.published_ref = published_ref
    session.flush()
    journal.record(
        session,
        actor,
        "site.published",
        f"site:{site_id}",
        {"published_ref": published_ref, "published_at": published_at.isoformat()},
    )
    return site


def device_facts(session: Session, evidence: Evidence) -> tuple[dict[str, bool], dict[str, str]]:
    """The device and place checks of ``evidence`` from the database, with notes."""
    checks: dict[str, bool] = {}
    notes: dict[str, str] = {}
    captured_on = legal_date(evidence.captured_at)
    device = session.get(Device, evidence.vehicle_id)
    if device is None:
        checks["device_legal_review"] = False
        checks["device_metrology_valid"] = False
        notes["device"] = f"device {evidence.vehicle_id} is not enrolled"
    else:
        checks["device_legal_review"] = bool(device.legal_review_ref) and (
            device.revoked_at is None or device.revoked_at > evidence.captured_at
        )
        notes["device_legal_review"] = device.legal_review_ref or "no approval recorded"
        valid = device.metrology_valid_until
        checks["device_metrology_valid"] = valid is not None and valid >= captured_on
        notes["device_metrology_valid"] = (
            f"verified until {valid}, captured {captured_on}" if valid else "no verification"
        )
    site = session.get(SiteRecord, evidence.site_id)
    published = site.published_at if site is not None else None
    checks["place_published"] = published is not None and published <= evidence.captured_at
    notes["place_published"] = (
        f"published {published.isoformat()} ({site.published_ref})"
        if site is not None and published is not None
        else f"site {evidence.site_id} has no recorded publication"
    )
    return checks, notes


def review_evidence(
    session: Session,
    evidence_id: str,
    reviewer: User,
    checks: dict[str, Any],
    reason: str,
    at: datetime | None = None,
) -> Art41Result:
    """Review one evidence record; it passes only if every check holds. Audited.

    ``checks`` holds the reviewer's judgement for each of :data:`RECORD_CHECKS` (all are
    required); the device and place checks come from the database. A record is reviewed
    once: a passed or failed review is final.
    """
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFoundError(f"evidence {evidence_id!r} not found")
    if evidence.art41_review != "pending":
        raise ProcedureError(
            f"evidence {evidence_id} was already reviewed ({evidence.art41_review}); "
            "a review is final (Art. 41)",
            rule="art41_once",
            article="APL Art. 41",
        )
    missing = [k for k in RECORD_CHECKS if not isinstance(checks.get(k), bool)]
    if missing:
        raise ProcedureError(
            f"Art. 41 review of {evidence_id}: checks {missing} must each be true or false "
            "(record true, clear, complete, accurate)",
            rule="art41_checks_required",
            article="APL Art. 41",
        )
    if not reason.strip():
        raise ProcedureError(
            "Art. 41 review needs a reason", rule="reason_required", article="APL Art. 41"
        )
    result_checks = {k: bool(checks[k]) for k in RECORD_CHECKS}
    facts, notes = device_facts(session, evidence)
    result_checks.update(facts)
    failed = [k for k, ok in result_checks.items() if not ok]
    passed = not failed
    when = at or utcnow()
    evidence.art41_review = "passed" if passed else "failed"
    evidence.art41_reviewed_by = reviewer.id
    evidence.art41_reviewed_at = when
    evidence.art41_reason = reason
    evidence.art41_checks = {"checks": result_checks, "notes": notes, "failed": failed}
    session.flush()
    journal.record(
        session,
        f"user:{reviewer.username}",
        "evidence.art41_review",
        f"evidence:{evidence_id}",
        {"passed": passed, "checks": result_checks, "failed": failed, "reason": reason},
    )
    return Art41Result(evidence_id, passed, result_checks, failed, notes)
