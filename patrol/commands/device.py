"""`patrol device`: enroll vehicles (an Ed25519 signing key each), list and revoke them.

The private key stays on the vehicle side under ``$FIELDPATROL_HOME/keys/VEHICLE.key``
(mode 0600, public key next to it as ``.key.pub``); the gateway's device registry (the
``devices`` table of the case database) gets the public key.
"""

from __future__ import annotations

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="设备身份 (Enroll vehicles and their signing keys).", no_args_is_help=True)


def _settings() -> Settings:
    try:
        settings = Settings.load()
        settings.ensure_dirs()
    except ConfigError as exc:
        fail(str(exc))
    return settings


@app.command()
def enroll(
    vehicle: str = typer.Argument(..., help="Vehicle id, e.g. uav-1 (letters, digits, _.:-)."),
    replace: bool = typer.Option(
        False, "--replace", help="Make a new key pair and replace the registered key."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Create (or reuse) VEHICLE's key pair and register its public key at the gateway."""
    from cases.db import make_engine, session_factory, upgrade
    from gateway.devices import DeviceError, register_device
    from telemetry.contract import TopicError
    from telemetry.contract.topics import check_id
    from telemetry.signing import DeviceKey, KeyFileError

    settings = _settings()
    try:
        check_id("vehicle_id", vehicle)
    except TopicError as exc:
        fail(str(exc))
    path = settings.keys_dir / f"{vehicle}.key"
    created = False
    try:
        if path.exists() and not replace:
            key = DeviceKey.load(path)
        else:
            key = DeviceKey.generate()
            created = True
    except KeyFileError as exc:
        fail(f"{exc}; remove it or pass --replace to make a new key")
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            try:
                info = register_device(
                    session, vehicle, key.public_key_bytes(), replace=replace, actor="user:cli"
                )
            except DeviceError as exc:
                fail(str(exc))
            session.commit()
    finally:
        engine.dispose()
    if created:
        key.save(path)  # only once the registry accepted it
    doc = {
        "vehicle_id": vehicle,
        "key_id": info.key_id,
        "public_key": key.public_key_b64,
        "private_key_path": str(path),
        "public_key_path": str(path.with_name(path.name + ".pub")),
        "created": created,
    }
    if json_out:
        emit_json(doc)
    else:
        what = "new key" if created else "existing key"
        console.print(f"enrolled [bold]{vehicle}[/] with {what} {info.key_id} ({path})")


@app.command("list")
def list_(json_out: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List enrolled vehicles and their key ids."""
    from cases.db import make_engine, session_factory, upgrade
    from gateway.devices import list_devices

    settings = _settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            devices = list_devices(session)
    finally:
        engine.dispose()
    rows = [
        {
            "vehicle_id": d.vehicle_id,
            "key_id": d.key_id,
            "revoked": d.revoked,
            "last_seq": d.last_seq,
            "enrolled_at": d.enrolled_at,
        }
        for d in devices
    ]
    if json_out:
        emit_json({"devices": rows})
        return
    for r in rows:
        state = "revoked" if r["revoked"] else "active"
        console.print(f"{r['vehicle_id']:<20} {r['key_id']}  {state}  last seq {r['last_seq']}")


@app.command()
def revoke(
    vehicle: str = typer.Argument(..., help="Vehicle id to revoke."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Revoke VEHICLE's key: its evidence is dead-lettered from now on."""
    from cases.db import make_engine, session_factory, upgrade
    from gateway.devices import DeviceError, revoke_device

    settings = _settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            try:
                info = revoke_device(session, vehicle, actor="user:cli")
            except DeviceError as exc:
                fail(str(exc))
            session.commit()
    finally:
        engine.dispose()
    if json_out:
        emit_json({"vehicle_id": vehicle, "key_id": info.key_id, "revoked": True})
    else:
        console.print(f"revoked {vehicle} ({info.key_id})")
