"""Automated patrol schedules: what is flown where and when, and the record of every due run.

A :class:`Schedule` names a site, a recurrence (RFC 5545 ``RRULE``, expanded by
python-dateutil in the schedule's time zone), an optional time window (``HH:MM-HH:MM`` local,
or ``daylight``: sunrise to sunset at the site's launch point), whether public holidays (the
same calendar as the legal deadlines, :mod:`cases.workdays`) or all non-working days are
skipped, a mission template (planned afresh over the site for every run), a vehicle pool and a
missed-run policy (``run_once_late`` or ``skip``).

Every occurrence that falls due gets exactly one :class:`ScheduleRun` row — unique on
(schedule, due time), so two schedulers or a restarted one can never fly it twice — with the
decision taken (run, run late, skipped and why, blocked by a preflight gate), the gate results
and the sortie it launched. ``Schedule.decided_until`` is the high-water mark: every
occurrence up to it has its row, which is what lets a restarted scheduler lose no run.

No vehicle is given two overlapping sorties: vehicles are assigned greedily in time order,
first free vehicle of the pool first (:func:`assign_vehicles`); a new schedule that would leave
some occurrence without a free vehicle is refused, and the running scheduler assigns the same
way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr
from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from cases import journal
from cases.errors import CasesError, NotFoundError
from cases.models import Base, SiteRecord, Sortie, utcnow
from cases.workdays import HolidayTable, WorkCalendar, table_from_db

__all__ = [
    "MISSED_POLICIES",
    "NoFlyWindow",
    "OverlapError",
    "Schedule",
    "ScheduleError",
    "ScheduleRun",
    "ScheduleSpec",
    "Slot",
    "assign_vehicles",
    "create_schedule",
    "day_refusal",
    "occurrences",
    "parse_rrule",
    "parse_window",
    "plan_for",
    "sun_times",
    "window_refusal",
]

MISSED_POLICIES = ("run_once_late", "skip")
STATES = ("active", "paused", "removed")
PATTERNS = ("survey", "perimeter", "point")
DEFAULT_TZ = "Asia/Shanghai"
#: An occurrence found more than this late (the scheduler was down) is a missed run.
ON_TIME_S = 300.0
#: How far ahead a new schedule is checked for overlaps with the others.
HORIZON_DAYS = 14
#: More occurrences than this within the horizon is not a patrol schedule.
MAX_SLOTS = 2000
#: Time added to the planner's flight estimate: upload, arming, landing, a margin for wind.
SETUP_S = 120.0
MARGIN = 1.2

#: Run statuses: ``pending`` (decided, gates running), ``launched`` (flying), then one of the
#: final ones.
ACTIVE_STATUSES = ("pending", "launched")
FINAL_STATUSES = ("completed", "failed", "aborted", "blocked", "skipped", "interrupted")


class ScheduleError(CasesError):
    """A schedule that cannot be stored or run as given: names the field and the fix."""


class OverlapError(ScheduleError):
    """A schedule whose sorties would need a vehicle that another sortie holds."""


# --- tables ------------------------------------------------------------------------------


class Schedule(Base):
    """A recurring automated patrol of one site."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    rrule: Mapped[str] = mapped_column(Text)
    #: Anchor of the recurrence (DTSTART), and the first moment a run may fall due.
    starts_at: Mapped[datetime] = mapped_column()
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TZ)
    #: None, ``HH:MM-HH:MM`` (local) or ``daylight``.
    window: Mapped[str | None] = mapped_column(String(32))
    skip_holidays: Mapped[bool] = mapped_column(Boolean, default=True)
    workdays_only: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Mission template: pattern, vehicle, altitude_agl_m, speed_m_s, target.
    mission: Mapped[dict[str, Any]] = mapped_column(JSON)
    vehicles: Mapped[list[Any]] = mapped_column(JSON)
    missed_policy: Mapped[str] = mapped_column(String(16), default="run_once_late")
    #: How long a vehicle is held by one run (planner estimate plus set-up and margin).
    duration_s: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default="active")
    #: Every occurrence due up to this time has its ScheduleRun row.
    decided_until: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleRun(Base):
    """The decision about one due occurrence of a schedule, and what came of it."""

    __tablename__ = "schedule_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id"))
    due_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: run, run_late, skip_holiday, skip_window, skip_missed, skip_busy, skip_calendar, blocked
    decision: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    vehicle_id: Mapped[str | None] = mapped_column(String(100), index=True)
    mission_id: Mapped[str | None] = mapped_column(ForeignKey("missions.id"))
    sortie_id: Mapped[str | None] = mapped_column(ForeignKey("sorties.id"))
    #: Preflight gates in order: [{"gate", "ok", "detail"}].
    gates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("schedule_id", "due_at", name="uq_schedule_run_due"),
        Index("ix_schedule_runs_status", "status"),
    )


