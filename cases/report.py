"""The monthly progress report (city plan: due on the 20th, next working day if not one).

Per department and in total, for one calendar month on Asia/Shanghai days: missions and
sorties flown, area covered, detections (evidence received), cases opened / decided /
closed, agency deadlines met and missed, and the disclosure rate of general-procedure
penalty decisions. Written as CSV and as PDF (same renderer as the case documents).

The report for month M is due on the 20th of month M+1 (postponed to the next working
day); when the holiday data does not cover that day the due date is reported as unknown.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.classes import route_for
from cases.disclosure import disclosure_rate
from cases.errors import CalendarError, CasesError
from cases.models import (
    Case,
    CaseDeadline,
    Department,
    Disclosure,
    Evidence,
    MissionRecord,
    SiteRecord,
    Sortie,
)
from cases.procedure import AGENCY_DEADLINES
from cases.workdays import LEGAL_TZ, WorkCalendar

__all__ = ["MonthlyReport", "monthly_report", "parse_month", "write_report"]

COLUMNS = [
    "department",
    "sorties",
    "missions",
    "area_covered_m2",
    "detections",
    "cases_opened",
    "cases_decided",
    "cases_closed",
    "deadlines_met",
    "deadlines_missed",
    "disclosure_decisions",
    "disclosure_published",
    "disclosure_rate",
]


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month)."""
    try:
        year_s, month_s = text.split("-")
        year, month = int(year_s), int(month_s)
        date(year, month, 1)
    except ValueError:
        raise CasesError(f"month {text!r} is not YYYY-MM (e.g. 2026-11)") from None
    return year, month


@dataclass
class MonthlyReport:
    """The figures of one month, per department and in total."""

    month: str
    due_on: date | None
    due_note: str
    generated_at: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "due_on": self.due_on,
            "due_note": self.due_note,
            "generated_at": self.generated_at,
            "departments": self.rows,
        }


def _bounds(year: int, month: int) -> tuple[date, date, datetime, datetime]:
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    start = datetime.combine(first, time(), LEGAL_TZ).astimezone(UTC)
    end = datetime.combine(nxt, time(), LEGAL_TZ).astimezone(UTC)
    return first, nxt - timedelta(days=1), start, end


