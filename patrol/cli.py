"""The `patrol` command line: one entry point, sub-commands loaded on first use.

Sub-command groups live in `patrol/commands/<module>.py`, each exposing `app` (a Typer app).
They are imported only when used (or listed by `--help`), so a slow or broken import in one
group never slows down or breaks another. User errors (our packages raise `ValueError`
subclasses whose message says what is wrong and what to do) become one line on stderr and
exit code 1; usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
import typer.core
import typer.main

# name on the command line -> (module under patrol.commands, one-line help shown before import)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "一键演示：模拟无人机巡查全流程 (Run a full simulated patrol end to end)."),
    "doctor": ("doctor", "检查运行环境 (Report what is available, with fixes)."),
    "site": ("site", "巡查区域 (Import, show and validate sites)."),
    "mission": ("mission", "任务规划 (Plan, check and show missions)."),
    "fly": ("fly", "执行任务 (Fly a mission file through MAVLink)."),
    "sim": ("sim", "仿真 (Run simulated vehicles and scenarios)."),
    "vision": ("vision", "视觉识别 (Detect, evaluate, train, build datasets)."),
    "device": ("device", "设备身份 (Enroll vehicles and their signing keys)."),
    "broker": ("broker", "MQTT 代理配置 (Write a production Mosquitto configuration)."),
    "gateway": ("gateway", "网关与控制台 (Serve the API and the web console)."),
    "case": ("case", "案件 (List, show, step and export cases)."),
    "benchmark": ("benchmark", "裁量基准 (Validate tables, recommend a penalty)."),
    "report": ("report", "报表 (Monthly report)."),
    "calendar": ("calendar", "工作日计算 (Working-day arithmetic)."),
    "audit": ("audit", "全过程记录 (Verify, prove and inspect the audit log)."),
    "schedule": ("schedule", "巡查计划 (Automated patrol schedules)."),
    "run": ("run", "运行服务 (Run the gateway, ingest and scheduler until SIGTERM)."),
    "fleet": ("fleet", "车队 (Vehicles, their sorties and state)."),
    "sortie": ("sortie", "架次 (Sortie records and mission reports)."),
}


def _user_error_types() -> tuple[type[BaseException], ...]:
    return (ValueError, FileNotFoundError, PermissionError)


def _is_user_error(exc: BaseException) -> bool:
    """Our packages signal user errors with ValueError subclasses defined in them."""
    if not isinstance(exc, _user_error_types()):
        return False
    module = type(exc).__module__.split(".")[0]
    ours = {"missions", "telemetry", "simulators", "vision", "gateway", "cases", "patrol"}
    return module in ours or isinstance(exc, FileNotFoundError | PermissionError)


def _unavailable(name: str, error: BaseException) -> Any:
    stub = typer.Typer()

    @stub.command(name=name, help=f"(unavailable: {error})")
    def run() -> None:
        typer.echo(f"error: `patrol {name}` is unavailable here: {error}", err=True)
        raise typer.Exit(1)

    return typer.main.get_command(stub)


class LazyGroup(typer.core.TyperGroup):
    """A click group that imports each sub-command module only when it is needed."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _ = entry
        try:
            module = importlib.import_module(f"patrol.commands.{module_name}")
        except ImportError as exc:
            return _unavailable(cmd_name, exc)
        command = typer.main.get_command(module.app)
        command.name = cmd_name
        if not command.help:
            command.help = entry[1]
        _attach_extras(cmd_name, command)
        return command


def _attach_extras(cmd_name: str, command: Any) -> None:
    """Sub-commands that live in another module but belong under a group (e.g. case export)."""
    if (
        cmd_name == "case"
        and isinstance(command, typer.core.TyperGroup)
        and ("export" not in command.commands)
    ):
        try:
            module = importlib.import_module("patrol.commands.case_export")
        except ImportError:
            return
        extra = typer.main.get_command(module.app)
        command.add_command(extra, "export")


app = typer.Typer(
    cls=LazyGroup,
    help=(
        "FieldPatrol 无人机/机器人行政执法巡查系统 — plan geofenced inspection missions, fly them "
        "over MAVLink, flag violations with YOLO, carry signed evidence over MQTT into the case "
        "record, and keep a provable full-process record."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"fieldpatrol {version('fieldpatrol')}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """FieldPatrol 无人机/机器人行政执法巡查系统."""


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    command = typer.main.get_command(app)
    try:
        return command.main(args=argv, prog_name="patrol", standalone_mode=True)
    except Exception as exc:  # a user error becomes one line; anything else is a bug
        if _is_user_error(exc):
            typer.echo(f"error: {exc}", err=True)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
