"""Parameters of the simulated vehicle: ArduPilot names, units, types and defaults.

Names and units are ArduPilot's (WPNAV_SPEED in cm/s, RTL_ALT in cm, FENCE_ALT_MAX in m, ...) so
that a script that sets parameters on a real autopilot or on SITL does the same here. The `SIM_*`
parameters are ArduPilot SITL's own names for wind and injected faults, so fault scenarios written
against this simulator also drive SITL.

`FIELDPATROL_DEFAULTS` holds the few values this project sets on every vehicle (the SITL launcher
writes the same values into its defaults file), e.g. AUTO_OPTIONS=3 so that a vehicle may be
armed in AUTO and takes off without a pilot raising the throttle.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

INT8 = mavlink2.MAV_PARAM_TYPE_INT8
INT16 = mavlink2.MAV_PARAM_TYPE_INT16
INT32 = mavlink2.MAV_PARAM_TYPE_INT32
REAL32 = mavlink2.MAV_PARAM_TYPE_REAL32

_COMMON: dict[str, tuple[float, int]] = {
    "SYSID_THISMAV": (1, INT16),
    "SYSID_MYGCS": (255, INT16),
    "FENCE_ENABLE": (0, INT8),
    "FENCE_TYPE": (7, INT8),
    "FENCE_ACTION": (1, INT8),
    "FENCE_ALT_MAX": (100.0, REAL32),
    "FENCE_ALT_MIN": (-10.0, REAL32),
    "FENCE_RADIUS": (300.0, REAL32),
    "FENCE_MARGIN": (2.0, REAL32),
    "FENCE_TOTAL": (0, INT8),
    "BATT_MONITOR": (4, INT8),
    "BATT_CAPACITY": (10000, INT32),
    "BATT_LOW_VOLT": (14.0, REAL32),
    "BATT_CRT_VOLT": (0.0, REAL32),
    "BATT_LOW_MAH": (0, INT32),
    "BATT_CRT_MAH": (0, INT32),
    "BATT_LOW_TIMER": (10, INT8),
    "BATT_ARM_VOLT": (0.0, REAL32),
    "BATT_FS_LOW_ACT": (0, INT8),
    "BATT_FS_CRT_ACT": (0, INT8),
    # Copter 3.x name of the low-battery action; kept as an alias of BATT_FS_LOW_ACT.
    "FS_BATT_ENABLE": (0, INT8),
    "FS_GCS_ENABLE": (0, INT8),
    "FS_GCS_TIMEOUT": (5.0, REAL32),
    "FS_EKF_ACTION": (1, INT8),
    "ARMING_CHECK": (1, INT32),
    "AUTO_OPTIONS": (0, INT32),
    "DISARM_DELAY": (10, INT8),
    "CAM_TRIGG_DIST": (0.0, REAL32),
    "CAM1_TYPE": (1, INT8),
    "RALLY_TOTAL": (0, INT8),
    "RALLY_LIMIT_KM": (0.3, REAL32),
    "RALLY_INCL_HOME": (1, INT8),
    "MIS_TOTAL": (0, INT16),
    "SIM_SPEEDUP": (1.0, REAL32),
    "SIM_WIND_SPD": (0.0, REAL32),
    "SIM_WIND_DIR": (180.0, REAL32),
    "SIM_WIND_TURB": (0.0, REAL32),
    "SIM_GPS_DISABLE": (0, INT8),
    "SIM_GPS_NOISE": (0.3, REAL32),
    "SIM_BATT_VOLTAGE": (16.8, REAL32),
    "SIM_ENGINE_FAIL": (0, INT32),
    "SIM_ENGINE_MUL": (1.0, REAL32),
}

_COPTER: dict[str, tuple[float, int]] = {
    "WPNAV_SPEED": (1000.0, REAL32),
    "WPNAV_ACCEL": (250.0, REAL32),
    "WPNAV_SPEED_UP": (250.0, REAL32),
    "WPNAV_SPEED_DN": (150.0, REAL32),
    "WPNAV_ACCEL_Z": (100.0, REAL32),
    "WPNAV_RADIUS": (200.0, REAL32),
    "RTL_ALT": (1500, INT32),
    "RTL_ALT_FINAL": (0, INT32),
    "RTL_SPEED": (0, INT16),
    "RTL_LOIT_TIME": (5000, INT32),
    "LAND_SPEED": (50, INT16),
    "LAND_SPEED_HIGH": (0, INT16),
    "LAND_ALT_LOW": (1000, INT16),
    "ATC_RATE_Y_MAX": (90.0, REAL32),
    "LOIT_SPEED": (1250.0, REAL32),
    "PILOT_SPEED_DN": (0, INT16),
}

_ROVER: dict[str, tuple[float, int]] = {
    "CRUISE_SPEED": (2.0, REAL32),
    "WP_SPEED": (0.0, REAL32),
    "WP_RADIUS": (2.0, REAL32),
    "TURN_RADIUS": (0.9, REAL32),
    "ATC_ACCEL_MAX": (1.0, REAL32),
    "ATC_DECEL_MAX": (0.0, REAL32),
    "ATC_STR_RAT_MAX": (120.0, REAL32),
    "RTL_SPEED": (0.0, REAL32),
    "MIS_DONE_BEHAVE": (0, INT8),
}

# What FieldPatrol sets on every vehicle (also written into the SITL defaults file).
FIELDPATROL_DEFAULTS: dict[str, dict[str, float]] = {
    "copter": {
        "AUTO_OPTIONS": 3,
        "FENCE_TYPE": 5,
        "FENCE_ALT_MAX": 120.0,
        "BATT_FS_LOW_ACT": 2,
        "FS_BATT_ENABLE": 2,
        "RTL_ALT": 3000,
    },
    "rover": {
        "FENCE_TYPE": 4,
        "BATT_FS_LOW_ACT": 1,
        "FS_BATT_ENABLE": 1,
        "CRUISE_SPEED": 3.0,
    },
}


@dataclass
class Param:
    """One parameter: its value is held as a float, as PARAM_VALUE carries it."""

    name: str
    value: float
    type: int


class ParamStore:
    """The vehicle's parameter table, in ArduPilot's (alphabetical) order."""

    def __init__(self, kind: str, overrides: dict[str, float] | None = None) -> None:
        table = dict(_COMMON)
        table.update(_COPTER if kind == "copter" else _ROVER)
        values = {name: float(default) for name, (default, _t) in table.items()}
        values.update(FIELDPATROL_DEFAULTS[kind])
        for name, value in (overrides or {}).items():
            if name not in values:
                raise KeyError(name)
            values[name] = float(value)
        self._params = {name: Param(name, values[name], table[name][1]) for name in sorted(table)}
        self._names = list(self._params)
        # Plain name → value view for the 50 Hz loop (kept in step by set()).
        self.values: dict[str, float] = {n: p.value for n, p in self._params.items()}

    def __contains__(self, name: str) -> bool:
        return name in self._params

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def __len__(self) -> int:
        return len(self._params)

    def get(self, name: str, default: float = 0.0) -> float:
        param = self._params.get(name)
        return default if param is None else param.value

    def set(self, name: str, value: float) -> Param | None:
        """Set `name` (rounded for integer types, as ArduPilot stores it); None if unknown."""
        param = self._params.get(name)
        if param is None:
            return None
        if param.type != REAL32:
            value = float(round(value))
        param.value = float(value)
        self.values[name] = param.value
        # FS_BATT_ENABLE is the old name of BATT_FS_LOW_ACT: keep the two in step.
        alias = {"FS_BATT_ENABLE": "BATT_FS_LOW_ACT", "BATT_FS_LOW_ACT": "FS_BATT_ENABLE"}
        if name in alias:
            self._params[alias[name]].value = param.value
            self.values[alias[name]] = param.value
        return param

    def index(self, name: str) -> int:
        return self._names.index(name)

    def by_index(self, index: int) -> Param | None:
        if 0 <= index < len(self._names):
            return self._params[self._names[index]]
        return None

    def param(self, name: str) -> Param | None:
        return self._params.get(name)

    def all(self) -> list[Param]:
        return [self._params[n] for n in self._names]
