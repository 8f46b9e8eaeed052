"""The HTML report of one scenario run: map, event timeline, expectations with measured values.

One self-contained file (the map is inline SVG, no scripts, no network), readable in any
browser on an offline machine and attachable to a CI run. The map draws the site (keep-in
area, exclusion zones), each vehicle's planned path and flown track, the planted violations
and distractors, the suspects found (matched or false), and where each fault struck.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from patrol.scenarios.expectations import Verdict
from patrol.scenarios.model import DEFAULT_FOUND_WITHIN_M, Scenario
from patrol.scenarios.record import RunRecord, ground_distance_m

_COLOURS = ("#1f6fd1", "#8a3ffc", "#009d9a", "#b28600", "#d12771", "#6f4e37", "#198038", "#444")
_W = 760.0
_PAD = 20.0


class _Map:
    """Local metres of the site frame -> SVG pixels (north up)."""

    def __init__(self, site: Any, points: list[tuple[float, float]]) -> None:
        self.frame = site.frame
        xmin, ymin, xmax, ymax = site.local_keep_in.bounds
        for lon, lat in points:
            x, y = self.frame.to_local(lon, lat)
            xmin, xmax = min(xmin, float(x)), max(xmax, float(x))
            ymin, ymax = min(ymin, float(y)), max(ymax, float(y))
        span = max(xmax - xmin, ymax - ymin, 1.0)
        self.scale = (_W - 2 * _PAD) / span
        self.x0, self.y1 = xmin, ymax
        self.height = (ymax - ymin) * self.scale + 2 * _PAD
        self.width = (xmax - xmin) * self.scale + 2 * _PAD

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return _PAD + (x - self.x0) * self.scale, _PAD + (self.y1 - y) * self.scale

    def lonlat(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self.frame.to_local(lon, lat)
        return self.xy(float(x), float(y))

    def ring(self, coords: Any) -> str:
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in (self.xy(x, y) for x, y in coords))

    def line(self, lonlats: list[tuple[float, float]]) -> str:
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in (self.lonlat(lo, la) for lo, la in lonlats))


def _polygons(geom: Any) -> list[Any]:
    return list(geom.geoms) if hasattr(geom, "geoms") else [geom]


def map_svg(scenario: Scenario, record: RunRecord) -> str:
    """The map as an SVG document."""
    points: list[tuple[float, float]] = []
    for v in record.vehicles.values():
        points.extend((lo, la) for _, lo, la in v.track)
    m = _Map(scenario.site, points)
    rows = 2 + (len(record.vehicles) + 2) // 3
    total = m.height + 16 * rows + 12  # the legend is a band under the map, never over it
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{m.width:.0f}" height="{total:.0f}" '
        f'viewBox="0 0 {m.width:.0f} {total:.0f}" font-family="sans-serif" font-size="11">',
        f'<rect width="{m.width:.0f}" height="{m.height:.0f}" fill="#f4f1e8"/>',
    ]
    for poly in _polygons(scenario.site.local_keep_in):
        out.append(
            f'<polygon points="{m.ring(poly.exterior.coords)}" fill="#e3efd9" stroke="#2e7d32" '
            'stroke-width="2"><title>keep-in 巡查区域</title></polygon>'
        )
    for i, excl in enumerate(scenario.site.local_exclusions):
        name = html.escape(scenario.site.exclusion_name(i))
        out.append(
            f'<polygon points="{m.ring(excl.exterior.coords)}" fill="#f6d5d5" stroke="#c62828" '
            f'stroke-width="1.5"><title>exclusion 禁飞区: {name}</title></polygon>'
        )
    for n, (vid, v) in enumerate(record.vehicles.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        if v.planned_path:
            out.append(
                f'<polyline points="{m.line(v.planned_path)}" fill="none" stroke="{colour}" '
                f'stroke-width="1" stroke-dasharray="4 3" opacity="0.7"><title>{vid} plan 计划航线'
                "</title></polyline>"
            )
        if v.track:
            track = [(lo, la) for _, lo, la in v.track]
            out.append(
                f'<polyline points="{m.line(track)}" fill="none" stroke="{colour}" '
                f'stroke-width="2.2"><title>{vid} flown 实际航迹</title></polyline>'
            )
    within = DEFAULT_FOUND_WITHIN_M
    for e in scenario.expectations:
        if e.kind == "planted_found" and "within_m" in e.args:
            within = float(e.args["within_m"])
    for p in record.planted:
        x, y = m.lonlat(p.lon, p.lat)
        if p.is_violation:
            found = any(
                s.class_name == p.class_name
                and ground_distance_m(p.lat, p.lon, s.lat, s.lon) <= within
                for s in record.suspects
            )
            fill = "#d32f2f" if found else "#ffffff"
            out.append(
                f'<rect x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" fill="{fill}" '
                f'stroke="#d32f2f" stroke-width="2"><title>planted 预置违法 {p.id} '
                f"{p.class_name} ({'found' if found else 'MISSED'})</title></rect>"
            )
        else:
            out.append(
                f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="#9e9e9e">'
                f"<title>distractor 干扰物 {p.id} {p.class_name}</title></rect>"
            )
    for s in record.suspects:
        x, y = m.lonlat(s.lon, s.lat)
        true = any(
            p.class_name == s.class_name and ground_distance_m(p.lat, p.lon, s.lat, s.lon) <= within
            for p in record.violations
        )
        colour = "#2e7d32" if true else "#ef6c00"
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}" stroke="#fff">'
            f"<title>suspect 疑似违法 {s.class_name} {s.confidence:.2f} by {s.vehicle}"
            f"{'' if true else ' (false)'}</title></circle>"
        )
    for entry in record.timeline:
        if entry.kind != "fault":
            continue
        hit = record.vehicles.get(entry.vehicle)
        if hit is None or not hit.track:
            continue
        _t, lon, lat = min(hit.track, key=lambda p: abs(p[0] - entry.t_s))
        x, y = m.lonlat(lon, lat)
        out.append(
            f'<path d="M{x:.1f},{y - 9:.1f} L{x + 8:.1f},{y + 6:.1f} L{x - 8:.1f},{y + 6:.1f} Z" '
            f'fill="#ffd600" stroke="#000"><title>fault 故障 t={entry.t_s:.0f} s: '
            f"{html.escape(entry.text)}</title></path>"
        )
    legend = [
        ("#2e7d32", "keep-in 巡查区域"),
        ("#c62828", "exclusion 禁飞区"),
        ("#d32f2f", "planted 预置违法 (hollow: missed)"),
        ("#2e7d32", "suspect found 正确发现"),
        ("#ef6c00", "false suspect 误报"),
        ("#ffd600", "fault 故障"),
    ]
    for n, vid in enumerate(record.vehicles):
        legend.append((_COLOURS[n % len(_COLOURS)], f"{vid}: track 航迹 (plan dashed 计划虚线)"))
    for i, (colour, label) in enumerate(legend):
        x = 8 + (i % 3) * 240
        y = m.height + 16 + 16 * (i // 3)
        out.append(
            f'<rect x="{x}" y="{y - 8:.0f}" width="9" height="9" fill="{colour}"/>'
            f'<text x="{x + 13}" y="{y:.0f}">{html.escape(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f0f0f0}.pass{color:#1b5e20;font-weight:bold}
.fail{color:#b71c1c;font-weight:bold}.muted{color:#666}
"""


