"""The automated patrol scheduler: launches due schedule runs through preflight gates.

`Scheduler` (service.py) reads the schedules from the database (`cases.schedules`), decides
every due occurrence exactly once (run, run late, skip, blocked), checks the preflight gates
(gates.py) on the connected vehicle before an automatic launch, flies it through an injected
`Launcher` (launcher.py; the built-in simulator by default), and tells the supervisor about a
failed gate over MQTT (notify.py). Its clock is injectable (clock.py), so a week of schedules
runs in seconds in tests.
"""

from __future__ import annotations

from patrol.scheduler.clock import Clock, SimulatedClock, SystemClock
from patrol.scheduler.gates import GateResult, Readings, Thresholds
from patrol.scheduler.launcher import Job, Launcher, SimulatorLauncher, VehicleSession
from patrol.scheduler.notify import EventNotifier
from patrol.scheduler.service import Scheduler

__all__ = [
    "Clock",
    "EventNotifier",
    "GateResult",
    "Job",
    "Launcher",
    "Readings",
    "Scheduler",
    "SimulatedClock",
    "SimulatorLauncher",
    "SystemClock",
    "Thresholds",
    "VehicleSession",
]
