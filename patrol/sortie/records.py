"""What a sortie left in the case record: its evidence items and the cases they fed."""

from __future__ import annotations

from typing import Any


def count_evidence(session: Any, ids: list[str]) -> int:
    from sqlalchemy import func, select

    from cases.models import Evidence

    if not ids:
        return 0
    return int(
        session.execute(
            select(func.count()).select_from(Evidence).where(Evidence.id.in_(ids))
        ).scalar_one()
    )


def count_cases(session: Any, ids: list[str]) -> int:
    from sqlalchemy import func, select

    from cases.models import CaseEvidence

    if not ids:
        return 0
    return int(
        session.execute(
            select(func.count(func.distinct(CaseEvidence.case_id))).where(
                CaseEvidence.evidence_id.in_(ids)
            )
        ).scalar_one()
    )
