"""Parameters: read and set one autopilot parameter by name (PARAM_REQUEST_READ / PARAM_SET,
each confirmed by the PARAM_VALUE the autopilot answers with), with timeouts and retries."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from ..errors import LinkConfigError, LinkTimeoutError
from .mav import mavlink

if TYPE_CHECKING:
    from .vehicle import Vehicle


class ParamTimeoutError(LinkTimeoutError):
    """The autopilot did not answer for a parameter (unknown name, or no link)."""


def _name(raw: Any) -> str:
    text = raw if isinstance(raw, str) else bytes(raw).decode("ascii", "replace")
    return text.rstrip("\x00")


class ParamPlugin:
    """Get and set parameters of one vehicle."""

    def __init__(self, vehicle: Vehicle) -> None:
        self._v = vehicle
        self.timeout_s = 1.0
        self.retries = 2

    @staticmethod
    def _check(name: str) -> bytes:
        raw = name.encode("ascii", "replace")
        if not name or len(raw) > 16:
            raise LinkConfigError(
                f"param name: {name!r} is not a parameter name (1-16 ASCII characters)"
            )
        return raw

    async def _exchange(self, name: str, send: Any, accept: Any) -> float:
        v = self._v
        with v.link.subscribe(["PARAM_VALUE"], v.sysid) as sub:
            for _ in range(self.retries + 1):
                send()
                deadline = time.monotonic() + self.timeout_s
                while True:
                    try:
                        msg = await sub.get(max(deadline - time.monotonic(), 0.0))
                    except TimeoutError:
                        break
                    if _name(msg.param_id) == name and accept(msg.param_value):
                        return float(msg.param_value)
        raise ParamTimeoutError(
            f"param {name}: no PARAM_VALUE after {self.retries + 1} tries of {self.timeout_s:g} s;"
            " check the name exists on this autopilot"
        )

    async def get(self, name: str) -> float:
        """The value of parameter ``name``."""
        raw = self._check(name)
        v = self._v
        return await self._exchange(
            name,
            lambda: v.link.send("param_request_read", v.sysid, v.compid, raw, -1),
            lambda value: True,
        )

    async def set(self, name: str, value: float) -> float:
        """Set ``name`` to ``value``; returns the value the autopilot confirmed."""
        raw = self._check(name)
        v = self._v
        return await self._exchange(
            name,
            lambda: v.link.send(
                "param_set",
                v.sysid,
                v.compid,
                raw,
                float(value),
                mavlink.MAV_PARAM_TYPE_REAL32,
            ),
            lambda got: math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-6),
        )
