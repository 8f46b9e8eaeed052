"""`patrol run`: the long-running service — gateway (API, console, live stream), evidence
ingest and the patrol scheduler, in one process.

One `patrol.ground.Ground` holds the database, the broker and the evidence ingest (one worker
for every vehicle of the broker): with `--simulate`, scheduled runs (`EngineLauncher`) and
console launches (`SortieLauncher`) fly through the sortie engine on that same ground, so
their evidence is ingested once, by it. Starting, it closes the sorties a crashed process
left open.

SIGTERM or SIGINT stops it cleanly: the gateway stops accepting requests and finishes the
ones in progress, sorties in the air are brought home (RTL) and recorded as aborted, the
ingest acknowledges what it stored, and the process exits 0 within about 20 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from typing import Any

import typer

from patrol.output import console, emit_json, fail

app = typer.Typer(help="运行服务 (Run the gateway, ingest and scheduler).", add_completion=False)

log = logging.getLogger("patrol.run")


class _NoLauncher:
    """Without --simulate there is no vehicle back end here: every run is blocked at the
    `connected` gate, and the supervisor is told, instead of silently flying nothing."""

    async def connect(self, job: Any) -> Any:
        from patrol.scheduler.launcher import LaunchError

        raise LaunchError("no vehicle launcher is configured (start `patrol run --simulate`)")


@app.command()
def run(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, min=1, max=65535, help="Port (default 8600)."),
    simulate: bool = typer.Option(
        False, "--simulate", help="Fly scheduled and console sorties on the built-in simulator."
    ),
    speedup: float = typer.Option(5.0, min=0.1, max=1000.0, help="Simulator speed-up."),
    head_interval: float = typer.Option(60.0, min=1.0, help="Seconds between signed heads."),
    shutdown_timeout: float = typer.Option(
        15.0, min=1.0, max=300.0, help="Seconds a clean stop may take before it is forced."
    ),
    as_json: bool = typer.Option(False, "--json", help="On exit, print one JSON summary."),
) -> None:
    """运行服务：网关、证据接收、巡查计划 (Gateway, ingest and scheduler until SIGTERM/SIGINT)."""
    # A stop asked for while starting up (imports take seconds on a loaded machine) is
    # honoured as soon as the service is up.
    early_stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_stop.append(signum))
    import uvicorn

    from cases.audit import HeadIssuer, LogKey
    from cases.db import session_factory
    from cases.workdays import load_holiday_table
    from gateway.app import GatewayConfig, create_app
    from patrol.commands.calendar import HOLIDAYS_FILE
    from patrol.commands.gateway import LOG_KEY_FILE, _settings, token_secret
    from patrol.gateway_launcher import SortieLauncher
    from patrol.ground import Ground
    from patrol.scheduler import EngineLauncher, EventNotifier, Scheduler
    from patrol.services import port_open

    settings = _settings()
    host = host or settings.gateway_host
    port = port or settings.gateway_port
    if port_open(host, port):
        fail(f"port {port} on {host} is already in use; pass --port with a free port")
    holidays = settings.home / HOLIDAYS_FILE
    extra = [load_holiday_table(holidays)] if holidays.is_file() else []
    tag = hashlib.sha256(str(settings.home).encode("utf-8")).hexdigest()[:8]
    stops: list[Any] = []
    started = time.monotonic()
    summary: dict[str, Any] = {}
    try:
        # Database (migrated), broker and the one ingest of this service; a week-long
        # broker session, so evidence sent while the service restarts is kept for it.
        ground = Ground(settings, ingest_all=True, ingest_session_expiry_s=7 * 24 * 3600)
        stops.append(ground.stop)
        ground.start()
        broker = ground.broker
        assert broker is not None
        if ground.recovered:
            console.print(
                f"patrol run: {len(ground.recovered)} 架次中断 sorties left open by a stopped "
                f"process recorded interrupted: {', '.join(ground.recovered)}"
            )
        log_key = LogKey.load_or_create(settings.keys_dir / LOG_KEY_FILE)
        config = GatewayConfig(
            settings.database_url,
            settings.media_dir,
            secret_key=token_secret(settings.keys_dir),
            home=settings.home,
            log_key=log_key,
            mqtt_host=broker.host,
            mqtt_port=broker.port,
            launcher=SortieLauncher(ground, speedup=speedup) if simulate else None,
        )
        app_ = create_app(config)
        sessions = app_.state.sessions
        issuer = HeadIssuer(session_factory(app_.state.engine), log_key, interval_s=head_interval)
        issuer.start()
        stops.append(issuer.stop)
        notifier = EventNotifier(broker.host, broker.port, client_id=f"fieldpatrol-scheduler-{tag}")
        notifier.start()
        stops.append(notifier.stop)
        launcher: Any = EngineLauncher(ground, speedup=speedup) if simulate else _NoLauncher()
        scheduler = Scheduler(
            sessions,
            launcher,
            notifier=notifier,
            calendar_tables=extra,
            # Views come from worker threads too: the hub hands them to its loop.
            on_view=lambda view: app_.state.hub.publish_threadsafe(view),
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app_,
                host=host,
                port=port,
                log_level="warning",
                timeout_graceful_shutdown=max(1, int(shutdown_timeout / 2)),
            )
        )

        async def main() -> None:
            # A signal before uvicorn installs its handlers (or after it restores ours) still
            # stops the service.
            loop = asyncio.get_running_loop()

            def stop_all(*_: Any) -> None:
                server.should_exit = True
                loop.call_soon_threadsafe(scheduler.request_stop)

            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, stop_all)
            if early_stop:
                stop_all()
            sched_task = asyncio.create_task(scheduler.run())
            console.print(
                f"patrol run: 控制台 console http://{host}:{port}/  broker {broker.url} "
                f"({broker.kind})  scheduler on, launcher "
                f"{'simulator' if simulate else 'none (runs are blocked)'}"
            )
            try:
                await server.serve()
            finally:
                # uvicorn returns once it stopped serving (SIGTERM/SIGINT caught by it).
                scheduler.request_stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sched_task, shutdown_timeout)

        asyncio.run(main())
        summary = {
            "stopped": "clean",
            "uptime_s": round(time.monotonic() - started, 1),
            "notifications": len(scheduler.notifications),
            "broker": broker.url,
        }
    finally:
        while stops:
            with contextlib.suppress(Exception):
                stops.pop()()
    if as_json:
        emit_json(summary)
    else:
        console.print("patrol run: stopped cleanly")
