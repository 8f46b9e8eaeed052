"""The mission report of one sortie: what an inspector reads in a minute, and a court can check.

`build_report(ground_or_settings, sortie_id)` reads the sortie's record (the `sorties` row, its
mission, its site, `reports/<sortie>/sortie.json` written by `patrol.sortie.SortieRun`, and the
evidence it fed into the case record) and writes into `reports/<sortie>/`:

- `map.png`: the site (keep-in, exclusions), the planned path, the flown track, the ground
  actually imaged, evidence markers numbered as in the list;
- `report.html` (self-contained: images embedded) and `report.pdf` (CJK font embedded, via
  fpdf2 as the case documents are): figures, coverage imaged vs planned (`patrol.coverage`),
  timeline, anomalies (link gaps, fence breaches, failsafes), evidence with thumbnails and the
  cases they joined, the tlog's sha256 (checked against the file when it is still there);
- `report.json`: the same figures for scripts (`patrol sortie report --json`).

The report is linked from the cases it fed: an audit entry `case.sortie_report` on each case
(`case:<number>`) names the sortie and the sha256 of the HTML and PDF; the sortie's
`area_covered_m2` is set to the area imaged.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from patrol.coverage import Coverage, compute_coverage

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
THUMB_PX = 160
STATUS_ZH = {
    "planned": "已计划",
    "launching": "起飞准备",
    "flying": "执行中",
    "completed": "已完成",
    "aborted": "已中止",
    "lost": "失联/中断",
    "failed": "失败",
}
EVENT_ZH = {
    "status": "状态",
    "mode_changed": "模式切换",
    "armed_changed": "解锁/上锁",
    "took_off": "起飞",
    "landed": "降落",
    "mission_finished": "任务完成",
    "fence_breach": "越界告警",
    "failsafe": "失效保护",
    "link_lost": "链路中断",
    "link_regained": "链路恢复",
    "abort": "中止指令",
    "command_failed": "指令失败",
}
#: Events too frequent for a one-minute read; counted, not listed.
QUIET_EVENTS = ("waypoint_reached", "evidence")


class SortieReportError(ValueError):
    """The report cannot be made; the message names the sortie and what to do."""


@dataclass
class EvidenceLine:
    n: int
    id: str
    class_name: str
    confidence: float
    lat: float
    lon: float
    captured_at: str
    cases: list[dict[str, Any]] = field(default_factory=list)
    thumbnail: bytes | None = None


@dataclass
class SortieReport:
    """What the report says, and where its files are."""

    sortie: dict[str, Any]
    coverage: Coverage
    timeline: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    evidence: list[EvidenceLine]
    tlog: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sortie": self.sortie,
            "coverage": self.coverage.to_dict(),
            "timeline": self.timeline,
            "anomalies": self.anomalies,
            "evidence": [
                {k: v for k, v in e.__dict__.items() if k != "thumbnail"} for e in self.evidence
            ],
            "cases": sorted({c["case_id"] for e in self.evidence for c in e.cases}),
            "tlog": self.tlog,
            "files": self.files,
            "sha256": self.hashes,
        }


def local_time(iso: str | None) -> str:
    """An ISO UTC time as Beijing time, to the second."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


# -- gathering ---------------------------------------------------------------------------------


def _load(settings: Any, sessions: Any, sortie_id: str) -> tuple[Any, Any, Any, list[Any]]:
    from cases.models import MissionRecord, SiteRecord, Sortie
    from missions.items import MissionItem
    from missions.site import site_from_geojson
    from patrol.sortie import SortieResult

    with sessions() as session:
        row = session.get(Sortie, sortie_id)
        if row is None:
            raise SortieReportError(
                f"sortie {sortie_id!r} not found in the database; list the sorties with "
                "`patrol fleet status`"
            )
        mission = session.get(MissionRecord, row.mission_id) if row.mission_id else None
        site_row = session.get(SiteRecord, mission.site_id) if mission and mission.site_id else None
        session.expunge_all()
    path = settings.reports_dir / sortie_id / "sortie.json"
    if not path.is_file():
        raise SortieReportError(
            f"sortie {sortie_id} has no flight record ({path} is missing); reports are made "
            "for sorties flown by patrol (fleet, schedules, demo)"
        )
    if mission is None or site_row is None:
        raise SortieReportError(
            f"sortie {sortie_id}: its mission or site is missing from the database; the record "
            "is incomplete and no report can be made"
        )
    result = SortieResult.load(path)
    site = site_from_geojson(site_row.geojson)
    items = [MissionItem(**i) for i in (mission.plan or {}).get("items", [])]
    return row, result, site, items


