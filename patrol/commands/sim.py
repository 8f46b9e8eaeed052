"""`patrol sim`: run simulated vehicles (the built-in simulator or ArduPilot SITL).

`patrol sim start` runs one vehicle in the foreground at the site's launch point, prints its
MAVLink connection URL as the first line of stdout (so a script can read it and connect), and
runs until SIGINT or SIGTERM, then shuts down cleanly.

`patrol sim run SCENARIO...` runs scripted scenarios (docs/scenarios.md): every file is read and
checked before anything starts, each runs in its own temporary data directory with its own
broker, and the exit code is 1 when any expectation fails.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, fail

app = typer.Typer(help="仿真 (Run simulated vehicles: the built-in simulator or ArduPilot SITL).")


@app.callback()
def sim() -> None:
    """仿真 (Run simulated vehicles: the built-in simulator or ArduPilot SITL)."""


def _site_launch(site: Path | None) -> tuple[float, float, str]:
    from missions.site import load_site

    if site is None:
        from patrol.demo import default_site_path

        site = default_site_path()
    if not site.is_file():
        fail(f"site file {site} not found; pass --site PATH to a GeoJSON or KML site file")
    loaded = load_site(site)
    lon, lat = loaded.launch
    return lat, lon, loaded.id


@app.command("start")
def start(
    backend: str = typer.Option("builtin", "--backend", help="builtin | sitl"),
    vehicle: str = typer.Option("copter", "--vehicle", help="copter | rover"),
    site: Path = typer.Option(
        None,
        "--site",
        help="Site file; the vehicle starts at its launch point. Default: demo site.",
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="TCP port (0: any free port)."),
    speedup: float = typer.Option(1.0, "--speedup", min=0.01, max=1000, help="Speed-up factor."),
    sysid: int = typer.Option(1, "--sysid", min=1, max=255, help="MAVLink system id."),
    seed: int = typer.Option(0, "--seed", help="Seed of GPS noise and gusts (builtin)."),
    launch_amsl: float = typer.Option(
        0.0, "--launch-amsl", help="Ground altitude of the launch point above mean sea level, m."
    ),
    transport: str = typer.Option("tcp", "--transport", help="tcp | udp (builtin only)."),
    json_output: bool = typer.Option(
        False, "--json", help="First stdout line is one JSON object (url, backend, ...)."
    ),
) -> None:
    """Run one simulated vehicle until interrupted; the first stdout line is its URL."""
    if backend not in ("builtin", "sitl"):
        fail(f"--backend {backend!r} is not known; use builtin or sitl")
    if vehicle not in ("copter", "rover"):
        fail(f"--vehicle {vehicle!r} is not simulated; use copter or rover")
    lat, lon, site_id = _site_launch(site)
    home = (lat, lon, launch_amsl)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    runner: Any
    try:
        if backend == "builtin":
            from simulators.vehicle import SimulatorServer

            runner = SimulatorServer(
                kind=vehicle,
                home=home,
                port=port,
                sysid=sysid,
                speedup=speedup,
                seed=seed,
                transport=transport,
            )
        else:
            from simulators.sitl import SitlVehicle, sitl_binary

            try:
                settings = Settings.load()
            except ConfigError as exc:
                fail(str(exc))
            binary = sitl_binary(vehicle, settings.sitl_copter, settings.sitl_rover)
            if transport != "tcp":
                fail("--transport udp is only offered by the builtin backend; use tcp")
            runner = SitlVehicle(
                binary, kind=vehicle, home=home, speedup=speedup, sysid=sysid, port=port
            )
            console.print(f"starting ArduPilot SITL {binary} (waiting until ready to arm)...")
        url = runner.start()
        try:
            if json_output:
                doc = {
                    "url": url,
                    "backend": backend,
                    "vehicle": vehicle,
                    "sysid": sysid,
                    "speedup": speedup,
                    "site": site_id,
                    "home": {"lat": lat, "lon": lon, "alt_amsl_m": launch_amsl},
                }
                sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(url + "\n")
            sys.stdout.flush()
            console.print(
                f"{backend} {vehicle} sysid {sysid} at {lat:.6f},{lon:.6f} ×{speedup:g}: "
                f"{url} (Ctrl-C to stop)"
            )
            started = time.monotonic()
            while not stop.wait(0.2):
                if not runner.running:
                    fail(f"the {backend} vehicle stopped on its own")
        finally:
            runner.stop()
        console.print(f"stopped after {time.monotonic() - started:.1f} s")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (CI cancelling a job) cleans up exactly like Ctrl-C.
    raise KeyboardInterrupt


@app.command("run")
def run(
    scenarios: list[Path] = typer.Argument(..., help="Scenario files (YAML)."),
    backend: str | None = typer.Option(
        None, "--backend", help="builtin | sitl: overrides the backend of every vehicle."
    ),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML to this file."),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Folder for the HTML reports (one sub-folder per scenario). "
        "Default: $FIELDPATROL_HOME/reports/scenarios.",
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep each run's temporary data directory (for debugging)."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print the results as one JSON document."
    ),
) -> None:
    """运行仿真场景 (Run scenario files; exit 1 when any expectation fails)."""
    from patrol.output import emit_json
    from patrol.scenarios import ScenarioError, load_scenario
    from patrol.scenarios.junit import write_junit
    from patrol.scenarios.runner import ScenarioRun

    if backend is not None and backend not in ("builtin", "sitl"):
        fail(f"--backend {backend!r} is not known; use builtin or sitl")
    try:
        settings = Settings.load()
    except ConfigError as exc:
        fail(str(exc))
    # Every file is checked (and planned) before anything starts.
    loaded = []
    for path in scenarios:
        try:
            loaded.append(
                load_scenario(
                    path,
                    backend=backend,
                    sitl_copter=settings.sitl_copter,
                    sitl_rover=settings.sitl_rover,
                )
            )
        except ScenarioError as exc:
            fail(str(exc))
    from patrol.scenarios.broker import mosquitto_binary

    if mosquitto_binary() is None:
        fail(
            "scenarios run their own MQTT broker and need the mosquitto binary; install it "
            "(apt install mosquitto) or put it on PATH"
        )
    report_dir = report or settings.reports_dir / "scenarios"
    # Ctrl-C and SIGTERM both unwind through the runner's cleanup, even when this process
    # was started with SIGINT ignored (a background job of a non-interactive shell).
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }
    results = []
    try:
        for scenario in loaded:
            console.print(f"[bold]▶ {scenario.slug}[/]: {scenario.name}")
            result = ScenarioRun(
                scenario,
                report_dir=report_dir,
                progress=lambda message: console.print(
                    f"  {message}", highlight=False, soft_wrap=True
                ),
                sitl_copter=settings.sitl_copter,
                sitl_rover=settings.sitl_rover,
                keep_home=keep,
            ).run()
            results.append(result)
            for verdict in result.verdicts:
                mark = "[green]✔[/]" if verdict.passed else "[red]✘[/]"
                # One line per verdict, never wrapped: CI logs are searched for them.
                console.print(f"  {mark} {verdict.message}", highlight=False, soft_wrap=True)
            if result.error:
                console.print(
                    f"  [red]✘ run error:[/] {result.error}", highlight=False, soft_wrap=True
                )
            state = "[green]通过 PASSED[/]" if result.passed else "[red]未通过 FAILED[/]"
            console.print(
                f"  {state} in {result.wall_s:.1f} s (CPU {result.cpu_s:.1f} s); "
                f"report {result.report}",
                highlight=False,
                soft_wrap=True,
            )
    except KeyboardInterrupt:
        console.print("interrupted: everything the run started has been stopped")
        raise typer.Exit(130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if junit is not None:
        write_junit(results, junit)
    failed = [r for r in results if not r.passed]
    if json_output:
        emit_json(
            {
                "passed": not failed,
                "scenarios": [
                    {
                        "scenario": r.path,
                        "name": r.name,
                        "passed": r.passed,
                        "error": r.error,
                        "wall_s": r.wall_s,
                        "cpu_s": r.cpu_s,
                        "report": r.report,
                        "expectations": [v.to_dict() for v in r.verdicts],
                    }
                    for r in results
                ],
            }
        )
    console.print(f"{len(results) - len(failed)} of {len(results)} scenarios passed")
    if failed:
        raise typer.Exit(1)