class NoFlyWindow(Base):
    """A period when no automatic sortie may launch (over one site, or everywhere)."""

    __tablename__ = "no_fly_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(400), default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- rules: recurrence, windows, calendar ------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"timezone: {name!r} is not a known time zone; use an IANA name such as Asia/Shanghai"
        ) from None


@lru_cache(maxsize=256)
def _rule(text: str, dtstart_local: datetime) -> rrule:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or "\n" in body or "DTSTART" in body.upper():
        raise ScheduleError(
            f"rrule: {text!r} must be one RFC 5545 RRULE such as 'FREQ=DAILY;BYHOUR=9' "
            "(the start goes in --start)"
        )
    try:
        rule = rrulestr(body, dtstart=dtstart_local)
    except (ValueError, TypeError, KeyError) as exc:
        raise ScheduleError(
            f"rrule: {text!r} is not a valid RFC 5545 RRULE ({exc}); "
            "write e.g. 'FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=30'"
        ) from None
    if not isinstance(rule, rrule):
        raise ScheduleError(f"rrule: {text!r} must be a single RRULE")
    if re.search(r"FREQ\s*=\s*SECONDLY", body, re.IGNORECASE):
        raise ScheduleError(
            f"rrule: {text!r} recurs every second, which no patrol can; use MINUTELY or slower"
        )
    return rule


def _local_naive(when: datetime, tz: ZoneInfo) -> datetime:
    return when.astimezone(tz).replace(tzinfo=None)


def parse_rrule(text: str, starts_at: datetime, timezone: str = DEFAULT_TZ) -> rrule:
    """The recurrence of ``text`` anchored at ``starts_at`` (expanded in ``timezone``)."""
    tz = zone(timezone)
    rule = _rule(text, _local_naive(starts_at, tz))
    if rule.after(_local_naive(starts_at, tz), inc=True) is None:
        raise ScheduleError(f"rrule: {text!r} never occurs after {starts_at.isoformat()}")
    return rule


def occurrences(
    rrule_text: str, starts_at: datetime, timezone: str, after: datetime, until: datetime
) -> list[datetime]:
    """Occurrences (UTC) in ``(after, until]``, never before ``starts_at``."""
    tz = zone(timezone)
    rule = _rule(rrule_text, _local_naive(starts_at, tz))
    lo = max(after, starts_at - timedelta(microseconds=1))
    if until <= lo:
        return []
    local = rule.between(_local_naive(lo, tz), _local_naive(until, tz), inc=True)
    out = [d.replace(tzinfo=tz).astimezone(UTC) for d in local]
    return [d for d in out if lo < d <= until]


