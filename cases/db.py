"""Database engines, sessions and programmatic Alembic migrations for the case record.

SQLite is the zero-set-up default (one file under ``$FIELDPATROL_HOME``); PostgreSQL is the
production database. Both go through :func:`make_engine` so every connection gets the same
settings (SQLite: WAL journal, foreign keys enforced, a busy timeout so concurrent writers
wait instead of failing at once, and real transactions around savepoints).

Python's sqlite3 module (legacy transaction control) opens a transaction only before an
INSERT/UPDATE/DELETE. A transaction whose first statement is a SAVEPOINT
(``Session.begin_nested``) would therefore run outside any transaction: the RELEASE
commits at once and an outer rollback undoes nothing. Every SQLite engine emits a
``BEGIN`` before such a savepoint. An engine made with ``sqlite_immediate=True`` goes
further: the driver leaves transactions to SQLAlchemy and each one starts with
``BEGIN IMMEDIATE`` (SQLAlchemy's documented recipe); that takes the write lock at once,
right for a process whose transactions all write (the ingest), since a deferred
transaction that has read cannot wait for the lock when it then writes.
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


def _begin_before_savepoint(conn: Any, _name: str | None) -> None:
    # A savepoint as the first statement of a transaction: open the transaction first
    # (the driver would not), so that the savepoint nests in it.
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:
        conn.exec_driver_sql("BEGIN")


def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, sqlite_immediate: bool = False, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    SQLite connections get WAL, foreign keys and a busy timeout, and savepoints always
    nest in a real transaction; the parent directory of a SQLite file is created if
    missing. ``sqlite_immediate`` (SQLite only, ignored otherwise): every transaction
    starts with ``BEGIN IMMEDIATE``, for engines whose transactions all write.
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
        if sqlite_immediate:
            event.listen(engine, "connect", _no_driver_transactions)
            event.listen(engine, "begin", _begin_immediate)
        else:
            event.listen(engine, "savepoint", _begin_before_savepoint)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def param_mark(conn: Any) -> str:
    """The driver's parameter mark for SQL sent past SQLAlchemy (``exec_driver_sql``):
    ``?`` for sqlite3, ``%s`` for psycopg."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


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
