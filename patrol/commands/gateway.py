"""`patrol gateway serve`: the REST API and the web console."""

from __future__ import annotations

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, fail
from patrol.services import port_open

app = typer.Typer(help="网关与控制台 (Serve the API and the web console).", no_args_is_help=True)


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, min=1, max=65535, help="Port (default 8600)."),
) -> None:
    """Serve the REST API (/api, /openapi.json) and the web console (/)."""
    import uvicorn

    from cases.db import upgrade
    from gateway.app import GatewayConfig, create_app

    try:
        settings = Settings.load()
        settings.ensure_dirs()
    except ConfigError as exc:
        fail(str(exc))
    host = host or settings.gateway_host
    port = port or settings.gateway_port
    if port_open(host, port):
        fail(f"port {port} on {host} is already in use; pass --port with a free port")
    upgrade(settings.database_url)
    app_ = create_app(GatewayConfig(settings.database_url, settings.media_dir))
    console.print(f"控制台 console: http://{host}:{port}/   API: http://{host}:{port}/docs")
    uvicorn.run(app_, host=host, port=port, log_level="warning")
