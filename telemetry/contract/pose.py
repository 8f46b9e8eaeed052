"""Camera pose at the moment a frame was taken (position, attitude, gimbal)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from telemetry.contract.timeutil import to_utc


class CameraPose(BaseModel):
    """Where the camera was and where it looked when a frame was captured.

    Position is WGS84; ``alt_agl_m`` is relative to the launch point, ``alt_amsl_m`` above
    mean sea level. Attitude is the vehicle's (degrees, yaw clockwise from north); the gimbal
    angles are relative to the vehicle (-90 pitch looks straight down).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    time: datetime
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    alt_agl_m: float
    alt_amsl_m: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    gimbal_pitch_deg: float = -90.0
    gimbal_yaw_deg: float = 0.0

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)