@dataclass(frozen=True)
class Window:
    """When sorties may fly on a day: fixed local times, or the site's daylight."""

    daylight: bool = False
    start: time | None = None
    end: time | None = None

    def __str__(self) -> str:
        if self.daylight:
            return "daylight"
        assert self.start is not None and self.end is not None
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_window(text: str | None) -> Window | None:
    """``None``/``""`` (any time), ``daylight``, or ``HH:MM-HH:MM`` in the schedule's zone."""
    if text is None or not text.strip():
        return None
    value = text.strip().lower()
    if value in ("daylight", "day"):
        return Window(daylight=True)
    parts = value.split("-")
    if len(parts) != 2 or not all(_HHMM.match(p.strip()) for p in parts):
        raise ScheduleError(
            f"window: {text!r} is not 'daylight' or 'HH:MM-HH:MM' (local time), e.g. 08:00-17:30"
        )
    start, end = (time.fromisoformat(p.strip().zfill(5)) for p in parts)
    if end <= start:
        raise ScheduleError(
            f"window: end {end:%H:%M} is not after start {start:%H:%M}; give a window within "
            "one day, e.g. 06:00-18:00 (split a night patrol into two schedules)"
        )
    return Window(start=start, end=end)


def sun_times(day: date, lat: float, lon: float) -> tuple[datetime, datetime] | None:
    """Sunrise and sunset (UTC) of ``day`` at ``lat, lon`` (NOAA's approximation, about a
    minute); None in polar day or night."""
    gamma = 2 * math.pi / 365 * (day.timetuple().tm_yday - 1)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    phi = math.radians(lat)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(phi) * math.cos(decl)) - math.tan(
        phi
    ) * math.tan(decl)
    if not -1.0 <= cos_ha <= 1.0:
        return None
    ha = math.degrees(math.acos(cos_ha))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rise = midnight + timedelta(minutes=720 - 4 * (lon + ha) - eqtime)
    set_ = midnight + timedelta(minutes=720 - 4 * (lon - ha) - eqtime)
    return rise, set_


def window_refusal(
    window: Window | None,
    timezone: str,
    start: datetime,
    duration_s: float,
    lonlat: tuple[float, float],
) -> str | None:
    """Why a sortie from ``start`` lasting ``duration_s`` does not fit the window (or None)."""
    if window is None:
        return None
    tz = zone(timezone)
    end = start + timedelta(seconds=duration_s)
    local = start.astimezone(tz)
    if window.daylight:
        sun = sun_times(local.date(), lonlat[1], lonlat[0])
        if sun is None:
            return f"no sunrise and sunset on {local.date()} at the site (polar day or night)"
        rise, set_ = sun
        if start >= rise and end <= set_:
            return None
        return (
            f"{local:%Y-%m-%d %H:%M} {timezone} to {end.astimezone(tz):%H:%M} is not in daylight "
            f"(sunrise {rise.astimezone(tz):%H:%M}, sunset {set_.astimezone(tz):%H:%M})"
        )
    assert window.start is not None and window.end is not None
    lo = datetime.combine(local.date(), window.start, tz)
    hi = datetime.combine(local.date(), window.end, tz)
    if start >= lo and end <= hi:
        return None
    return (
        f"{local:%Y-%m-%d %H:%M} {timezone} to {end.astimezone(tz):%H:%M} is outside the "
        f"window {window}"
    )


def calendar_for(session: Session, extra: Sequence[HolidayTable] = ()) -> WorkCalendar:
    """The working-day calendar of the legal deadlines: the administrator's tables (``extra``,
    e.g. ``$FIELDPATROL_HOME/holidays.yaml``, and the database's), then the built-in data."""
    return WorkCalendar([table_from_db(session), *extra])


def day_refusal(
    calendar: WorkCalendar, skip_holidays: bool, workdays_only: bool, due: datetime
) -> tuple[str, str] | None:
    """(decision, reason) when the legal (Asia/Shanghai) day of ``due`` is not flown.

    Raises :class:`~cases.errors.CalendarError` for a year the calendar does not know: rest
    days are never guessed.
    """
    if not (skip_holidays or workdays_only):
        return None
    from cases.workdays import legal_date

    day = legal_date(due)
    if calendar.is_workday(day):
        return None
    name = calendar.holiday_name(day)
    if workdays_only:
        return "skip_holiday", f"{day} is not a working day{f' ({name})' if name else ''}"
    # A public holiday: a rest day that is not an ordinary weekend (or a weekend inside a
    # holiday period, which the arrangement names).
    if day.weekday() < 5 or name:
        return "skip_holiday", f"{day} is a public holiday{f' ({name})' if name else ''}"
    return None


