"""Mission Planner's ``.waypoints`` text format (header ``QGC WPL 110``), tab separated.

Columns: index, current, frame, command, param1-4, latitude, longitude, altitude, autocontinue.
Item 0 is home. Positions are written with 8 decimals and parameters with Python's shortest
exact float text, so reading a file back gives the very same items.
"""

from __future__ import annotations

import math

from missions.errors import FormatError
from missions.items import MissionItem

HEADER = "QGC WPL 110"


def _num(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if v == int(v) and abs(v) < 1e15:
        return f"{v:.6f}"
    return repr(float(v))


def dumps_wpl(items: list[MissionItem]) -> str:
    lines = [HEADER]
    for it in items:
        if it.mission_type != 0:
            continue
        lines.append(
            "\t".join(
                [
                    str(it.seq),
                    str(it.current),
                    str(it.frame),
                    str(it.command),
                    _num(it.param1),
                    _num(it.param2),
                    _num(it.param3),
                    _num(it.param4),
                    f"{it.lat_deg:.8f}",
                    f"{it.lon_deg:.8f}",
                    f"{it.alt_m:.6f}",
                    str(it.autocontinue),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def loads_wpl(text: str) -> list[MissionItem]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("QGC WPL"):
        raise FormatError("waypoints: the first line must be 'QGC WPL 110'")
    if lines[0].split()[-1] != "110":
        raise FormatError(f"waypoints: version {lines[0].split()[-1]!r} is not supported (110)")
    items: list[MissionItem] = []
    for n, line in enumerate(lines[1:], start=2):
        cols = line.replace(",", "\t").split()
        if len(cols) != 12:
            raise FormatError(f"waypoints line {n}: expected 12 columns, found {len(cols)}")
        try:
            ints = [int(float(c)) for c in (cols[0], cols[1], cols[2], cols[3], cols[11])]
            fl = [float(c) for c in cols[4:11]]
        except ValueError:
            raise FormatError(f"waypoints line {n}: {line.strip()!r} has a non-number") from None
        seq, current, frame, command, autocontinue = ints
        if seq != len(items):
            raise FormatError(f"waypoints line {n}: index {seq} should be {len(items)}")
        items.append(
            MissionItem(
                seq=seq,
                frame=frame,
                command=command,
                current=current,
                autocontinue=autocontinue,
                param1=fl[0],
                param2=fl[1],
                param3=fl[2],
                param4=fl[3],
                lat_deg=fl[4],
                lon_deg=fl[5],
                alt_m=fl[6],
            )
        )
    if not items:
        raise FormatError("waypoints: the file has no items (not even home)")
    return items
