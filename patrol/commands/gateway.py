"""`patrol gateway serve|user`: the REST API and the web console, and the console's accounts.

`serve` loads (or creates) the token secret and the audit log key under
`$FIELDPATROL_HOME/keys`, runs the migrations, issues signed tree heads in the background and,
with `--simulate`, flies launched sorties through patrol's sortie engine on the built-in
simulator, evidence and cases included (`patrol.gateway_launcher`; the gateway never imports
simulators).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail
from patrol.services import port_open

app = typer.Typer(help="网关与控制台 (Serve the API and the web console).", no_args_is_help=True)
user_app = typer.Typer(help="控制台账户 (Console accounts).", no_args_is_help=True)
app.add_typer(user_app, name="user")

SECRET_FILE = "gateway-token.key"
LOG_KEY_FILE = "audit-log.key"


def _settings() -> Settings:
    try:
        settings = Settings.load()
        settings.ensure_dirs()
    except ConfigError as exc:
        fail(str(exc))
    return settings


def token_secret(keys_dir: Path) -> bytes:
    """The token-signing secret, created (mode 0600) on first use so restarts keep sessions."""
    path = keys_dir / SECRET_FILE
    if path.is_file():
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    keys_dir.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, min=1, max=65535, help="Port (default 8600)."),
    simulate: bool = typer.Option(
        False,
        "--simulate",
        help="Fly launched sorties on the built-in simulator, camera, detector and evidence.",
    ),
    speedup: float = typer.Option(5.0, min=0.1, max=100.0, help="Simulator speed-up."),
    cors: list[str] = typer.Option(
        [], "--cors-origin", help="Allow this browser origin (CORS is closed by default)."
    ),
    head_interval: float = typer.Option(60.0, min=1.0, help="Seconds between signed heads."),
) -> None:
    """Serve the REST API (/api, /openapi.json) and the web console (/)."""
    import uvicorn

    from cases.audit import HeadIssuer, LogKey
    from cases.db import session_factory, upgrade
    from gateway.app import GatewayConfig, create_app

    settings = _settings()
    host = host or settings.gateway_host
    port = port or settings.gateway_port
    if port_open(host, port):
        fail(f"port {port} on {host} is already in use; pass --port with a free port")
    upgrade(settings.database_url)
    log_key = LogKey.load_or_create(settings.keys_dir / LOG_KEY_FILE)
    ground = None
    mqtt_host, mqtt_port = settings.mqtt_host, settings.mqtt_port
    if simulate:
        from patrol.gateway_launcher import SortieLauncher
        from patrol.ground import Ground

        # Database, broker (a private one when none is configured or running), and the
        # ingest of each launched vehicle: sorties end as evidence in cases.
        ground = Ground(settings).start()
        assert ground.broker is not None
        mqtt_host, mqtt_port = ground.broker.host, ground.broker.port
    try:
        config = GatewayConfig(
            settings.database_url,
            settings.media_dir,
            secret_key=token_secret(settings.keys_dir),
            home=settings.home,
            log_key=log_key,
            cors_origins=tuple(cors),
            mqtt_host=mqtt_host,
            mqtt_port=mqtt_port,
            launcher=SortieLauncher(ground, speedup=speedup) if ground is not None else None,
        )
        app_ = create_app(config)
        issuer = HeadIssuer(session_factory(app_.state.engine), log_key, interval_s=head_interval)
        issuer.start()
        console.print(f"控制台 console: http://{host}:{port}/   API: http://{host}:{port}/docs")
        try:
            uvicorn.run(app_, host=host, port=port, log_level="warning")
        finally:
            issuer.stop()
    finally:
        if ground is not None:
            ground.stop()


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    name: str = typer.Option(..., help="Full name (acts are taken by a named person)."),
    role: str = typer.Option(
        ..., help="inspector, legal_reviewer, supervisor, admin (or head, archivist, engineer)."
    ),
    department: str = typer.Option(None, help="Department code, e.g. CG."),
    credential_no: str = typer.Option(None, help="Enforcement credential number (执法证号)."),
    password: str = typer.Option(
        None, help="Password (default: read FIELDPATROL_NEW_PASSWORD, else prompt)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Create a console user with a password (or set the password of an existing one)."""
    from sqlalchemy import select

    from cases.db import make_engine, session_factory, upgrade
    from cases.errors import CasesError
    from cases.models import User
    from cases.users import create_user
    from gateway.auth.passwords import set_password
    from gateway.errors import AuthError

    settings = _settings()
    secret = password or os.environ.get("FIELDPATROL_NEW_PASSWORD")
    if not secret:
        secret = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            user = session.scalar(select(User).where(User.username == username))
            created = user is None
            try:
                if user is None:
                    user = create_user(
                        session,
                        username,
                        name,
                        role,
                        department,
                        credential_no=credential_no,
                        actor="system:patrol-gateway",
                    )
                set_password(session, user, secret)
            except (CasesError, AuthError) as exc:
                fail(str(exc))
            session.commit()
            out = {
                "id": user.id,
                "username": user.username,
                "name": user.name,
                "role": user.role,
                "department": user.department_id,
                "created": created,
            }
    finally:
        engine.dispose()
    if as_json:
        emit_json(out)
    else:
        verb = "created" if created else "password set for"
        console.print(f"{verb} user {username} ({out['role']}, {out['department'] or '-'})")


@user_app.command("list")
def user_list(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List the users and whether each can log in to the console."""
    from sqlalchemy import select

    from cases.db import make_engine, session_factory, upgrade
    from cases.models import User
    from gateway.models import Credential

    settings = _settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            has_password = set(session.scalars(select(Credential.user_id)))
            users = [
                {
                    "id": u.id,
                    "username": u.username,
                    "name": u.name,
                    "role": u.role,
                    "department": u.department_id,
                    "active": u.active,
                    "can_log_in": u.id in has_password and u.active,
                }
                for u in session.scalars(select(User).order_by(User.id))
            ]
    finally:
        engine.dispose()
    if as_json:
        emit_json({"users": users})
        return
    for u in users:
        console.print(
            f"{u['username']:<16} {u['role']:<15} {u['department'] or '-':<6} "
            f"{'login' if u['can_log_in'] else 'no login'}  {u['name']}"
        )