# --- mission template --------------------------------------------------------------------


def check_template(template: dict[str, Any]) -> dict[str, Any]:
    """A normalised mission template, or :class:`ScheduleError` naming the bad key."""
    if not isinstance(template, dict):
        raise ScheduleError("mission: give a mapping with pattern, vehicle, altitude_agl_m")
    unknown = set(template) - {"pattern", "vehicle", "altitude_agl_m", "speed_m_s", "target"}
    if unknown:
        raise ScheduleError(
            f"mission: unknown keys {sorted(unknown)}; use pattern, vehicle, altitude_agl_m, "
            "speed_m_s, target"
        )
    pattern = str(template.get("pattern", "perimeter"))
    vehicle = str(template.get("vehicle", "copter"))
    if pattern not in PATTERNS:
        raise ScheduleError(f"mission.pattern: {pattern!r} is not one of {list(PATTERNS)}")
    if vehicle not in ("copter", "rover"):
        raise ScheduleError(f"mission.vehicle: {vehicle!r} is not 'copter' or 'rover'")
    if pattern == "survey" and vehicle != "copter":
        raise ScheduleError("mission.pattern: only a copter flies a survey; use perimeter")
    try:
        altitude = float(template.get("altitude_agl_m", 50.0))
        speed = template.get("speed_m_s")
        speed = None if speed is None else float(speed)
    except (TypeError, ValueError):
        raise ScheduleError("mission: altitude_agl_m and speed_m_s must be numbers") from None
    if not 2.0 <= altitude <= 500.0:
        raise ScheduleError(f"mission.altitude_agl_m: {altitude} is not within 2..500 m")
    if speed is not None and not 0.0 < speed <= 40.0:
        raise ScheduleError(f"mission.speed_m_s: {speed} is not within (0, 40] m/s")
    target = template.get("target")
    if pattern == "point":
        if (
            not isinstance(target, list | tuple)
            or len(target) != 2
            or not all(isinstance(v, int | float) for v in target)
        ):
            raise ScheduleError("mission.target: a point inspection needs [lon, lat]")
        target = [float(target[0]), float(target[1])]
    else:
        target = None
    return {
        "pattern": pattern,
        "vehicle": vehicle,
        "altitude_agl_m": altitude,
        "speed_m_s": speed,
        "target": target,
    }


def plan_for(site: Any, template: dict[str, Any]) -> Any:
    """Plan ``template`` over ``site`` (a :class:`missions.site.Site`) and check it."""
    from missions.camera import CameraModel
    from missions.errors import MissionsError
    from missions.patterns import plan_perimeter, plan_point
    from missions.survey import plan_survey

    t = check_template(template)
    try:
        if t["pattern"] == "survey":
            return plan_survey(
                site,
                CameraModel.default(),
                altitude_agl_m=t["altitude_agl_m"],
                speed_m_s=t["speed_m_s"] or 10.0,
            )
        if t["pattern"] == "perimeter":
            return plan_perimeter(
                site, t["vehicle"], altitude_agl_m=t["altitude_agl_m"], speed_m_s=t["speed_m_s"]
            )
        return plan_point(
            site,
            tuple(t["target"]),
            t["vehicle"],
            altitude_agl_m=t["altitude_agl_m"],
            speed_m_s=t["speed_m_s"],
        )
    except (MissionsError, ValueError) as exc:
        raise ScheduleError(f"mission: cannot plan over site {site.id} ({exc})") from None


def load_site_record(row: SiteRecord) -> Any:
    from missions.errors import MissionsError
    from missions.site import site_from_geojson

    try:
        return site_from_geojson(row.geojson)
    except (MissionsError, ValueError) as exc:
        raise ScheduleError(f"site: {row.id} has invalid stored GeoJSON ({exc})") from None


