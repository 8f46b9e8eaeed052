"""Similar cases and applicable law: how comparable cases were decided, and what applies.

For a case, earlier cases of the same violation class nearby with their outcomes and
penalties (city plan 三(六)3: push comparable cases to the inspector so that like cases
are decided alike), and the legal provisions and benchmark rows that apply to it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.discretion import BenchmarkTable
from cases.geo import degree_box, distance_m
from cases.models import Case

__all__ = ["PROCEDURE_PROVISIONS", "applicable_law", "similar_cases"]

#: Procedure provisions every penalty case touches (APL article: what it requires).
PROCEDURE_PROVISIONS: dict[str, str] = {
    "APL Art. 36": "时效：二年（涉及生命健康安全、金融安全且有危害后果的五年）",
    "APL Art. 41": "电子技术监控设备记录须经审核，未经审核或者审核不符合要求的不得作为证据",
    "APL Art. 42": "执法人员不得少于两人，并应当具有执法资格",
    "APL Art. 44": "作出处罚决定前告知拟处罚内容及事实、理由、依据和陈述、申辩、听证权利",
    "APL Art. 45": "不得因当事人陈述、申辩而给予更重的处罚",
    "APL Art. 58": "重大执法决定法制审核",
    "APL Art. 59": "处罚决定书应载明的事项",
    "APL Art. 60": "自立案之日起九十日内作出处罚决定",
    "APL Art. 61": "宣告后当场交付或者七日内送达",
    "APL Art. 63-65": "听证",
}


def similar_cases(
    session: Session, case: Case, radius_m: float = 2000.0, limit: int = 10
) -> list[dict[str, Any]]:
    """Earlier cases of the same class within ``radius_m``, nearest first, with outcomes."""
    dlat, dlon = degree_box(case.lat, radius_m)
    rows = session.scalars(
        select(Case).where(
            Case.id != case.id,
            Case.class_name == case.class_name,
            Case.opened_at <= case.opened_at,
            Case.lat.between(case.lat - dlat, case.lat + dlat),
            Case.lon.between(case.lon - dlon, case.lon + dlon),
        )
    ).all()
    found: list[dict[str, Any]] = []
    for other in rows:
        d = distance_m(case.lon, case.lat, other.lon, other.lat)
        if d > radius_m:
            continue
        found.append(
            {
                "number": other.number,
                "distance_m": round(d, 1),
                "state": other.state,
                "outcome": other.outcome,
                "decided_on": other.decided_on,
                "decided_penalty": other.decided_penalty,
                "tier": (other.discretion or {}).get("tier"),
                "facts": other.facts,
            }
        )
    found.sort(key=lambda x: x["distance_m"])
    return found[:limit]


def applicable_law(case: Case, tables: list[BenchmarkTable], on: date) -> dict[str, Any]:
    """The provisions and benchmark rows that apply to ``case`` on day ``on``."""
    table = next(
        (t for t in tables if t.violation_code == case.violation_code and t.valid_on(on)), None
    )
    out: dict[str, Any] = {
        "violation_code": case.violation_code,
        "procedure": PROCEDURE_PROVISIONS,
        "prohibition_basis": None,
        "penalty_basis": None,
        "benchmark": None,
    }
    if table is not None:
        out["prohibition_basis"] = table.prohibition_basis
        out["penalty_basis"] = table.penalty_basis
        out["benchmark"] = {
            "source": table.source,
            "example": table.example,
            "measure": f"{table.measure_label} ({table.measure_unit})",
            "rows": [
                {
                    "id": t.id,
                    "tier": t.tier,
                    "from": t.lower,
                    "to": t.upper,
                    "individual": t.individual.__dict__,
                    "organisation": t.organisation.__dict__,
                }
                for t in table.tiers
            ],
            "aggravating": table.aggravating,
            "measures_ordered": table.measures_ordered,
        }
    return out
