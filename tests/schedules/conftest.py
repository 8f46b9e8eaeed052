"""Fixtures of the schedule tests: a migrated SQLite database with a site of a unique id (so
tests sharing the machine's Mosquitto never see each other's events)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cases.db import make_engine, session_factory, upgrade
from cases.models import SiteRecord

REPO = Path(__file__).resolve().parents[2]
SITE_FILE = REPO / "examples" / "sites" / "yuhong-t-site.geojson"


def site_geojson(site_id: str) -> dict[str, Any]:
    geo = json.loads(SITE_FILE.read_text(encoding="utf-8"))
    geo.setdefault("properties", {})["id"] = site_id
    return geo


@dataclass
class Db:
    url: str
    sessions: sessionmaker[Session]
    site_id: str


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    url = f"sqlite:///{tmp_path / 'fieldpatrol.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    site_id = f"sched-{uuid.uuid4().hex[:8]}"
    with sessions() as session:
        session.add(
            SiteRecord(id=site_id, name="于洪 T", department_id="CG", geojson=site_geojson(site_id))
        )
        session.commit()
    try:
        yield Db(url, sessions, site_id)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """The same database set-up on SQLite and on the machine's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fieldpatrol.db'}"
    else:
        url = request.getfixturevalue("postgres_database_url")
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    site_id = f"sched-{uuid.uuid4().hex[:8]}"
    with sessions() as session:
        session.add(
            SiteRecord(id=site_id, name="于洪 T", department_id="CG", geojson=site_geojson(site_id))
        )
        session.commit()
    try:
        yield Db(url, sessions, site_id)
    finally:
        engine.dispose()
