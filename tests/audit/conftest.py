"""Fixtures for the audit-log tests: migrated SQLite and PostgreSQL databases and a log key.

Migrations run once per backend into a template; each test gets a fresh copy (a file copy
for SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL, named with a random suffix and
dropped afterwards), so tamper tests never see each other's damage.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from cases.audit import LogKey
from cases.db import make_engine, session_factory, upgrade

PG_ADMIN_URL = os.environ.get(
    "FIELDPATROL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]


def _admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg(sql: str) -> None:
    eng = _admin()
    try:
        with eng.connect() as conn:
            conn.execute(text(sql))
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit_tpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One migrated PostgreSQL database for this test run (random name, dropped after)."""
    name = f"audit_test_{uuid.uuid4().hex[:10]}"
    _pg(f'CREATE DATABASE "{name}"')
    try:
        upgrade(f"{PG_BASE}/{name}")
        yield f"{PG_BASE}/{name}"
    finally:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_audit_tables(url: str) -> None:
    # Cloning a database per test costs ~1.5 s here; emptying the audit tables is instant.
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(text("TRUNCATE audit_entries, audit_nodes, audit_heads"))
            conn.execute(text("UPDATE audit_state SET size = 0, peaks = ''::bytea"))
    finally:
        eng.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A freshly migrated SQLite database file."""
    path = tmp_path / "audit.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database with an empty audit log, on each backend."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    url = request.getfixturevalue("pg_database")
    _empty_audit_tables(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


@pytest.fixture
def log_key(tmp_path: Path) -> LogKey:
    return LogKey.load_or_create(tmp_path / "keys" / "audit-log.key")