def monthly_report(
    session: Session, month: str, calendar: WorkCalendar, today: date | None = None
) -> MonthlyReport:
    """Compute the report of ``month`` (``YYYY-MM``)."""
    year, mon = parse_month(month)
    first, last, start, end = _bounds(year, mon)
    ny, nm = (year + 1, 1) if mon == 12 else (year, mon + 1)
    try:
        due: date | None = calendar.monthly_report_due(ny, nm)
        note = "20th of the next month, or the next working day"
    except CalendarError as exc:
        due, note = None, str(exc)
    today = today or datetime.now(LEGAL_TZ).date()

    depts = [d.id for d in session.scalars(select(Department).order_by(Department.id))]
    blank: dict[str, Any] = {c: 0 for c in COLUMNS if c != "department"}
    rows: dict[str, dict[str, Any]] = {d: {"department": d, **blank} for d in depts}

    def row(dept: str | None) -> dict[str, Any]:
        key = dept or "unassigned"
        return rows.setdefault(key, {"department": key, **blank})

    site_dept = {s.id: s.department_id for s in session.scalars(select(SiteRecord))}
    missions = {m.id: m for m in session.scalars(select(MissionRecord))}
    seen_missions: set[tuple[str, str]] = set()
    for s in session.scalars(
        select(Sortie).where(Sortie.started_at >= start, Sortie.started_at < end)
    ):
        m = missions.get(s.mission_id or "")
        dept = site_dept.get(m.site_id) if m is not None and m.site_id else None
        r = row(dept)
        r["sorties"] += 1
        r["area_covered_m2"] += float(s.area_covered_m2 or 0.0)
        if s.mission_id and (str(dept), s.mission_id) not in seen_missions:
            seen_missions.add((str(dept), s.mission_id))
            r["missions"] += 1
    for e in session.scalars(
        select(Evidence).where(Evidence.captured_at >= start, Evidence.captured_at < end)
    ):
        row(route_for(e.class_name).department)["detections"] += 1
    for c in session.scalars(select(Case)):
        if start <= c.opened_at < end:
            row(c.department)["cases_opened"] += 1
        if c.decided_on is not None and first <= c.decided_on <= last:
            row(c.department)["cases_decided"] += 1
        if c.closed_at is not None and start <= c.closed_at < end and c.state != "dismissed":
            row(c.department)["cases_closed"] += 1
    case_dept = {c.id: c.department for c in session.scalars(select(Case))}
    for d in session.scalars(
        select(CaseDeadline).where(
            CaseDeadline.due_on >= first,
            CaseDeadline.due_on <= last,
            CaseDeadline.kind.in_(AGENCY_DEADLINES),
            CaseDeadline.cancelled.is_(False),
        )
    ):
        r = row(case_dept.get(d.case_id))
        if d.met_on is not None and d.met_on <= d.due_on:
            r["deadlines_met"] += 1
        elif d.met_on is not None or d.due_on < today:
            r["deadlines_missed"] += 1
    disc_rows = session.scalars(
        select(Disclosure).where(
            Disclosure.kind == "penalty",
            Disclosure.procedure == "general",
            Disclosure.decided_on >= first,
            Disclosure.decided_on <= last,
        )
    ).all()
    for disc in disc_rows:
        r = row(case_dept.get(disc.case_id))
        r["disclosure_decisions"] += 1
        if disc.published_on is not None:
            r["disclosure_published"] += 1
    total: dict[str, Any] = {"department": "TOTAL", **blank}
    for r in rows.values():
        n = r["disclosure_decisions"]
        r["disclosure_rate"] = round(r["disclosure_published"] / n, 4) if n else None
        r["area_covered_m2"] = round(r["area_covered_m2"], 1)
        for col in COLUMNS[1:-1]:
            total[col] += r[col]
    overall = disclosure_rate(session, first, last, today)
    total["disclosure_rate"] = round(overall["rate"], 4) if overall["rate"] is not None else None
    total["area_covered_m2"] = round(total["area_covered_m2"], 1)
    out = [*rows.values(), total]
    return MonthlyReport(f"{year:04d}-{mon:02d}", due, note, datetime.now(UTC), out)


def report_csv(report: MonthlyReport) -> str:
    """The report as CSV (one row per department and a TOTAL row)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for r in report.rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


LABELS_ZH = {
    "sorties": "飞行架次",
    "missions": "巡查任务",
    "area_covered_m2": "覆盖面积(平方米)",
    "detections": "发现疑似违法",
    "cases_opened": "新立线索",
    "cases_decided": "作出决定",
    "cases_closed": "结案",
    "deadlines_met": "按期完成时限",
    "deadlines_missed": "超期时限",
    "disclosure_decisions": "应公示决定",
    "disclosure_published": "已公示",
    "disclosure_rate": "公示率",
}


def report_markup(report: MonthlyReport) -> str:
    """The report in the document line markup (for the PDF)."""
    lines = [
        "# 规范行政执法程序工作月报",
        f"## {report.month}",
        f"报送期限：{report.due_on or '未知（' + report.due_note + '）'}（每月20日，非工作日顺延）",
    ]
    for r in report.rows:
        name = "合计" if r["department"] == "TOTAL" else r["department"]
        parts = []
        for key, label in LABELS_ZH.items():
            value = r.get(key)
            if key == "disclosure_rate":
                value = "—" if value is None else f"{value * 100:.1f}%（目标100%）"
            parts.append(f"{label}：{value}")
        lines.append(f"{name}：" + "；".join(parts))
    lines.append(f"> 生成时间：{report.generated_at.astimezone(LEGAL_TZ):%Y年%m月%d日 %H:%M}")
    return "\n".join(lines) + "\n"


def write_report(report: MonthlyReport, out_dir: Path, font: Path | None = None) -> dict[str, Path]:
    """Write ``monthly-YYYY-MM.csv`` and ``.pdf`` into ``out_dir``; returns their paths."""
    from cases.documents import find_cjk_font, render_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"monthly-{report.month}.csv"
    pdf_path = out_dir / f"monthly-{report.month}.pdf"
    csv_path.write_text(report_csv(report), encoding="utf-8")
    pdf_path.write_bytes(
        render_pdf(report_markup(report), find_cjk_font(font), report.generated_at)
    )
    return {"csv": csv_path, "pdf": pdf_path}
