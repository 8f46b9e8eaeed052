"""Configuration of a FieldPatrol installation: the data directory and the services it uses.

Only `patrol/` and `gateway/` read configuration; every library below them takes arguments.
Sources, later ones winning: built-in defaults, `$FIELDPATROL_HOME/config.toml`, environment
variables `FIELDPATROL_*`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

import platformdirs


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which and how to fix it."""


DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


def _parse_mqtt_url(url: str, source: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ConfigError(
            f"{source}: {url!r} is not an MQTT broker URL; use the form mqtt://HOST:PORT, "
            "for example mqtt://127.0.0.1:1883"
        )
    try:
        port = parsed.port or 1883
    except ValueError as exc:
        raise ConfigError(f"{source}: {url!r} has an invalid port ({exc})") from None
    return parsed.hostname, port


@dataclass(frozen=True)
class Settings:
    """Where FieldPatrol keeps its state and which services it talks to."""

    home: Path
    database_url: str
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    sitl_copter: str | None = None
    sitl_rover: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8600
    #: True when the broker was named explicitly (then a run must not fall back to another).
    mqtt_configured: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def tlog_dir(self) -> Path:
        return self.home / "tlogs"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{self.mqtt_host}:{self.mqtt_port}"

    @classmethod
    def load(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from the config file under the home and the environment."""
        env = dict(os.environ if env is None else env)
        home = Path(env.get("FIELDPATROL_HOME") or platformdirs.user_data_dir("fieldpatrol"))
        home = home.expanduser().resolve()
        file_values: dict[str, object] = {}
        config_file = home / "config.toml"
        if config_file.is_file():
            try:
                file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"{config_file}: not valid TOML ({exc}); fix or remove the file"
                ) from None

        def pick(env_name: str, key: str) -> str | None:
            value = env.get(env_name)
            if value:
                return value
            raw = file_values.get(key)
            return str(raw) if raw is not None else None

        database_url = pick("FIELDPATROL_DATABASE_URL", "database_url") or (
            f"sqlite:///{home / 'fieldpatrol.db'}"
        )
        configured_mqtt = pick("FIELDPATROL_MQTT_URL", "mqtt_url")
        mqtt_url = configured_mqtt or DEFAULT_MQTT_URL
        mqtt_host, mqtt_port = _parse_mqtt_url(mqtt_url, "FIELDPATROL_MQTT_URL / mqtt_url")
        gateway_port_raw = pick("FIELDPATROL_GATEWAY_PORT", "gateway_port") or "8600"
        try:
            gateway_port = int(gateway_port_raw)
        except ValueError:
            raise ConfigError(
                f"FIELDPATROL_GATEWAY_PORT / gateway_port: {gateway_port_raw!r} is not a port "
                "number; use an integer such as 8600"
            ) from None
        return cls(
            home=home,
            database_url=database_url,
            mqtt_host=mqtt_host,
            mqtt_port=mqtt_port,
            sitl_copter=pick("FIELDPATROL_SITL_COPTER", "sitl_copter"),
            sitl_rover=pick("FIELDPATROL_SITL_ROVER", "sitl_rover"),
            gateway_host=pick("FIELDPATROL_GATEWAY_HOST", "gateway_host") or "127.0.0.1",
            gateway_port=gateway_port,
            mqtt_configured=configured_mqtt is not None,
            extra={k: v for k, v in file_values.items() if k not in _KNOWN_KEYS},
        )

    def with_mqtt(self, host: str, port: int) -> Settings:
        return replace(self, mqtt_host=host, mqtt_port=port)

    def ensure_dirs(self) -> None:
        """Create the data directory and its sub-folders (idempotent)."""
        for path in (self.home, self.media_dir, self.keys_dir, self.tlog_dir, self.reports_dir):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the data directory {path} ({exc.strerror}); set "
                    "FIELDPATROL_HOME to a writable folder"
                ) from None


_KNOWN_KEYS = {
    "database_url",
    "mqtt_url",
    "sitl_copter",
    "sitl_rover",
    "gateway_host",
    "gateway_port",
}
