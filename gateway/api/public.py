"""Public endpoints (no login, rate-limited, no personal data beyond what the caller may see):
the disclosure register (公示), complaint intake (投诉举报: a place and photos become a lead in
the case record and a proposed point-inspection mission), and the party portal (APL Art. 44-45:
a party looks up their case with its number and access code, sees the facts and the evidence
held against them, and submits a statement or defence into the case record)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases import audit
from cases.classes import class_routes, route_for
from cases.deadlines import case_deadlines
from cases.disclosure import public_register
from cases.intake import next_case_number
from cases.models import Case, CaseEvidence, Department, Evidence, EvidenceMedia, Media, SiteRecord
from cases.workdays import legal_date
from gateway.api.deps import Page, db_session, etag_response, listing, page, rate_limited
from gateway.auth.passwords import verify_secret
from gateway.models import Complaint, PartyAccess, PartySubmission

router = APIRouter(tags=["public"], dependencies=[Depends(rate_limited("public"))])

MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 10 * 1024 * 1024
PARTY_DEADLINES = ("statement_defence", "hearing_request", "defence", "hearing", "payment")


@router.get("/disclosures", summary="The public register of enforcement decisions (redacted)")
def disclosures(
    request: Request, paging: Page = Depends(page), session: Session = Depends(db_session)
) -> Response:
    entries = public_register(session)
    items = entries[paging.offset : paging.offset + paging.limit]
    return etag_response(request, listing(len(entries), paging, items))


@router.get("/classes", summary="Violation categories a complaint can name")
def classes() -> dict[str, Any]:
    return {
        "items": [
            {"class_name": r.class_name, "name_zh": r.name_zh} for r in class_routes().values()
        ]
    }


def _site_at(session: Session, lon: float, lat: float) -> Any:
    from shapely.geometry import Point

    from missions.site import site_from_geojson

    point = Point(lon, lat)
    for row in session.scalars(select(SiteRecord).order_by(SiteRecord.id)):
        try:
            site = site_from_geojson(row.geojson)
        except ValueError:
            continue
        if site.keep_in.contains(point):
            return row, site
    return None, None


@router.post("/complaints", status_code=201, summary="Report a suspected violation with photos")
async def complaint(
    request: Request,
    lon: float = Form(ge=-180.0, le=180.0),
    lat: float = Form(ge=-90.0, le=90.0),
    text: str = Form(min_length=1, max_length=2000),
    class_name: str = Form("illegal_construction", max_length=64),
    contact: str | None = Form(None, max_length=200),
    photos: list[UploadFile] = File(default_factory=list),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    from gateway.media import MediaStore, sniff_content_type

    if class_name not in class_routes():
        raise HTTPException(422, f"class_name {class_name!r}: use one of {list(class_routes())}")
    if len(photos) > MAX_PHOTOS:
        raise HTTPException(422, f"photos: at most {MAX_PHOTOS} per complaint")
    store = MediaStore(request.app.state.config.media_dir)
    shas: list[str] = []
    for photo in photos:
        data = await photo.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise HTTPException(413, f"photo {photo.filename!r}: larger than 10 MB")
        kind = sniff_content_type(data)
        if kind not in ("image/jpeg", "image/png"):
            raise HTTPException(422, f"photo {photo.filename!r}: send a JPEG or PNG image")
        stored = store.put(data)
        store.record(session, stored, kind)
        shas.append(stored.sha256)
    return _file_complaint(request, session, lon, lat, text, class_name, contact, shas)


def _file_complaint(
    request: Request,
    session: Session,
    lon: float,
    lat: float,
    text: str,
    class_name: str,
    contact: str | None,
    shas: list[str],
) -> dict[str, Any]:
    from gateway.api.missions import PlanRequest, make_plan, store_plan

    now = datetime.now(UTC)
    route = route_for(class_name)
    row = Complaint(lon=lon, lat=lat, text=text, contact=contact, media=shas, state="received")
    session.add(row)
    session.flush()
    site_row, site = _site_at(session, lon, lat)
    mission_id = None
    if site is not None:
        try:
            plan = make_plan(
                site,
                PlanRequest(
                    site_id=site.id,
                    pattern="point",
                    target=(lon, lat),
                    altitude_agl_m=50.0,
                    speed_m_s=None,
                ),
            )
            mission_id = store_plan(session, site, plan, "point", "public:complaint").id
        except HTTPException:
            mission_id = None  # no safe point inspection: the lead stands on its own
    if session.get(Department, route.department) is None:
        session.add(
            Department(id=route.department, name=route.department, name_zh=route.department)
        )
        session.flush()
    case = None
    for _attempt in range(5):
        case = Case(
            number=next_case_number(session, route.department, now),
            department=route.department,
            class_name=class_name,
            violation_code=route.violation_code,
            state="suspected",
            lat=lat,
            lon=lon,
            site_id=site_row.id if site_row is not None else None,
            opened_at=now,
            updated_at=now,
            title=f"群众投诉：疑似{route.name_zh}",
            facts=text,
            facts_json={"source": "complaint", "complaint_id": row.id, "photos": shas},
        )
        try:
            with session.begin_nested():
                session.add(case)
                session.flush()
            break
        except IntegrityError:
            case = None
    if case is None:
        raise HTTPException(503, "could not allocate a case number; try again")
    row.site_id = site_row.id if site_row is not None else None
    row.mission_id = mission_id
    row.state = "lead"
    audit.append(
        session,
        "public:complaint",
        "case.opened",
        f"case:{case.number}",
        {
            "case": case.number,
            "state": "suspected",
            "source": "complaint",
            "complaint_id": row.id,
            "class_name": class_name,
            "lon": lon,
            "lat": lat,
            "photos": shas,
            "proposed_mission": mission_id,
        },
    )
    session.commit()
    return {
        "complaint_id": row.id,
        "reference": case.number,
        "state": "received",
        "proposed_mission": mission_id is not None,
    }


class PartyCredentials(BaseModel):
    number: str = Field(min_length=1, max_length=64)
    access_code: str = Field(min_length=1, max_length=64)


class PartySubmit(PartyCredentials):
    kind: Literal["statement", "defence"]
    text: str = Field(min_length=1, max_length=20_000)


class PartyMedia(PartyCredentials):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


def _party_case(session: Session, body: PartyCredentials) -> Case:
    case = session.scalar(select(Case).where(Case.number == body.number))
    access = session.get(PartyAccess, case.id) if case is not None else None
    ok = verify_secret(access.code_hash if access else None, body.access_code.strip().upper())
    if case is None or not ok:
        raise HTTPException(404, "no case with this number and access code")
    return case


@router.post("/party/case", summary="Party portal: the case, its facts and the evidence")
def party_case(body: PartyCredentials, session: Session = Depends(db_session)) -> dict[str, Any]:
    case = _party_case(session, body)
    evidence = session.scalars(
        select(Evidence)
        .join(CaseEvidence, CaseEvidence.evidence_id == Evidence.id)
        .where(CaseEvidence.case_id == case.id)
        .order_by(Evidence.captured_at)
    ).all()
    media: dict[str, list[str]] = {e.id: [] for e in evidence}
    if evidence:
        for link in session.scalars(
            select(EvidenceMedia).where(EvidenceMedia.evidence_id.in_(list(media)))
        ):
            media[link.evidence_id].append(link.sha256)
    today = legal_date(datetime.now(UTC))
    audit.append(session, f"party:{case.number}", "party.viewed", f"case:{case.number}", {})
    session.commit()
    return {
        "number": case.number,
        "title": case.title,
        "state": case.state,
        "facts": case.facts,
        "class_name": case.class_name,
        "proposed_penalty": case.proposed_penalty,
        "decided_penalty": case.decided_penalty,
        "steps": [
            {"action": s.action, "taken_at": s.taken_at, "actor_role": s.actor_role}
            for s in case.steps
        ],
        "deadlines": [
            d.to_dict() for d in case_deadlines(session, case, today) if d.kind in PARTY_DEADLINES
        ],
        "evidence": [
            {
                "id": e.id,
                "captured_at": e.captured_at,
                "lon": e.lon,
                "lat": e.lat,
                "class_name": e.class_name,
                "confidence": e.confidence,
                "box_px": e.box_px,
                "media": media[e.id],
            }
            for e in evidence
        ],
        "submissions": [
            {"kind": s.kind, "text": s.text, "received_at": s.received_at}
            for s in session.scalars(
                select(PartySubmission).where(PartySubmission.case_id == case.id)
            )
        ],
    }


@router.post("/party/media", summary="Party portal: one image of the evidence")
def party_media(
    body: PartyMedia, request: Request, session: Session = Depends(db_session)
) -> Response:
    case = _party_case(session, body)
    linked = session.scalar(
        select(func.count())
        .select_from(EvidenceMedia)
        .join(CaseEvidence, CaseEvidence.evidence_id == EvidenceMedia.evidence_id)
        .where(CaseEvidence.case_id == case.id, EvidenceMedia.sha256 == body.sha256)
    )
    media = session.get(Media, body.sha256) if linked else None
    if media is None:
        raise HTTPException(404, "no such image in this case")
    from gateway.media import MediaStore

    try:
        data = MediaStore(request.app.state.config.media_dir).read(body.sha256)
    except (OSError, ValueError):
        raise HTTPException(404, "the image file is missing") from None
    return Response(data, media_type=media.content_type)


@router.post(
    "/party/submit",
    status_code=201,
    summary="Party portal: submit a statement or defence into the case record",
)
def party_submit(
    body: PartySubmit, request: Request, session: Session = Depends(db_session)
) -> dict[str, Any]:
    case = _party_case(session, body)
    if case.state in ("closed", "archived", "dismissed"):
        raise HTTPException(409, f"case {case.number} is {case.state}; submissions are closed")
    row = PartySubmission(case_id=case.id, kind=body.kind, text=body.text)
    session.add(row)
    session.flush()
    audit.append(
        session,
        f"party:{case.number}",
        f"party.{body.kind}",
        f"case:{case.number}",
        {"case": case.number, "submission_id": row.id, "kind": body.kind, "text": body.text},
    )
    session.commit()
    return {"id": row.id, "case": case.number, "kind": body.kind, "received_at": row.received_at}
