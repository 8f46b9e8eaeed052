"""The FastAPI application: REST API under /api, the web console at /, OpenAPI at /openapi.json.

`create_app` takes its settings as arguments (patrol/ reads the configuration and passes them).
Errors are RFC 9457 problem details (`application/problem+json`). CORS is closed unless
origins are configured; the console is served from the same origin and needs none.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cases.audit import LogKey
from cases.db import make_engine, session_factory
from cases.errors import CasesError, NotFoundError, ProcedureError
from gateway.api.deps import CountCache
from gateway.auth.ratelimit import RateLimiter
from gateway.models import check_schema

CONSOLE_DIR = Path(__file__).parent / "console"

#: A launcher flies one sortie of a checked mission: `await launcher(request, report)`, where
#: ``request`` holds sortie_id, mission_id, site_id, vehicle_id, vehicle, items, fence, rally
#: (MissionItem dicts), summary (the checked plan's figures), path_lonlat and site_geojson,
#: and ``report(view)`` takes live views (position, progress, fence, evidence dicts as in
#: `gateway.live`). It returns the outcome (``{"status": "completed"|"failed", ...}``);
#: cancelling it aborts the sortie. A launcher with ``records_sortie = True`` keeps the
#: `sorties` row and its audit entries itself (the gateway then only inserts the row at launch).
#: `patrol gateway serve --simulate` passes one built on patrol's sortie engine (gateway never
#: imports simulators, vision or patrol).
Launcher = Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class GatewayConfig:
    """What the gateway needs to know; built by `patrol gateway serve` from the settings."""

    database_url: str
    media_dir: Path
    title: str = "FieldPatrol 巡查执法网关"
    #: Signs session and bearer tokens; a random one per process logs everyone out on restart.
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    #: Data directory: documents, exports (None: a temporary one under media_dir's parent).
    home: Path | None = None
    #: The audit log key (signed tree heads, proofs, exports); None: heads/proofs unavailable.
    log_key: LogKey | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    secure_cookies: bool = False
    login_per_minute: float = 10.0
    login_burst: int = 5
    public_per_minute: float = 30.0
    public_burst: int = 10
    #: Broker for the live stream and MQTT push (None: no live stream, no MQTT push).
    mqtt_host: str | None = None
    mqtt_port: int = 1883
    launcher: Launcher | None = field(default=None, repr=False)
    db_pool_size: int = 20
    #: The ingest's counters (`gateway.ingest.metrics.IngestMetrics`) when it runs in-process:
    #: appended to /metrics.
    ingest_metrics: Any = field(default=None, repr=False)
    #: How long a large list total (5,000 rows or more) is reused before counting again.
    count_cache_s: float = 2.0
    #: Webhook retry schedule (seconds between attempts).
    webhook_backoff_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)

    @property
    def data_dir(self) -> Path:
        return self.home if self.home is not None else Path(self.media_dir).parent


def _problem(
    status: int,
    title: str,
    detail: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": instance,
        },
        status_code=status,
        media_type="application/problem+json",
        headers=dict(headers) if headers else None,
    )


def create_app(config: GatewayConfig) -> FastAPI:
    """Build the gateway application for one database and media store."""
    from gateway.api import (
        audit,
        auth,
        cases,
        evidence,
        missions,
        public,
        reports,
        schedules,
        sites,
        sorties,
        webhooks,
    )
    from gateway.live import LiveHub
    from gateway.live import router as live_router
    from gateway.metrics import GatewayMetrics
    from gateway.push import Notifier

    # Room for every threadpool worker: an overflow connection is closed on return, and a new
    # SQLite connection costs its pragmas on every request.
    engine = make_engine(config.database_url, pool_size=config.db_pool_size, max_overflow=20)
    check_schema(engine)
    sessions = session_factory(engine)
    metrics = GatewayMetrics(ingest=config.ingest_metrics)
    hub = LiveHub(config.mqtt_host, config.mqtt_port, metrics=metrics)
    notifier = Notifier(sessions, config, metrics=metrics)

    def evidence_push(view: dict[str, Any]) -> None:
        if view.get("kind") == "evidence":
            notifier.notify("evidence.new", view)

    hub.listeners.append(evidence_push)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        notifier.start()
        try:
            yield
        finally:
            # Sorties in flight are aborted (their launcher brings the vehicle home/stops).
            flying = [s["task"] for s in app.state.sorties.values() if s.get("task")]
            for task in flying:
                task.cancel()
            if flying:
                await asyncio.wait(flying, timeout=15)
            await hub.stop()
            notifier.stop()
            engine.dispose()

    app = FastAPI(
        title=config.title,
        version="1",
        description=(
            "REST API of FieldPatrol: sites, missions, sorties, vehicles, evidence, cases, "
            "disclosures, the audit log and reports. Authenticate with the OAuth2 password "
            "flow (`POST /api/auth/token`) and send `Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.metrics = metrics
    app.state.hub = hub
    app.state.notifier = notifier
    app.state.limiters = {
        "login": RateLimiter(config.login_per_minute, config.login_burst),
        "public": RateLimiter(config.public_per_minute, config.public_burst),
    }
    app.state.sorties = {}
    app.state.count_cache = CountCache(ttl_s=config.count_cache_s)

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
            allow_credentials=False,
        )

    @app.middleware("http")
    async def timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.observe_request(
            request.method, path, response.status_code, time.perf_counter() - start
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 304:
            return Response(status_code=304, headers=exc.headers)
        title = HTTPStatus(exc.status_code).phrase
        return _problem(
            exc.status_code, title, str(exc.detail), request.url.path, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}"
            for err in exc.errors()
        )
        return _problem(422, "invalid request", detail, request.url.path)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _problem(404, "Not Found", str(exc), request.url.path)

    @app.exception_handler(ProcedureError)
    async def refused(request: Request, exc: ProcedureError) -> JSONResponse:
        return _problem(409, "procedure refused", str(exc), request.url.path)

    @app.exception_handler(CasesError)
    async def cases_error(request: Request, exc: CasesError) -> JSONResponse:
        return _problem(422, "invalid request", str(exc), request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not a user error: log it, and answer in the same problem format.
        logging.getLogger("gateway").exception("unhandled error on %s", request.url.path)
        return _problem(
            500, "Internal Server Error", "unexpected error; it was logged", request.url.path
        )

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["meta"], summary="Prometheus metrics")
    def prometheus() -> Response:
        body, content_type = metrics.exposition(sessions)
        return Response(body, media_type=content_type)

    for module in (auth, sites, missions, sorties, evidence, cases, audit, reports, webhooks):
        app.include_router(module.router, prefix="/api")
    app.include_router(schedules.router, prefix="/api")
    app.include_router(public.router, prefix="/api/public")
    app.include_router(live_router, prefix="/api")
    app.mount("/", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app
