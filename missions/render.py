"""A PNG map of a site and a mission path (matplotlib, Agg: no display needed).

Drawn in the site's local metric frame so distances look right: keep-in green, exclusion
zones red, the flown path blue with photo legs thicker, launch and rally points marked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

from missions.items import (
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    NAV_POSITION_COMMANDS,
    MissionItem,
)
from missions.site import Site


def _poly_xy(geom: shapely.Geometry) -> list[np.ndarray]:
    out = []
    for poly in shapely.get_parts(geom):
        out.append(np.asarray(poly.exterior.coords))
    return out


def render_map(
    site: Site, items: list[MissionItem] | None, out: str | Path, dpi: int = 120
) -> Path:
    """Write a PNG of site (and the items' path, if given) to out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = site.frame
    fig, ax = plt.subplots(figsize=(8, 8), dpi=dpi)
    try:
        for ring in _poly_xy(site.local_keep_in):
            ax.fill(ring[:, 0], ring[:, 1], color="#d8f0d0", edgecolor="#2a7a2a", lw=1.5)
        for poly in site.local_exclusions:
            ring = np.asarray(poly.exterior.coords)
            ax.fill(ring[:, 0], ring[:, 1], color="#f4c0c0", edgecolor="#b02020", lw=1.2)
        if items:
            home = frame.to_local(items[0].lon_deg, items[0].lat_deg)
            pos = home
            on = False
            for it in items[1:]:
                if it.command == MAV_CMD_DO_SET_CAM_TRIGG_DIST:
                    on = it.param1 > 0
                    continue
                if it.command == MAV_CMD_NAV_RETURN_TO_LAUNCH:
                    nxt = home
                elif it.command in NAV_POSITION_COMMANDS and it.has_position:
                    nxt = frame.to_local(it.lon_deg, it.lat_deg)
                else:
                    continue
                ax.plot(
                    [pos[0], nxt[0]], [pos[1], nxt[1]],
                    color="#1f4fbf" if on else "#7f9fdf", lw=1.8 if on else 0.8,
                )  # fmt: skip
                pos = nxt
        ax.plot(0, 0, marker="^", color="black", ms=10, label="launch")
        for lon, lat in site.rally:
            x, y = frame.to_local(lon, lat)
            ax.plot(x, y, marker="s", color="#c08000", ms=8)
        for p in site.pois:
            x, y = frame.to_local(p.lon, p.lat)
            ax.plot(x, y, marker="o", color="#6020a0", ms=6)
        ax.set_aspect("equal")
        ax.set_xlabel("east of launch (m)")
        ax.set_ylabel("north of launch (m)")
        ax.set_title(site.id)
        ax.grid(True, lw=0.3)
        path = Path(out)
        fig.savefig(path, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
