"""`patrol doctor`: what this installation has, and how to fix what it lacks."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail
from patrol.services import mqtt_broker_answers

app = typer.Typer(
    help="检查运行环境 (Report what is available, with a fix for each thing missing)."
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _check_database(settings: Settings) -> Check:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    url = settings.database_url
    shown = url.split("@")[-1] if "@" in url else url
    if url.startswith("sqlite:///"):
        parent = Path(url.removeprefix("sqlite:///")).parent
        if not parent.exists():
            return Check(
                "database",
                True,
                f"{shown} (will be created)",
                required=True,
            )
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        reason = str(exc).splitlines()[0]
        return Check(
            "database",
            False,
            f"{shown}: {reason}",
            "check FIELDPATROL_DATABASE_URL (e.g. postgresql+psycopg://user@host/db) or unset it "
            "to use the SQLite file under FIELDPATROL_HOME",
        )
    return Check("database", True, shown)


def _check_binary(name: str, env_var: str, path: str | None) -> Check:
    if not path:
        return Check(
            name,
            False,
            f"{env_var} is not set",
            f"build ArduPilot SITL and set {env_var} to the binary to run `sitl` tests",
            required=False,
        )
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        return Check(name, False, f"{path} is not an executable file", f"fix {env_var}", False)
    return Check(name, True, path, required=False)


def _check_model() -> Check:
    spec = importlib.util.find_spec("vision")
    if spec is None or not spec.submodule_search_locations:
        return Check("detector model", False, "vision package missing", "reinstall fieldpatrol")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    onnx = sorted(models.glob("*.onnx")) if models.is_dir() else []
    if not onnx:
        return Check(
            "detector model",
            False,
            f"no .onnx model in {models}",
            "reinstall fieldpatrol, or train one with `patrol vision train`",
        )
    return Check("detector model", True, ", ".join(p.name for p in onnx))


def _check_chromium() -> Check:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return Check("chromium", True, path, required=False)
    return Check(
        "chromium",
        False,
        "not found",
        "apt-get install chromium (needed only for the browser tests of the web console)",
        required=False,
    )


def _check_ultralytics() -> Check:
    if importlib.util.find_spec("ultralytics") is None:
        return Check(
            "training (ultralytics)",
            False,
            "not installed",
            "pip install 'fieldpatrol[train]' to train models or use .pt weights",
            required=False,
        )
    return Check("training (ultralytics)", True, "installed", required=False)


def run_checks(settings: Settings) -> list[Check]:
    broker_ok = mqtt_broker_answers(settings.mqtt_host, settings.mqtt_port)
    mosquitto = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    checks = [
        Check("data directory", True, str(settings.home)),
        Check(
            "mqtt broker",
            broker_ok,
            settings.mqtt_url + (" answers" if broker_ok else " does not answer"),
            "start Mosquitto (`mosquitto -d`) or set FIELDPATROL_MQTT_URL; `patrol demo` "
            "starts a private broker when none answers",
            required=False,
        ),
        Check(
            "mosquitto binary",
            mosquitto is not None,
            mosquitto or "not found",
            "apt-get install mosquitto (used for a private broker and the broker tests)",
            required=False,
        ),
        _check_database(settings),
        _check_model(),
        _check_ultralytics(),
        _check_binary("sitl copter", "FIELDPATROL_SITL_COPTER", settings.sitl_copter),
        _check_binary("sitl rover", "FIELDPATROL_SITL_ROVER", settings.sitl_rover),
        _check_chromium(),
    ]
    return checks


@app.callback(invoke_without_command=True)
def doctor(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Report the broker, database, SITL binaries, detector model and Chromium, with fixes."""
    try:
        settings = Settings.load()
    except ConfigError as exc:
        fail(str(exc))
    checks = run_checks(settings)
    ok = all(c.ok for c in checks if c.required)
    if json_output:
        emit_json({"ok": ok, "checks": [asdict(c) for c in checks]})
    else:
        table = Table(title="FieldPatrol doctor 环境检查")
        table.add_column("check 项目")
        table.add_column("status 状态")
        table.add_column("detail 详情")
        table.add_column("fix 处理办法")
        for c in checks:
            status = (
                "[green]ok[/]"
                if c.ok
                else ("[red]missing[/]" if c.required else "[yellow]optional[/]")
            )
            table.add_row(escape(c.name), status, escape(c.detail), "" if c.ok else escape(c.fix))
        console.print(table)
    if not ok:
        raise typer.Exit(1)