def _evidence(
    settings: Any, sessions: Any, ids: list[str], suspects: list[dict[str, Any]]
) -> list[EvidenceLine]:
    from sqlalchemy import select

    from cases.models import Case, CaseEvidence, Evidence, EvidenceMedia, Media

    if not ids:
        return []
    order = {eid: n for n, eid in enumerate(ids)}
    lines: list[EvidenceLine] = []
    with sessions() as session:
        rows = session.scalars(select(Evidence).where(Evidence.id.in_(ids))).all()
        links = session.execute(
            select(CaseEvidence.evidence_id, Case.id, Case.number, Case.state)
            .join(Case, Case.id == CaseEvidence.case_id)
            .where(CaseEvidence.evidence_id.in_(ids))
        ).all()
        media = session.execute(
            select(EvidenceMedia.evidence_id, EvidenceMedia.position, Media.path)
            .join(Media, Media.sha256 == EvidenceMedia.sha256)
            .where(EvidenceMedia.evidence_id.in_(ids))
        ).all()
    cases: dict[str, list[dict[str, Any]]] = {}
    for eid, case_id, number, state in links:
        cases.setdefault(eid, []).append({"case_id": case_id, "number": number, "state": state})
    # The crop (position 1) reads best as a thumbnail; the full frame when there is none.
    best: dict[str, tuple[int, str]] = {}
    for eid, position, path in media:
        if eid not in best or (position == 1):
            best[eid] = (position, path)
    for row in sorted(rows, key=lambda r: order.get(r.id, 0)):
        thumb = None
        if row.id in best:
            path = Path(best[row.id][1])
            if not path.is_absolute():
                path = settings.media_dir / path
            thumb = _thumbnail(path)
        lines.append(
            EvidenceLine(
                n=len(lines) + 1,
                id=row.id,
                class_name=row.class_name,
                confidence=round(float(row.confidence), 3),
                lat=round(float(row.lat), 7),
                lon=round(float(row.lon), 7),
                captured_at=row.captured_at.isoformat(),
                cases=cases.get(row.id, []),
                thumbnail=thumb,
            )
        )
    missing = [s for s in suspects if s.get("evidence_id") not in {r.id for r in rows}]
    for s in missing:  # sent but not (yet) in the case record: listed, marked by no case
        lines.append(
            EvidenceLine(
                n=len(lines) + 1,
                id=str(s.get("evidence_id")),
                class_name=str(s.get("class")),
                confidence=float(s.get("confidence", 0.0)),
                lat=float(s.get("lat", 0.0)),
                lon=float(s.get("lon", 0.0)),
                captured_at="",
            )
        )
    return lines


def _thumbnail(path: Path) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.thumbnail((THUMB_PX, THUMB_PX))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=80)
            return buf.getvalue()
    except OSError:
        return None


def _timeline(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        if e["kind"] in QUIET_EVENTS:
            continue
        detail = e.get("detail", {})
        if e["kind"] == "status":
            text = f"{STATUS_ZH.get(detail.get('status'), detail.get('status'))}"
            if detail.get("reason"):
                text += f"（{detail['reason']}）"
        elif e["kind"] == "mode_changed":
            # "->", not an arrow: the PDF's font (WenQuanYi Micro Hei) has no U+2192.
            text = f"{detail.get('old_mode', '')} -> {detail.get('new_mode', '')}"
        elif e["kind"] == "armed_changed":
            text = "解锁 armed" if detail.get("armed") else "上锁 disarmed"
        else:
            text = ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, ""))
        out.append(
            {
                "time": e["time"],
                "local_time": local_time(e["time"]),
                "kind": e["kind"],
                "label": EVENT_ZH.get(e["kind"], e["kind"]),
                "text": text,
            }
        )
    return out


