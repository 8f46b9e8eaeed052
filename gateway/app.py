"""The FastAPI application: REST API under /api, the web console at /, OpenAPI at /openapi.json.

`create_app` takes its settings as arguments (patrol/ reads the configuration and passes them).
Errors are RFC 9457 problem details (`application/problem+json`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cases.db import make_engine, session_factory

CONSOLE_DIR = Path(__file__).parent / "console"


@dataclass(frozen=True)
class GatewayConfig:
    """What the gateway needs to know; built by `patrol gateway serve` from the settings."""

    database_url: str
    media_dir: Path
    title: str = "FieldPatrol 巡查执法网关"


def _problem(status: int, title: str, detail: str, instance: str) -> JSONResponse:
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
    )


def create_app(config: GatewayConfig) -> FastAPI:
    """Build the gateway application for one database and media store."""
    from gateway.api import audit, cases, evidence

    engine = make_engine(config.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title=config.title,
        version="1",
        description="REST API of FieldPatrol: evidence, cases and the audit log.",
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.sessions = session_factory(engine)

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        return _problem(exc.status_code, title, str(exc.detail), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}"
            for err in exc.errors()
        )
        return _problem(422, "invalid request", detail, request.url.path)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(cases.router, prefix="/api")
    app.include_router(evidence.router, prefix="/api")
    app.include_router(audit.router, prefix="/api")
    app.mount("/", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app
