"""`patrol broker config`: write a production Mosquitto configuration for FieldPatrol.

Password file, per-device ACL (a vehicle publishes only under its own vehicle id; the
gateway reads all), TLS with a generated CA, server and client certificates. Start it with
``mosquitto -c DIR/mosquitto.conf``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="MQTT 代理配置 (Write a production Mosquitto configuration).")


@app.callback()
def _main() -> None:
    """MQTT broker configuration."""


@app.command()
def config(
    out: Path = typer.Option(None, "--out", help="Directory (default $FIELDPATROL_HOME/broker)."),
    vehicle: list[str] = typer.Option(
        None, "--vehicle", help="Vehicle id (repeat); default: every enrolled vehicle."
    ),
    port: int = typer.Option(8883, min=1, max=65535, help="TLS listener port."),
    bind: str = typer.Option("0.0.0.0", help="Address to listen on."),
    server_name: list[str] = typer.Option(
        None, "--server-name", help="Host name or IP in the server certificate (repeat)."
    ),
    gateway_user: str = typer.Option("gateway", help="User name of the gateway ingest."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Write mosquitto.conf, passwd, acl, CA and certificates into a directory."""
    from gateway.ingest.broker import BrokerError, write_production_config
    from telemetry.contract import TopicError

    try:
        settings = Settings.load()
        settings.ensure_dirs()
    except ConfigError as exc:
        fail(str(exc))
    vehicles = list(vehicle or [])
    if not vehicles:
        from cases.db import make_engine, session_factory, upgrade
        from gateway.devices import list_devices

        upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            with session_factory(engine)() as session:
                vehicles = [d.vehicle_id for d in list_devices(session) if not d.revoked]
        finally:
            engine.dispose()
        if not vehicles:
            fail("no vehicles: enroll one (patrol device enroll VEHICLE) or pass --vehicle")
    directory = out or settings.home / "broker"
    try:
        cfg = write_production_config(
            directory,
            vehicles,
            port=port,
            bind=bind,
            server_names=list(server_name) if server_name else None,
            gateway_user=gateway_user,
        )
    except (BrokerError, TopicError) as exc:
        fail(str(exc))
    doc = cfg.to_dict()
    doc["secrets_file"] = str(cfg.directory / "secrets.txt")
    doc["start"] = f"mosquitto -c {cfg.config}"
    if json_out:
        emit_json(doc)
    else:
        console.print(f"wrote {cfg.config} ({len(vehicles)} vehicles, TLS on port {port})")
        console.print(f"passwords: {cfg.directory / 'secrets.txt'} (keep secret)")
        console.print(f"start: mosquitto -c {cfg.config}")
