"""The automated patrol scheduler: launches due schedule runs through preflight gates.

`Scheduler` (service.py) reads the schedules from the database (`cases.schedules`), decides
every due occurrence exactly once (run, run late, skip, blocked), checks the preflight gates
(gates.py) on the connected vehicle before an automatic launch, flies it through an injected
launcher (`patrol run --simulate`: the sortie engine, engine.py, with the gates at its pre-arm
hook; or a flight-only `Launcher`, launcher.py), and tells the supervisor about a
failed gate over MQTT (notify.py). Its clock is injectable (clock.py), so a week of schedules
runs in seconds in tests.
"""

from __future__ import annotations

from patrol.scheduler.clock import Clock, SimulatedClock, SystemClock
from patrol.scheduler.engine import EngineLauncher
from patrol.scheduler.gates import GateResult, Readings, Thresholds
from patrol.scheduler.launcher import (
    Job,
    Launcher,
    LinkSession,
    SimulatorLauncher,
    SortieLauncher,
    VehicleSession,
)
from patrol.scheduler.notify import EventNotifier
from patrol.scheduler.service import Scheduler

__all__ = [
    "Clock",
    "EngineLauncher",
    "EventNotifier",
    "GateResult",
    "Job",
    "Launcher",
    "LinkSession",
    "Readings",
    "Scheduler",
    "SimulatedClock",
    "SimulatorLauncher",
    "SortieLauncher",
    "SystemClock",
    "Thresholds",
    "VehicleSession",
]
