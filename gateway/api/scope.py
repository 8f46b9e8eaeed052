"""Department scope: which sites, cases and evidence a user may see (404 for the rest, so
another department's records are not even confirmed to exist)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from cases.models import Case, CaseEvidence, Evidence, MissionRecord, SiteRecord
from gateway.api.deps import Principal


def visible_site_ids(user: Principal) -> Select[Any]:
    return select(SiteRecord.id).where(SiteRecord.department_id == user.department_id)


def scope_cases(query: Select[Any], user: Principal) -> Select[Any]:
    if user.all_departments:
        return query
    return query.where(Case.department == user.department_id)


def scope_sites(query: Select[Any], user: Principal) -> Select[Any]:
    if user.all_departments:
        return query
    return query.where(SiteRecord.department_id == user.department_id)


def scope_missions(query: Select[Any], user: Principal) -> Select[Any]:
    if user.all_departments:
        return query
    return query.where(MissionRecord.site_id.in_(visible_site_ids(user)))


def scope_evidence_list(query: Select[Any], user: Principal, session: Session) -> Select[Any]:
    """Evidence over the department's sites (the list: one indexed ``IN`` of a few site ids;
    evidence of the department's cases over other sites is reached from the case page)."""
    if user.all_departments:
        return query
    sites = list(session.scalars(visible_site_ids(user)))
    return query.where(Evidence.site_id.in_(sites))


def scope_evidence(query: Select[Any], user: Principal) -> Select[Any]:
    """Evidence over the department's sites, or attached to one of its cases (for one item:
    the ``OR`` over a subquery is too slow for a whole list)."""
    if user.all_departments:
        return query
    in_cases = (
        select(CaseEvidence.evidence_id)
        .join(Case, Case.id == CaseEvidence.case_id)
        .where(Case.department == user.department_id)
    )
    return query.where(or_(Evidence.site_id.in_(visible_site_ids(user)), Evidence.id.in_(in_cases)))


def visible_site(session: Session, user: Principal, site_id: str) -> SiteRecord:
    site = session.get(SiteRecord, site_id)
    if site is None or not user.may_see(site.department_id):
        raise HTTPException(404, f"site {site_id!r} not found")
    return site


def visible_case(session: Session, user: Principal, ref: str) -> Case:
    query = select(Case)
    query = query.where(Case.id == int(ref)) if ref.isdigit() else query.where(Case.number == ref)
    case = session.scalar(query)
    if case is None or not user.may_see(case.department):
        raise HTTPException(404, f"case {ref!r} not found")
    return case


def visible_mission(session: Session, user: Principal, mission_id: str) -> MissionRecord:
    mission = session.get(MissionRecord, mission_id)
    if mission is None:
        raise HTTPException(404, f"mission {mission_id!r} not found")
    if not user.all_departments:
        site = session.get(SiteRecord, mission.site_id) if mission.site_id else None
        if site is None or site.department_id != user.department_id:
            raise HTTPException(404, f"mission {mission_id!r} not found")
    return mission