# --- overlaps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One occurrence that needs a vehicle from ``pool`` from ``start`` to ``end``."""

    start: datetime
    end: datetime
    schedule: str
    pool: tuple[str, ...]
    #: Who goes first among slots starting together: the schedule id, as at run time (a
    #: schedule being added has none yet and goes last).
    rank: int = 0


@dataclass
class Assignment:
    vehicle: dict[Slot, str] = field(default_factory=dict)
    #: (slot that found no free vehicle, what held each vehicle of its pool)
    refused: list[tuple[Slot, list[tuple[str, str, datetime]]]] = field(default_factory=list)


def assign_vehicles(
    slots: Iterable[Slot], busy: dict[str, tuple[str, datetime]] | None = None
) -> Assignment:
    """Give each slot, in time order, the first vehicle of its pool that is free by then.

    ``busy`` maps vehicles already held to (by what, until when). The running scheduler
    assigns the same way, so a schedule set accepted here gets its vehicles at run time.
    """
    held: dict[str, tuple[str, datetime]] = dict(busy or {})
    out = Assignment()
    for slot in sorted(slots, key=lambda s: (s.start, s.rank, s.schedule)):
        for vehicle in slot.pool:
            holder = held.get(vehicle)
            if holder is None or holder[1] <= slot.start:
                held[vehicle] = (slot.schedule, slot.end)
                out.vehicle[slot] = vehicle
                break
        else:
            out.refused.append((slot, [(v, *held[v]) for v in slot.pool]))
    return out


def schedule_slots(
    label: str,
    rrule_text: str,
    starts_at: datetime,
    timezone: str,
    window: Window | None,
    duration_s: float,
    pool: Sequence[str],
    lonlat: tuple[float, float],
    frm: datetime,
    to: datetime,
    rank: int = 0,
) -> list[Slot]:
    """Occurrences in ``(frm, to]`` that fit the window, as slots (holidays are counted: the
    check stays safe for years whose holidays are not published yet)."""
    times = occurrences(rrule_text, starts_at, timezone, frm, to)
    if len(times) > MAX_SLOTS:
        raise ScheduleError(
            f"rrule: {rrule_text!r} occurs {len(times)} times in {HORIZON_DAYS} days; a patrol "
            f"schedule may fall due at most {MAX_SLOTS} times in that span"
        )
    out: list[Slot] = []
    for t in times:
        if window_refusal(window, timezone, t, duration_s, lonlat) is None:
            out.append(Slot(t, t + timedelta(seconds=duration_s), label, tuple(pool), rank))
    return out


def _slots_of(session: Session, row: Schedule, frm: datetime, to: datetime) -> list[Slot]:
    site = session.get(SiteRecord, row.site_id)
    lonlat = launch_lonlat(site)
    return schedule_slots(
        f"schedule {row.id} ({row.name})",
        row.rrule,
        row.starts_at,
        row.timezone,
        parse_window(row.window),
        row.duration_s,
        [str(v) for v in row.vehicles],
        lonlat,
        frm,
        to,
        rank=row.id,
    )


def launch_lonlat(site: SiteRecord | None) -> tuple[float, float]:
    """The launch point (lon, lat) of a stored site, for its daylight."""
    if site is None:
        return (0.0, 0.0)
    for feature in (site.geojson or {}).get("features", []):
        props = feature.get("properties") or {}
        geom = feature.get("geometry") or {}
        if props.get("role") == "launch" and geom.get("type") == "Point":
            lon, lat = geom["coordinates"][:2]
            return float(lon), float(lat)
    # No launch point stored: the keep-in area's first vertex is close enough for the sun.
    for feature in (site.geojson or {}).get("features", []):
        coords = (feature.get("geometry") or {}).get("coordinates")
        while isinstance(coords, list) and coords and isinstance(coords[0], list):
            coords = coords[0]
        if isinstance(coords, list) and len(coords) >= 2:
            return float(coords[0]), float(coords[1])
    return (0.0, 0.0)