def _anomalies(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    open_gap: dict[str, Any] | None = None
    for e in events:
        kind, detail = e["kind"], e.get("detail", {})
        if kind == "link_lost":
            open_gap = {
                "kind": "link_gap",
                "label": "链路中断 link gap",
                "start": e["time"],
                "end": None,
                "gap_s": None,
                "text": "未恢复 not regained",
            }
            out.append(open_gap)
        elif kind == "link_regained" and open_gap is not None:
            open_gap["end"] = e["time"]
            open_gap["gap_s"] = detail.get("gap_s")
            open_gap["text"] = f"{detail.get('gap_s')} s 后恢复 regained"
            open_gap = None
        elif kind == "fence_breach":
            out.append(
                {
                    "kind": "fence_breach",
                    "label": "越界 fence breach",
                    "start": e["time"],
                    "text": f"{detail.get('breach_type', '')} (#{detail.get('breach_count', '')})",
                }
            )
        elif kind == "failsafe":
            out.append(
                {
                    "kind": "failsafe",
                    "label": "失效保护 failsafe",
                    "start": e["time"],
                    "text": str(detail.get("reason", "")),
                }
            )
    for a in out:
        a["local_time"] = local_time(a["start"])
    return out


def _tlog(result: Any) -> dict[str, Any]:
    path = Path(result.tlog) if result.tlog else None
    info: dict[str, Any] = {"path": result.tlog, "sha256": result.tlog_sha256, "verified": None}
    if path is not None and path.is_file():
        info["verified"] = hashlib.sha256(path.read_bytes()).hexdigest() == result.tlog_sha256
        info["size_bytes"] = path.stat().st_size
    return info


# -- drawing -----------------------------------------------------------------------------------


def _font_path() -> Path | None:
    from cases.documents import find_cjk_font
    from cases.errors import DocumentError

    try:
        return find_cjk_font()
    except DocumentError:
        return None


def _patch(poly: Any, **style: Any) -> Any:
    """A matplotlib patch of a polygon with its holes (imaged ground has gaps)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    rings = [np.asarray(poly.exterior.coords)[:, :2]]
    rings += [np.asarray(h.coords)[:, :2] for h in poly.interiors if len(h.coords) >= 4]
    vertices = np.concatenate(rings)
    codes = np.concatenate(
        [[MplPath.MOVETO] + [MplPath.LINETO] * (len(r) - 2) + [MplPath.CLOSEPOLY] for r in rings]
    )
    return PathPatch(MplPath(vertices, codes), **style)


def render_map(
    site: Any,
    items: list[Any],
    result: Any,
    geoms: dict[str, Any],
    evidence: list[EvidenceLine],
    out: Path,
) -> Path:
    """The report's map: site, plan, imaged ground, flown track, evidence markers (PNG).

    Drawn with matplotlib's object API (a `Figure` and its Agg canvas), not pyplot: reports of
    a fleet's sorties are made in their own threads at once, and pyplot's state is global."""
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    font = _font_path()
    text = FontProperties(fname=str(font)) if font is not None else FontProperties()
    small, title = text.copy(), text.copy()
    small.set_size(8)
    title.set_size(12)
    frame = site.frame
    fig = Figure(figsize=(8, 7), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for poly in shapely.get_parts(site.local_keep_in):
        ring = np.asarray(poly.exterior.coords)
        ax.fill(ring[:, 0], ring[:, 1], color="#eef7ea", edgecolor="#2a7a2a", lw=1.5)
    for poly in shapely.get_parts(geoms["imaged"]):
        # An intersection can leave empty parts and slivers; only areas are drawn.
        if poly.geom_type == "Polygon" and not poly.is_empty and poly.area > 0:
            ax.add_patch(_patch(poly, color="#7fc97f", alpha=0.45, lw=0))
    for poly in site.local_exclusions:
        ring = np.asarray(poly.exterior.coords)
        ax.fill(ring[:, 0], ring[:, 1], color="#f4c0c0", edgecolor="#b02020", lw=1.0)
    path = [(i.lon_deg, i.lat_deg) for i in items[1:] if i.has_position]
    if path:
        lon, lat = np.asarray(path).T
        x, y = frame.to_local(lon, lat)
        ax.plot(x, y, color="#1f4fbf", lw=0.9, ls="--", label="计划航线 plan")
    if result.track:
        lat_t = np.asarray([p[1] for p in result.track])
        lon_t = np.asarray([p[2] for p in result.track])
        x, y = frame.to_local(lon_t, lat_t)
        ax.plot(x, y, color="#e07000", lw=1.4, label="实际航迹 flown")
    for e in evidence:
        x, y = frame.to_local(e.lon, e.lat)
        ax.plot(x, y, marker="X", color="#c00000", ms=8, ls="none")
        ax.annotate(str(e.n), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.plot(0, 0, marker="^", color="black", ms=10, ls="none", label="起降点 launch")
    ax.fill([], [], color="#7fc97f", alpha=0.45, label="已成像 imaged")
    if evidence:
        ax.plot([], [], marker="X", color="#c00000", ls="none", label="证据 evidence")
    ax.set_aspect("equal")
    ax.set_xlabel("东 east (m)", fontproperties=text)
    ax.set_ylabel("北 north (m)", fontproperties=text)
    ax.set_title(f"{site.name} — {result.sortie_id}", fontproperties=title)
    ax.grid(True, lw=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=5, prop=small)
    fig.savefig(out, bbox_inches="tight")
    return out


# -- writing -----------------------------------------------------------------------------------


def _html(report: SortieReport, map_png: bytes) -> str:
    s, c = report.sortie, report.coverage
    e = html.escape

    def img(data: bytes, mime: str, alt: str, width: str = "") -> str:
        b64 = base64.b64encode(data).decode("ascii")
        w = f' style="width:{width}"' if width else ""
        return f'<img alt="{e(alt)}" src="data:{mime};base64,{b64}"{w}>'

    rows = [
        ("架次 sortie", s["sortie_id"]),
        ("状态 status", f"{STATUS_ZH.get(s['status'], s['status'])} ({s['status']})"),
        ("原因 reason", s.get("reason") or "—"),
        ("载具 vehicle", f"{s['vehicle_id']} ({s['vehicle_kind']})"),
        ("区域 site", f"{s['site_name']} ({s['site_id']})"),
        ("任务 mission", f"{s['mission_id']} · {s['pattern']}"),
        ("补飞 re-flies", s.get("replans") or "—"),
        ("开始 started (北京时间)", local_time(s.get("started_at"))),
        ("结束 ended (北京时间)", local_time(s.get("ended_at"))),
        ("飞行时间 flight time", f"{s['flight_time_s']:.0f} s"),
        ("飞行距离 distance", f"{s['distance_m']:.0f} m"),
        ("照片 photos", str(c.frames)),
    ]
    cov_rows = [
        ("巡查区面积 survey area", f"{c.survey_area_m2:,.0f} m²"),
        ("计划覆盖 planned", f"{c.planned_m2:,.0f} m² ({c.planned_pct:.1f} %)"),
        ("实际成像 imaged", f"{c.imaged_m2:,.0f} m² ({c.imaged_pct:.1f} %)"),
        ("计划内已成像 imaged of planned", f"{c.imaged_of_planned_pct:.1f} %"),
    ]
    t = report.tlog
    verified = {True: "一致 matches the file", False: "不一致 DOES NOT match", None: "文件不在"}
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>巡查报告 {e(s['sortie_id'])}</title>",
        "<style>body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;"
        "margin:2em;max-width:60em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}"
        "th{background:#f2f2f2}.bad{color:#b00000;font-weight:bold}</style></head><body>",
        f"<h1>巡查任务报告 Mission report — {e(s['sortie_id'])}</h1>",
        "<table>",
        *(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows),
        "</table>",
        "<h2>地图 Map</h2>",
        img(map_png, "image/png", "map", "100%"),
        "<h2>覆盖 Coverage</h2><table>",
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in cov_rows),
        "</table>",
        "<h2>异常 Anomalies</h2>",
    ]
    if report.anomalies:
        parts.append("<table><tr><th>时间 time</th><th>类型 kind</th><th>说明</th></tr>")
        parts += [
            f"<tr><td>{e(a['local_time'])}</td><td class='bad'>{e(a['label'])}</td>"
            f"<td>{e(str(a['text']))}</td></tr>"
            for a in report.anomalies
        ]
        parts.append("</table>")
    else:
        parts.append("<p>无 none</p>")
    parts.append("<h2>时间线 Timeline</h2><table><tr><th>时间</th><th>事件</th><th>说明</th></tr>")
    parts += [
        f"<tr><td>{e(x['local_time'])}</td><td>{e(x['label'])}</td><td>{e(x['text'])}</td></tr>"
        for x in report.timeline
    ]
    parts.append("</table>")
    parts.append(f"<h2>证据 Evidence ({len(report.evidence)})</h2>")
    if report.evidence:
        parts.append(
            "<table><tr><th>#</th><th>图像</th><th>类别 class</th><th>置信度</th>"
            "<th>位置 lat, lon</th><th>时间</th><th>案件 cases</th><th>证据编号 id</th></tr>"
        )
        for ev in report.evidence:
            thumb = img(ev.thumbnail, "image/jpeg", ev.id) if ev.thumbnail else "—"
            cases = ", ".join(f"{c['number']} ({c['state']})" for c in ev.cases) or "未入案"
            parts.append(
                f"<tr><td>{ev.n}</td><td>{thumb}</td><td>{e(ev.class_name)}</td>"
                f"<td>{ev.confidence:.2f}</td><td>{ev.lat:.6f}, {ev.lon:.6f}</td>"
                f"<td>{e(local_time(ev.captured_at))}</td><td>{e(cases)}</td>"
                f"<td><code>{e(ev.id)}</code></td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>无 none</p>")
    parts += [
        "<h2>飞行日志 Telemetry log</h2><table>",
        f"<tr><th>文件 tlog</th><td>{e(str(t.get('path') or ''))}</td></tr>",
        f"<tr><th>SHA-256</th><td><code>{e(t.get('sha256') or '')}</code></td></tr>",
        f"<tr><th>校验 check</th><td>{e(verified[t.get('verified')])}</td></tr>",
        "</table>",
        f"<p>生成时间 generated {e(local_time(s['generated_at']))}（北京时间）</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _pdf(report: SortieReport, map_path: Path) -> bytes:
    from fpdf import FPDF

    from cases.documents import base_font

    font = _font_path()
    if font is None:
        raise SortieReportError(
            "no Chinese font for the PDF report; install one from the package registry: "
            "apt-get install fonts-wqy-microhei"
        )
    s, c = report.sortie, report.coverage
    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.fromisoformat(s["generated_at"]))
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font("cjk", fname=str(base_font(font)))
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.multi_cell(0, 9, f"巡查任务报告 {s['sortie_id']}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)

    def line(text: str) -> None:
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    line(
        f"状态 {STATUS_ZH.get(s['status'], s['status'])} ({s['status']})"
        + (f"：{s['reason']}" if s.get("reason") else "")
    )
    line(f"载具 {s['vehicle_id']} ({s['vehicle_kind']})    区域 {s['site_name']} ({s['site_id']})")
    line(
        f"任务 {s['mission_id']} · {s['pattern']}"
        + (f"    补飞 {s['replans']}" if s.get("replans") else "")
    )
    line(
        f"开始 {local_time(s.get('started_at'))}    "
        f"结束 {local_time(s.get('ended_at'))}（北京时间）"
    )
    line(f"飞行时间 {s['flight_time_s']:.0f} s    距离 {s['distance_m']:.0f} m    照片 {c.frames}")
    line(
        f"覆盖：巡查区 {c.survey_area_m2:,.0f} m²；计划 {c.planned_pct:.1f} %；"
        f"实际成像 {c.imaged_pct:.1f} %；计划内已成像 {c.imaged_of_planned_pct:.1f} %"
    )
    pdf.image(str(map_path), w=150)
    pdf.set_font("cjk", size=12)
    line("异常 Anomalies")
    pdf.set_font("cjk", size=9)
    for a in report.anomalies or [{"local_time": "", "label": "无", "text": ""}]:
        line(f"{a['local_time']}  {a['label']}  {a['text']}")
    pdf.set_font("cjk", size=12)
    line("时间线 Timeline")
    pdf.set_font("cjk", size=9)
    for x in report.timeline:
        line(f"{x['local_time']}  {x['label']}  {x['text']}")
    pdf.set_font("cjk", size=12)
    line(f"证据 Evidence ({len(report.evidence)})")
    pdf.set_font("cjk", size=9)
    with tempfile.TemporaryDirectory() as tmp:
        for ev in report.evidence:
            if pdf.will_page_break(24):
                pdf.add_page()
            y = pdf.get_y()
            if ev.thumbnail:
                thumb = Path(tmp) / f"{ev.n}.jpg"
                thumb.write_bytes(ev.thumbnail)
                pdf.image(str(thumb), x=15, y=y, h=22)
            pdf.set_xy(45, y)
            cases = ", ".join(f"{c['number']}" for c in ev.cases) or "未入案"
            pdf.multi_cell(
                0,
                5,
                f"#{ev.n} {ev.class_name}  置信度 {ev.confidence:.2f}\n"
                f"{ev.lat:.6f}, {ev.lon:.6f}  {local_time(ev.captured_at)}\n"
                f"案件 {cases}\n{ev.id}",
                new_x="LMARGIN",
                new_y="NEXT",
            )
            pdf.set_y(max(pdf.get_y(), y + 24))
    pdf.set_font("cjk", size=12)
    line("飞行日志 Telemetry log")
    pdf.set_font("cjk", size=8)
    t = report.tlog
    line(f"{t.get('path') or ''}")
    line(f"SHA-256 {t.get('sha256') or ''}  校验 {t.get('verified')}")
    return bytes(pdf.output())


def reports_for(settings: Any, sortie_ids: list[str]) -> list[dict[str, Any]]:
    """The mission reports written for these sorties (`patrol case show` lists them: a case
    links to the reports of the sorties whose evidence it holds)."""
    out = []
    for sortie_id in sorted(set(sortie_ids)):
        folder = settings.reports_dir / sortie_id
        files = {kind: folder / f"report.{kind}" for kind in ("html", "pdf")}
        out.append(
            {
                "sortie_id": sortie_id,
                **{k: str(p) if p.is_file() else None for k, p in files.items()},
                "command": f"patrol sortie report {sortie_id}",
            }
        )
    return out


def build_report(ground: Any, sortie_id: str, out_dir: Path | None = None) -> SortieReport:
    """Write the report of `sortie_id` (HTML, PDF, map, JSON) and link it from its cases.

    `ground` is a started `patrol.ground.Ground` (its database is enough)."""
    from cases import audit
    from cases.models import Sortie, utcnow
    from missions.camera import CameraModel

    settings, sessions = ground.settings, ground.sessions
    row, result, site, items = _load(settings, sessions, sortie_id)
    out = Path(out_dir) if out_dir is not None else settings.reports_dir / sortie_id
    out.mkdir(parents=True, exist_ok=True)
    camera = CameraModel(**result.camera) if result.camera else None
    if camera is None:
        from patrol.sortie import default_camera

        camera = default_camera()
    margin = float(result.plan_summary.get("margin_m", 5.0)) if result.plan_summary else 5.0
    coverage, geoms = compute_coverage(
        site, items, result.footprints, camera, result.altitude_agl_m or 50.0, margin
    )
    evidence = _evidence(settings, sessions, result.evidence_ids, result.suspects)
    sortie = {
        "sortie_id": result.sortie_id,
        "status": row.status,
        "reason": result.reason,
        "vehicle_id": row.vehicle_id,
        "vehicle_kind": result.vehicle_kind,
        "site_id": site.id,
        "site_name": site.name,
        "mission_id": row.mission_id,
        "pattern": result.pattern,
        "replans": result.replans,
        "started_at": row.started_at.isoformat() if row.started_at else result.started_at,
        "ended_at": row.ended_at.isoformat() if row.ended_at else result.ended_at,
        "flight_time_s": float(result.flight_time_s),
        "distance_m": float(result.distance_m),
        "generated_at": utcnow().isoformat(),
    }
    report = SortieReport(
        sortie=sortie,
        coverage=coverage,
        timeline=_timeline(result.events),
        anomalies=_anomalies(result.events),
        evidence=evidence,
        tlog=_tlog(result),
    )
    map_path = render_map(site, items, result, geoms, evidence, out / "map.png")
    html_text = _html(report, map_path.read_bytes())
    html_path = out / "report.html"
    html_path.write_text(html_text, encoding="utf-8")
    pdf_path = out / "report.pdf"
    pdf_path.write_bytes(_pdf(report, map_path))
    report.files = {
        "html": str(html_path),
        "pdf": str(pdf_path),
        "map": str(map_path),
        "json": str(out / "report.json"),
    }
    report.hashes = {
        "html": hashlib.sha256(html_path.read_bytes()).hexdigest(),
        "pdf": hashlib.sha256(pdf_path.read_bytes()).hexdigest(),
    }
    (out / "report.json").write_text(
        json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    case_numbers = sorted({c["number"] for e in evidence for c in e.cases})
    with ground.audit_lock, sessions() as session:
        stored = session.get(Sortie, sortie_id)
        if stored is not None:
            stored.area_covered_m2 = coverage.imaged_m2
        link = {"sortie_id": sortie_id, **{f"{k}_sha256": v for k, v in report.hashes.items()}}
        audit.append(
            session,
            ground.actor,
            "sortie.report",
            f"sortie:{sortie_id}",
            {**link, "coverage_pct": round(coverage.imaged_pct, 2), "cases": case_numbers},
        )
        for number in case_numbers:
            audit.append(
                session,
                ground.actor,
                "case.sortie_report",
                f"case:{number}",
                {**link, "html": str(html_path), "pdf": str(pdf_path)},
            )
        session.commit()
    return report


__all__ = ["SortieReport", "SortieReportError", "build_report", "reports_for"]
