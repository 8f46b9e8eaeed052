"""Fixtures for the case-record tests: real SQLite files and a real PostgreSQL server.

Migrations run once per backend per session. SQLite tests get a copy of the migrated
file. PostgreSQL tests share one migrated schema (random name, dropped at the end) and
each runs inside a transaction that is rolled back, so they are isolated and fast; tests
that need several real connections (races, migrations) get a schema of their own.
PostgreSQL is a service CI always starts, so its absence fails the tests loudly.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from cases.db import make_engine, session_factory, upgrade

PG_ADMIN_URL = os.environ.get(
    "FIELDPATROL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pg_schema_url(schema: str) -> str:
    """The admin URL with ``schema`` first on the search path (tables go there)."""
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    return f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{schema}"


def _admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def pg_create_schema(prefix: str = "fp_cases") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    eng = _admin()
    with eng.connect() as c:
        c.execute(text(f'CREATE SCHEMA "{name}"'))
    eng.dispose()
    return name


def pg_drop_schema(name: str) -> None:
    eng = _admin()
    with eng.connect() as c:
        # Never hang a test run on a lock some crashed connection still holds.
        c.execute(text("SET lock_timeout = '20s'"))
        c.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    eng.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_shared_url() -> Iterator[str]:
    """A migrated PostgreSQL schema shared by the rolled-back tests of this session."""
    schema = pg_create_schema("fp_cases_shared")
    try:
        upgrade(pg_schema_url(schema))
        yield pg_schema_url(schema)
    finally:
        pg_drop_schema(schema)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL schema of this test's own (not migrated), dropped after."""
    schema = pg_create_schema()
    try:
        yield pg_schema_url(schema)
    finally:
        pg_drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL of this test's own, on each backend."""
    if request.param == "sqlite":
        tpl: Path = request.getfixturevalue("sqlite_template")
        dst = tmp_path / "fieldpatrol.db"
        shutil.copyfile(tpl, dst)
        yield f"sqlite:///{dst}"
    else:
        url: str = request.getfixturevalue("pg_url")
        upgrade(url)
        yield url


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


@pytest.fixture(params=["sqlite", "postgresql"])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    """A session on a migrated, empty database of each backend (commits allowed)."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        eng = make_engine(url)
        with session_factory(eng)() as s:
            yield s
        eng.dispose()
        return
    shared: str = request.getfixturevalue("pg_shared_url")
    eng = make_engine(shared)
    conn = eng.connect()
    outer = conn.begin()
    # The test's commits become savepoints of this outer transaction, rolled back after.
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        try:
            s.close()
            outer.rollback()
        finally:
            conn.close()
            eng.dispose()


@pytest.fixture
def sqlite_session(sqlite_url: str) -> Iterator[Session]:
    eng = make_engine(sqlite_url)
    with session_factory(eng)() as s:
        yield s
    eng.dispose()