def site_lonlat(session: Session, site_id: str) -> tuple[float, float]:
    """The launch point (lon, lat) of a stored site (for daylight windows)."""
    return launch_lonlat(session.get(SiteRecord, site_id))


def check_overlaps(
    session: Session, candidate: Schedule, now: datetime, exclude_id: int | None = None
) -> None:
    """Refuse ``candidate`` if, with the active schedules, some sortie would find no free
    vehicle in its pool in the next :data:`HORIZON_DAYS` days."""
    frm = max(now, candidate.starts_at - timedelta(microseconds=1))
    to = frm + timedelta(days=HORIZON_DAYS)
    label = f"schedule '{candidate.name}'"
    slots = schedule_slots(
        label,
        candidate.rrule,
        candidate.starts_at,
        candidate.timezone,
        parse_window(candidate.window),
        candidate.duration_s,
        [str(v) for v in candidate.vehicles],
        site_lonlat(session, candidate.site_id),
        frm,
        to,
        rank=candidate.id if candidate.id is not None else 2**31,
    )
    others = session.scalars(
        select(Schedule).where(Schedule.state == "active").order_by(Schedule.id)
    ).all()
    for row in others:
        if row.id == exclude_id or not set(row.vehicles) & set(candidate.vehicles):
            continue
        slots.extend(_slots_of(session, row, frm, to))
    result = assign_vehicles(slots)
    for slot, holders in result.refused:
        involved = slot.schedule == label or any(h[1] == label for h in holders)
        if not involved:
            continue
        tz = zone(candidate.timezone)
        held = ", ".join(
            f"{v} by {who} until {until.astimezone(tz):%Y-%m-%d %H:%M}" for v, who, until in holders
        )
        raise OverlapError(
            f"vehicles: the sortie of {slot.schedule} due "
            f"{slot.start.astimezone(tz):%Y-%m-%d %H:%M} {candidate.timezone} would find no "
            f"free vehicle ({held}); add a vehicle to the pool or choose another time"
        )


# --- creating and changing schedules ------------------------------------------------------


@dataclass
class ScheduleSpec:
    """What a user asks for; :func:`create_schedule` checks every field."""

    name: str
    site_id: str
    rrule: str
    vehicles: list[str]
    mission: dict[str, Any] = field(default_factory=dict)
    starts_at: datetime | None = None
    timezone: str = DEFAULT_TZ
    window: str | None = None
    skip_holidays: bool = True
    workdays_only: bool = False
    missed_policy: str = "run_once_late"


_VEHICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def create_schedule(
    session: Session, spec: ScheduleSpec, actor: str, now: datetime | None = None
) -> Schedule:
    """Check ``spec`` (recurrence, window, site, mission plan, vehicles, overlaps), store it
    and audit it (flushes; the caller commits)."""
    now = now or utcnow()
    name = (spec.name or "").strip()
    if not name or len(name) > 200:
        raise ScheduleError("name: give a name of 1-200 characters")
    zone(spec.timezone)
    # By default the recurrence is anchored at today's local midnight, so that a rule's
    # unstated minute and second (RFC 5545 takes them from DTSTART) are zero.
    local_now = now.astimezone(zone(spec.timezone))
    starts_at = spec.starts_at or local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if starts_at.tzinfo is None:
        raise ScheduleError("start: give a time with its zone (e.g. 2026-12-01T00:00+08:00)")
    # RFC 5545 times have whole seconds (dateutil drops the rest).
    starts_at = starts_at.astimezone(UTC).replace(microsecond=0)
    parse_rrule(spec.rrule, starts_at, spec.timezone)
    window = parse_window(spec.window)
    policy = str(spec.missed_policy).replace("-", "_")
    if policy not in MISSED_POLICIES:
        raise ScheduleError(
            f"missed: {spec.missed_policy!r} is not a missed-run policy; use run-once-late "
            "(run the latest missed occurrence once, late) or skip"
        )
    vehicles = [v.strip() for v in spec.vehicles if v and v.strip()]
    if not vehicles:
        raise ScheduleError("vehicles: give at least one vehicle id for the pool")
    for v in vehicles:
        if not _VEHICLE_ID.match(v):
            raise ScheduleError(
                f"vehicles: {v!r} is not a vehicle id (letters, digits, '_', '.', ':', '-')"
            )
    if len(set(vehicles)) != len(vehicles):
        raise ScheduleError("vehicles: a vehicle is named twice in the pool")
    template = check_template(spec.mission)
    row = session.get(SiteRecord, spec.site_id)
    if row is None:
        raise NotFoundError(
            f"site: {spec.site_id!r} is not in the database; add it first (patrol site import, "
            "or POST /api/sites)"
        )
    plan = plan_for(load_site_record(row), template)
    summary = plan.summary()
    if plan.check is not None and not plan.check.ok:
        raise ScheduleError(
            f"mission: the plan over site {row.id} fails its check: "
            + "; ".join(plan.check.problems)
        )
    duration_s = round(float(summary["duration_s"]) * MARGIN + SETUP_S, 1)
    if window is not None and not window.daylight:
        assert window.start is not None and window.end is not None
        span = (
            datetime.combine(date.min, window.end) - datetime.combine(date.min, window.start)
        ).total_seconds()
        if duration_s > span:
            raise ScheduleError(
                f"window: {window} is shorter than one sortie ({duration_s / 60:.0f} min); widen it"
            )
    schedule = Schedule(
        name=name,
        site_id=row.id,
        rrule=spec.rrule.strip().removeprefix("RRULE:"),
        starts_at=starts_at,
        timezone=spec.timezone,
        window=str(window) if window is not None else None,
        skip_holidays=bool(spec.skip_holidays),
        workdays_only=bool(spec.workdays_only),
        mission=template,
        vehicles=vehicles,
        missed_policy=policy,
        duration_s=duration_s,
        state="active",
        decided_until=max(starts_at, now) - timedelta(microseconds=1),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    check_overlaps(session, schedule, now)
    session.add(schedule)
    session.flush()
    journal.record(session, actor, "schedule.created", f"schedule:{schedule.id}", view(schedule))
    return schedule


def get_schedule(session: Session, ref: str | int) -> Schedule:
    """A schedule by id (removed ones too, for their record)."""
    try:
        sid = int(ref)
    except (TypeError, ValueError):
        raise NotFoundError(f"schedule: {ref!r} is not a schedule id (a number)") from None
    row = session.get(Schedule, sid)
    if row is None:
        raise NotFoundError(f"schedule: no schedule {sid}; see `patrol schedule list`")
    return row


def set_state(
    session: Session, schedule: Schedule, state: str, actor: str, now: datetime | None = None
) -> Schedule:
    """Pause, resume or remove a schedule (audited). Resuming checks overlaps again, and
    occurrences while paused are not wanted runs: they are not made up."""
    now = now or utcnow()
    if state not in STATES:
        raise ScheduleError(f"state: {state!r} is not one of {list(STATES)}")
    if schedule.state == "removed":
        raise ScheduleError(f"schedule {schedule.id} was removed; add a new one")
    if schedule.state == state:
        return schedule
    if state == "active":
        check_overlaps(session, schedule, now, exclude_id=schedule.id)
        schedule.decided_until = max(schedule.decided_until, now)
    schedule.state = state
    schedule.updated_at = now
    verb = {"active": "resumed", "paused": "paused", "removed": "removed"}[state]
    journal.record(session, actor, f"schedule.{verb}", f"schedule:{schedule.id}", {})
    session.flush()
    return schedule


def view(s: Schedule) -> dict[str, Any]:
    """A schedule as JSON values (CLI --json, API, audit payload)."""
    return {
        "id": s.id,
        "name": s.name,
        "site_id": s.site_id,
        "rrule": s.rrule,
        "starts_at": s.starts_at.isoformat() if s.starts_at else None,
        "timezone": s.timezone,
        "window": s.window,
        "skip_holidays": s.skip_holidays,
        "workdays_only": s.workdays_only,
        "mission": s.mission,
        "vehicles": list(s.vehicles or []),
        "missed_policy": s.missed_policy,
        "duration_s": s.duration_s,
        "state": s.state,
        "decided_until": s.decided_until.isoformat() if s.decided_until else None,
        "created_by": s.created_by,
    }


def run_view(r: ScheduleRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "schedule_id": r.schedule_id,
        "due_at": r.due_at.isoformat(),
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "decision": r.decision,
        "status": r.status,
        "reason": r.reason,
        "vehicle_id": r.vehicle_id,
        "mission_id": r.mission_id,
        "sortie_id": r.sortie_id,
        "gates": list(r.gates or []),
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
    }


def next_due(session: Session, s: Schedule, now: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` occurrences after ``now`` (before windows and holidays)."""
    tz = zone(s.timezone)
    rule = _rule(s.rrule, _local_naive(s.starts_at, tz))
    out: list[datetime] = []
    cursor = _local_naive(max(now, s.decided_until), tz)
    while len(out) < count:
        nxt = rule.after(cursor, inc=False)
        if nxt is None:
            break
        out.append(nxt.replace(tzinfo=tz).astimezone(UTC))
        cursor = nxt
    return out


def vehicles_busy(session: Session, now: datetime) -> dict[str, tuple[str, datetime]]:
    """Vehicles held right now: by a scheduled run in flight, or by a sortie launched by hand."""
    held: dict[str, tuple[str, datetime]] = {}
    rows = session.execute(
        select(ScheduleRun.vehicle_id, ScheduleRun.schedule_id, Schedule.duration_s)
        .join(Schedule, Schedule.id == ScheduleRun.schedule_id)
        .where(ScheduleRun.status.in_(ACTIVE_STATUSES), ScheduleRun.vehicle_id.is_not(None))
    )
    for vehicle, sid, duration in rows:
        held[str(vehicle)] = (f"schedule {sid}", now + timedelta(seconds=float(duration)))
    for sortie in session.scalars(select(Sortie).where(Sortie.status.in_(("launching", "flying")))):
        held.setdefault(sortie.vehicle_id, (f"sortie {sortie.id}", now + timedelta(hours=1)))
    return held


def no_fly_now(session: Session, site_id: str, when: datetime) -> NoFlyWindow | None:
    """The no-fly window over ``site_id`` (or everywhere) in force at ``when``, if any."""
    from sqlalchemy import or_

    return session.scalar(
        select(NoFlyWindow)
        .where(
            or_(NoFlyWindow.site_id.is_(None), NoFlyWindow.site_id == site_id),
            NoFlyWindow.starts_at <= when,
            NoFlyWindow.ends_at > when,
        )
        .order_by(NoFlyWindow.starts_at)
        .limit(1)
    )


def add_no_fly(
    session: Session,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    actor: str,
    site_id: str | None = None,
) -> NoFlyWindow:
    """Declare a period when no automatic sortie launches (audited)."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ScheduleError("from/to: give times with their zone (e.g. 2026-12-01T08:00+08:00)")
    if ends_at <= starts_at:
        raise ScheduleError(f"to: {ends_at.isoformat()} is not after from {starts_at.isoformat()}")
    if site_id is not None and session.get(SiteRecord, site_id) is None:
        raise NotFoundError(f"site: {site_id!r} is not in the database")
    row = NoFlyWindow(
        site_id=site_id,
        starts_at=starts_at.astimezone(UTC),
        ends_at=ends_at.astimezone(UTC),
        reason=reason,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    journal.record(
        session,
        actor,
        "no_fly.declared",
        f"no_fly:{row.id}",
        {
            "site": site_id,
            "from": row.starts_at.isoformat(),
            "to": row.ends_at.isoformat(),
            "reason": reason,
        },
    )
    return row
