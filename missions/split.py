"""Split one survey among several vehicles so that their flight times are balanced.

The legs of a single survey, in flying order, are cut into N consecutive runs; the cut points
minimise the longest flight (each run costs the way out from launch, its legs and turns, and
the way back). A binary search over that longest time with a greedy fill finds them.
"""

from __future__ import annotations

import numpy as np

from missions.camera import CameraModel
from missions.errors import PlanError
from missions.plan import MissionPlan, VehicleProfile
from missions.site import Site
from missions.survey import SurveyLayout, build_survey, layout_survey


def _runs(lay: SurveyLayout, n: int, speed: float, turn_s: float) -> list[range]:
    st = np.asarray(lay.ext_start)
    en = np.asarray(lay.ext_end)
    legs = np.hypot(*(en - st).T) / speed + 2 * turn_s
    conn = np.hypot(*(st[1:] - en[:-1]).T) / speed  # straight-line estimate of the turns
    out_t = np.hypot(*st.T) / speed
    back_t = np.hypot(*en.T) / speed

    def cost(i: int, j: int) -> float:  # legs i..j inclusive
        return float(out_t[i] + legs[i : j + 1].sum() + conn[i:j].sum() + back_t[j])

    def fill(limit: float) -> list[range] | None:
        runs: list[range] = []
        i = 0
        m = len(legs)
        while i < m:
            j = i
            if cost(i, i) > limit:
                return None
            while j + 1 < m and cost(i, j + 1) <= limit:
                j += 1
            runs.append(range(i, j + 1))
            i = j + 1
            if len(runs) > n:
                return None
        return runs

    lo, hi = 0.0, cost(0, len(legs) - 1)
    best = fill(hi)
    for _ in range(40):
        mid = (lo + hi) / 2
        runs = fill(mid)
        if runs is not None:
            best, hi = runs, mid
        else:
            lo = mid
    assert best is not None
    return best


def split_survey(
    site: Site,
    camera: CameraModel,
    vehicles: int,
    altitude_agl_m: float = 50,
    front_overlap: float = 0.7,
    side_overlap: float = 0.6,
    speed_m_s: float = 10.0,
    angle_deg: float | None = None,
    margin_m: float = 5.0,
    profile: VehicleProfile | None = None,
    enforce_endurance: bool = True,
) -> list[MissionPlan]:
    """One plan per vehicle (all from the site's launch point), flight times balanced."""
    if not isinstance(vehicles, int) or not (1 <= vehicles <= 32):
        raise PlanError(f"vehicles={vehicles!r} must be an integer from 1 to 32")
    profile = profile or VehicleProfile.for_kind("copter")
    lay = layout_survey(
        site, camera, altitude_agl_m, front_overlap, side_overlap, speed_m_s, angle_deg,
        margin_m, 0.0, profile,
    )  # fmt: skip
    if len(lay.legs) < vehicles:
        raise PlanError(
            f"vehicles={vehicles}: the survey has only {len(lay.legs)} legs; use fewer vehicles"
        )
    runs = _runs(lay, vehicles, speed_m_s, profile.turn_s)
    plans = [
        build_survey(
            site, lay, run, altitude_agl_m, speed_m_s, profile, enforce_endurance,
            pattern=f"survey {k + 1}/{len(runs)}",
        )
        for k, run in enumerate(runs)
    ]  # fmt: skip
    return plans
