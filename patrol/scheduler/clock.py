"""The scheduler's clock: the real one, or simulated time that runs fast and skips idle spans.

The scheduler asks only two things of a clock: the time now (aware UTC), and to sleep until a
time unless woken earlier (a sortie ended, the service is stopping). `SimulatedClock` makes a
week of schedules take seconds: while nothing flies it jumps straight to the next due time;
while a sortie flies, simulated time runs `speed` times faster than real time, so flights
still take (simulated) time and overlaps stay meaningful.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(
        self, when: datetime, wake: asyncio.Event, idle: bool, max_real_s: float
    ) -> None: ...


async def _wait(wake: asyncio.Event, timeout: float) -> None:
    if timeout <= 0:
        await asyncio.sleep(0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout)


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(
        self, when: datetime, wake: asyncio.Event, idle: bool, max_real_s: float
    ) -> None:
        await _wait(wake, min(max_real_s, (when - self.now()).total_seconds()))


class SimulatedClock:
    """Simulated time from ``start``: ``speed`` x real time, jumping over idle spans."""

    def __init__(self, start: datetime, speed: float = 60.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start: give a timezone-aware time")
        self._base = start.astimezone(UTC)
        self._mono = time.monotonic()
        self.speed = float(speed)

    def now(self) -> datetime:
        return self._base + timedelta(seconds=(time.monotonic() - self._mono) * self.speed)

    def jump(self, when: datetime) -> None:
        """Move simulated time forward to ``when`` (never backwards)."""
        if when > self.now():
            self._base, self._mono = when, time.monotonic()

    async def sleep_until(
        self, when: datetime, wake: asyncio.Event, idle: bool, max_real_s: float
    ) -> None:
        if idle:
            self.jump(when)
            await asyncio.sleep(0)
            return
        real = (when - self.now()).total_seconds() / self.speed
        await _wait(wake, min(max_real_s, real))
