"""Fixtures for the case-record tests: real SQLite files and a real PostgreSQL database.

Migrations run once per backend per session into a template; each test gets a fresh
copy (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL), so tests
are isolated and fast. PostgreSQL databases carry a random suffix and are dropped after.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from cases.db import make_engine, session_factory, upgrade

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_url(dbname: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def pg_available() -> bool:
    try:
        eng = _pg_admin()
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def pg_create(name: str, template: str | None = None) -> None:
    eng = _pg_admin()
    with eng.connect() as c:
        tpl = f" TEMPLATE {template}" if template else ""
        c.execute(text(f'CREATE DATABASE "{name}"{tpl}'))
    eng.dispose()


def pg_drop(name: str) -> None:
    eng = _pg_admin()
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not pg_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name = f"fp_cases_tpl_{uuid.uuid4().hex[:10]}"
    pg_create(name)
    try:
        eng = make_engine(pg_url(name))
        upgrade(pg_url(name), engine=eng)
        eng.dispose()
        yield name
    finally:
        pg_drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        tpl: Path = request.getfixturevalue("sqlite_template")
        dst = tmp_path / "fieldpatrol.db"
        shutil.copyfile(tpl, dst)
        yield f"sqlite:///{dst}"
    else:
        template: str = request.getfixturevalue("pg_template")
        name = f"fp_cases_{uuid.uuid4().hex[:10]}"
        pg_create(name, template)
        try:
            yield pg_url(name)
        finally:
            pg_drop(name)


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database (for tests that need only one backend)."""
    dst = tmp_path / "fieldpatrol.db"
    shutil.copyfile(sqlite_template, dst)
    return f"sqlite:///{dst}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s


@pytest.fixture
def sqlite_session(sqlite_url: str) -> Iterator[Session]:
    eng = make_engine(sqlite_url)
    with session_factory(eng)() as s:
        yield s
    eng.dispose()
