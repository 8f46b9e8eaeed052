"""Judge a run: each expectation of the scenario against what the run measured.

A :class:`Verdict` carries the expectation's key path in the file (``expect[2].inside_fence``),
its threshold and the measured value in words, so a failure reads by itself:
``expect[0].planted_found: expected 3 of 3 planted violations found within 10 m, measured
2 of 3 (missed p001 waste_dumping, nearest suspect 23.4 m)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from patrol.scenarios.model import DEFAULT_FOUND_WITHIN_M, Expectation, Scenario
from patrol.scenarios.record import RunRecord, VehicleRecord, ground_distance_m


@dataclass
class Verdict:
    key: str
    kind: str
    passed: bool
    threshold: str
    measured: str
    value: float | int | str | bool | None = None

    @property
    def message(self) -> str:
        state = "passed" if self.passed else "FAILED"
        return f"{self.key} {state}: expected {self.threshold}; measured {self.measured}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def evaluate(scenario: Scenario, record: RunRecord) -> list[Verdict]:
    """One verdict per expectation, in file order."""
    return [_EVALUATORS[e.kind](scenario, record, e) for e in scenario.expectations]


def _within_m(scenario: Scenario) -> float:
    for e in scenario.expectations:
        if e.kind == "planted_found" and "within_m" in e.args:
            return float(e.args["within_m"])
    return DEFAULT_FOUND_WITHIN_M


def _planted_found(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    within = float(e.args.get("within_m", DEFAULT_FOUND_WITHIN_M))
    fraction = float(e.args.get("min_fraction", 1.0))
    planted = record.violations
    missed: list[str] = []
    for p in planted:
        same = [s for s in record.suspects if s.class_name == p.class_name]
        nearest = min(
            (ground_distance_m(p.lat, p.lon, s.lat, s.lon) for s in same), default=float("inf")
        )
        if nearest > within:
            near = "no suspect of that class" if not same else f"nearest suspect {nearest:.1f} m"
            missed.append(f"{p.id} {p.class_name}, {near}")
    found = len(planted) - len(missed)
    need = _ceil(fraction * len(planted))
    if fraction >= 1.0 and len(planted) == 1:
        threshold = f"the 1 planted violation found within {within:g} m"
    elif fraction >= 1.0:
        threshold = f"all {len(planted)} planted violations found within {within:g} m"
    else:
        threshold = (
            f"at least {need} of {len(planted)} planted violations ({fraction:.0%}) found "
            f"within {within:g} m"
        )
    measured = f"{found} of {len(planted)}"
    if missed:
        measured += " (missed " + "; ".join(missed[:4]) + ("; ..." if len(missed) > 4 else "") + ")"
    return Verdict(e.key, e.kind, found >= need, threshold, measured, found)


def _ceil(x: float) -> int:
    n = int(x)
    return n if n >= x - 1e-9 else n + 1


def _false_suspects(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    within = _within_m(scenario)
    limit = int(e.args["max"])
    false = [
        s
        for s in record.suspects
        if not any(
            p.class_name == s.class_name and ground_distance_m(p.lat, p.lon, s.lat, s.lon) <= within
            for p in record.violations
        )
    ]
    measured = f"{len(false)} of {len(record.suspects)} suspects match no planted violation"
    if false:
        kinds = sorted({s.class_name for s in false})
        measured += f" ({', '.join(kinds)})"
    threshold = f"at most {limit} false suspected violations (not within {within:g} m of one)"
    return Verdict(e.key, e.kind, len(false) <= limit, threshold, measured, len(false))


def _vehicles(record: RunRecord, e: Expectation) -> list[VehicleRecord]:
    wanted = e.args.get("vehicle")
    return [v for v in record.vehicles.values() if wanted is None or v.id == wanted]


def outside_fence_m(site: Any, lon: float, lat: float) -> float:
    """How far a position lies outside the fence: beyond the keep-in area, or inside an
    exclusion zone (its depth into it); 0 inside the allowed area."""
    from shapely.geometry import Point

    x, y = site.frame.to_local(lon, lat)
    pt = Point(float(x), float(y))
    worst = float(site.local_keep_in.distance(pt))
    for excl in site.local_exclusions:
        if excl.contains(pt):
            worst = max(worst, float(excl.exterior.distance(pt)))
    return worst


def _inside_fence(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    tolerance = float(e.args.get("tolerance_m", 0.0))
    worst, where = 0.0, ""
    points = 0
    for v in _vehicles(record, e):
        for t, lon, lat in v.track:
            points += 1
            d = outside_fence_m(scenario.site, lon, lat)
            if d > worst:
                worst, where = d, f"{v.id} at t={t:.0f} s"
    threshold = (
        "every flown position inside the fence"
        if tolerance == 0
        else f"no flown position more than {tolerance:g} m outside the fence"
    )
    if points == 0:
        return Verdict(e.key, e.kind, False, threshold, "no track was recorded", None)
    measured = (
        f"all {points} positions inside"
        if worst == 0
        else f"{worst:.1f} m outside at worst ({where})"
    )
    return Verdict(e.key, e.kind, worst <= tolerance, threshold, measured, round(worst, 2))


def _lands_after_failsafe(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    limit = float(e.args["within_s"])
    threshold = f"landed within {limit:g} s (simulated) of the first failsafe"
    parts: list[str] = []
    ok, worst = True, 0.0
    for v in _vehicles(record, e):
        if v.failsafe_at_s is None:
            ok = False
            parts.append(f"{v.id}: no failsafe happened")
            continue
        if v.landed_at_s is None or v.landed_at_s < v.failsafe_at_s:
            ok = False
            parts.append(
                f"{v.id}: failsafe ({v.failsafe_reason}) at {v.failsafe_at_s:.0f} s, never landed"
            )
            continue
        took = v.landed_at_s - v.failsafe_at_s
        worst = max(worst, took)
        ok = ok and took <= limit
        parts.append(
            f"{v.id}: {v.failsafe_reason} at {v.failsafe_at_s:.0f} s, landed {took:.0f} s later"
        )
    return Verdict(
        e.key,
        e.kind,
        ok and bool(parts),
        threshold,
        "; ".join(parts) or "no vehicle",
        round(worst, 1),
    )


def _count(name: str, value: int, e: Expectation) -> Verdict:
    lo, hi = e.args.get("min"), e.args.get("max")
    if lo is not None and hi is not None:
        threshold = f"{lo} to {hi} {name}"
    elif lo is not None:
        threshold = f"at least {lo} {name}"
    elif hi is not None:
        threshold = f"at most {hi} {name}"
    else:
        threshold = name
    ok = (lo is None or value >= lo) and (hi is None or value <= hi)
    return Verdict(e.key, e.kind, ok, threshold, f"{value} {name}", value)


def _evidence(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    verdict = _count("evidence items in the case record", record.evidence_stored, e)
    if e.args.get("all_sent"):
        lost = record.evidence_submitted - record.evidence_stored
        verdict.threshold = (
            verdict.threshold.replace(" evidence items in the case record", "")
            + " evidence items in the case record, and every item sent among them"
            if "min" in e.args or "max" in e.args
            else "every evidence item sent is in the case record"
        )
        verdict.passed = verdict.passed and lost == 0
    verdict.measured += f" of {record.evidence_submitted} sent"
    return verdict


def _cases(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    return _count("cases opened", record.cases_opened, e)


def _audit(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    want = bool(e.args.get("is", True))
    got = record.audit_ok
    measured = (
        "not checked (the run stopped before)"
        if got is None
        else f"{'verifies' if got else 'does NOT verify'} ({record.audit_entries} entries)"
    )
    threshold = "the audit log verifies" if want else "the audit log does not verify"
    return Verdict(e.key, e.kind, got is not None and got == want, threshold, measured, got)


def outcome_of(v: VehicleRecord) -> str:
    """completed: flew the whole mission and landed; aborted: flew, but not all of it;
    not flown: never armed."""
    if not v.flew:
        return "not flown"
    if v.mission_finished and v.failsafe_at_s is None and v.landed_at_s is not None:
        return "completed"
    return "aborted"


def _outcome(scenario: Scenario, record: RunRecord, e: Expectation) -> Verdict:
    want = str(e.args["is"])
    got = {v.id: outcome_of(v) for v in _vehicles(record, e)}
    ok = bool(got) and all(o == want for o in got.values())
    measured = ", ".join(f"{k} {o}" for k, o in got.items()) or "no vehicle"
    who = f"{e.args['vehicle']}" if e.args.get("vehicle") else "every vehicle"
    return Verdict(e.key, e.kind, ok, f"{who}: mission {want}", measured, ",".join(got.values()))


_EVALUATORS: dict[str, Callable[[Scenario, RunRecord, Expectation], Verdict]] = {
    "planted_found": _planted_found,
    "false_suspects": _false_suspects,
    "inside_fence": _inside_fence,
    "lands_after_failsafe": _lands_after_failsafe,
    "evidence": _evidence,
    "cases_opened": _cases,
    "audit_verifies": _audit,
    "outcome": _outcome,
}