def render_html(
    scenario: Scenario, record: RunRecord, verdicts: list[Verdict], error: str = ""
) -> str:
    """The report page."""
    passed = not error and all(v.passed for v in verdicts)
    status = (
        '<span class="pass">通过 PASSED</span>'
        if passed
        else '<span class="fail">未通过 FAILED</span>'
    )
    rows = []
    for v in verdicts:
        cls, word = ("pass", "通过 pass") if v.passed else ("fail", "失败 FAIL")
        rows.append(
            f"<tr><td><code>{html.escape(v.key)}</code></td><td class={cls}>{word}</td>"
            f"<td>{html.escape(v.threshold)}</td><td>{html.escape(v.measured)}</td></tr>"
        )
    events = [
        f"<tr><td>{e.t_s:.1f}</td><td>{html.escape(e.vehicle)}</td><td>{html.escape(e.kind)}"
        f"</td><td>{html.escape(e.text)}</td></tr>"
        for e in sorted(record.timeline, key=lambda e: e.t_s)
    ]
    vehicles = [
        f"<tr><td>{html.escape(v.id)}</td><td>{v.kind}</td><td>{v.backend}</td>"
        f"<td>{len(v.track)}</td><td>{v.frames}</td><td>{html.escape(v.failsafe_reason) or '—'}"
        f"</td><td>{html.escape(v.error) or '—'}</td></tr>"
        for v in record.vehicles.values()
    ]
    err = f'<p class="fail">运行错误 run error: {html.escape(error)}</p>' if error else ""
    figures = {
        "planted violations 预置违法": len(record.violations),
        "suspects 疑似违法": len(record.suspects),
        "evidence sent / stored 证据": f"{record.evidence_submitted} / {record.evidence_stored}",
        "cases opened 立案线索": record.cases_opened,
        "audit 全过程记录": (
            "—"
            if record.audit_ok is None
            else ("verifies 校验通过" if record.audit_ok else "BROKEN")
        ),
        "wall / CPU time": f"{record.wall_s:.1f} s / {record.cpu_s:.1f} s",
    }
    fig_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in figures.items()
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{html.escape(scenario.name)} — 仿真场景报告</title><style>{_CSS}</style></head><body>
<h1>{html.escape(scenario.name)} {status}</h1>
<p class="muted">{html.escape(str(scenario.path))} · site {html.escape(scenario.site.id)} ·
backend {html.escape(record.backend)} · seed {record.seed}</p>
<p>{html.escape(scenario.description)}</p>{err}
<h2>预期 Expectations</h2>
<table><tr><th>key</th><th>result</th><th>threshold 阈值</th><th>measured 实测</th></tr>
{"".join(rows)}</table>
<h2>地图 Map</h2>
{map_svg(scenario, record)}
<h2>概况 Figures</h2><table>{fig_rows}</table>
<h2>载具 Vehicles</h2>
<table><tr><th>id</th><th>kind</th><th>backend</th><th>track points</th><th>frames</th>
<th>failsafe</th><th>error</th></tr>{"".join(vehicles)}</table>
<h2>事件时间线 Event timeline (simulated seconds after arming)</h2>
<table><tr><th>t (s)</th><th>vehicle</th><th>event</th><th>detail</th></tr>{"".join(events)}</table>
</body></html>
"""


def write_report(
    directory: str | Path,
    scenario: Scenario,
    record: RunRecord,
    verdicts: list[Verdict],
    error: str = "",
) -> Path:
    """Write `<dir>/<scenario>/index.html` (and `result.json`); returns the HTML path."""
    folder = Path(directory) / scenario.slug
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "index.html"
    page.write_text(render_html(scenario, record, verdicts, error), encoding="utf-8")
    result = {
        "scenario": str(scenario.path),
        "name": scenario.name,
        "passed": not error and all(v.passed for v in verdicts),
        "error": error,
        "expectations": [v.to_dict() for v in verdicts],
        "timeline": [e.to_dict() for e in record.timeline],
        "evidence_stored": record.evidence_stored,
        "cases_opened": record.cases_opened,
        "suspects": len(record.suspects),
        "wall_s": record.wall_s,
        "cpu_s": record.cpu_s,
    }
    (folder / "result.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return page
