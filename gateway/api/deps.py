"""Dependencies shared by the routers: a database session per request, pagination."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Query, Request
from sqlalchemy.orm import Session


def db_session(request: Request) -> Iterator[Session]:
    """One session per request, closed afterwards."""
    with request.app.state.sessions() as session:
        yield session


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    limit: int = Query(50, ge=1, le=500, description="Items per page."),
    offset: int = Query(0, ge=0, le=10_000_000, description="Items to skip."),
) -> Page:
    return Page(limit, offset)
