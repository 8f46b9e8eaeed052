"""Real transactions on SQLite: make pysqlite emit BEGIN, so SAVEPOINTs nest correctly.

Python's sqlite3 module (legacy transaction control) opens a transaction only before an
INSERT/UPDATE/DELETE. A session whose first statement is a SAVEPOINT (``begin_nested``)
therefore runs outside any transaction: the RELEASE commits at once, an outer rollback
undoes nothing, and every savepoint costs a commit. This applies SQLAlchemy's documented
recipe (driver autocommit off, explicit ``BEGIN`` when a transaction starts) to an engine.

It belongs in ``cases.db.make_engine``; until then the ingest applies it to its own engine
(on the same database file) so that other users of the caller's engine are not affected.
"""

from typing import Any

from sqlalchemy import Engine, event

_MARK = "_fieldpatrol_sqlite_begin"


def ensure_sqlite_transactions(engine: Engine, *, immediate: bool = False) -> None:
    """Install the BEGIN recipe on a SQLite ``engine`` (no-op for other databases).

    ``immediate`` starts each transaction with ``BEGIN IMMEDIATE`` (takes the write lock at
    once, waiting up to the busy timeout): right for an engine whose transactions all
    write, like the ingest's, because a deferred transaction that reads first cannot wait
    for the lock when it later writes.
    """
    if engine.dialect.name != "sqlite" or getattr(engine, _MARK, False):
        return
    setattr(engine, _MARK, True)

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Connections made before the hook was installed still have the legacy mode.
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and dbapi.isolation_level is not None:
            dbapi.isolation_level = None
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
