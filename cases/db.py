"""Database engines, sessions and programmatic Alembic migrations for the case record.

SQLite is the zero-set-up default (one file under ``$FIELDPATROL_HOME``); PostgreSQL is the
production database. Both go through :func:`make_engine` so every connection gets the same
settings (SQLite: WAL journal, foreign keys enforced, a busy timeout so concurrent writers
wait instead of failing at once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from cases.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: How long (milliseconds) a SQLite writer waits for the lock held by another writer.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (web console, reports) run while the ingest writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    SQLite connections get WAL, foreign keys and a busy timeout; the parent directory of a
    SQLite file is created if missing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"database URL {url!r}: cannot create the folder {folder} ({exc.strerror}); "
                    "name a writable place for the SQLite file"
                ) from None
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (objects stay readable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str, engine: Engine | None = None) -> Config:
    """An Alembic configuration built in code (no ``alembic.ini``) for ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The URL goes through attributes, not the ini parser, so '%' in passwords is harmless.
    cfg.attributes["url"] = url
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Run the migrations in ``cases/migrations`` up to ``revision`` (default: head)."""
    command.upgrade(alembic_config(url, engine), revision)


def downgrade(url: str, revision: str = "base", engine: Engine | None = None) -> None:
    """Undo migrations down to ``revision`` (default: an empty database)."""
    command.downgrade(alembic_config(url, engine), revision)


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it has no migrations."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
