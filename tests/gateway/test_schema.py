"""The gateway's tables come from the migrations: an unmigrated database is refused with a
clear message, and a database whose gateway created its tables itself (before revision
0003_gateway) is adopted with its rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from cases.db import current_revision, make_engine, session_factory, upgrade
from gateway.app import GatewayConfig, create_app
from gateway.errors import GatewayError
from gateway.models import Credential, GatewayBase, check_schema


def test_app_refuses_a_database_without_the_gateway_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002_audit")
    with pytest.raises(GatewayError, match=r"gateway_credentials.*run its migrations"):
        create_app(GatewayConfig(url, tmp_path / "media"))
    upgrade(url)
    engine = make_engine(url)
    try:
        check_schema(engine)  # migrated: accepted
    finally:
        engine.dispose()


def test_migration_adopts_tables_an_older_gateway_created(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    url = f"sqlite:///{tmp_path / 'adopt.db'}"
    upgrade(url, "0002_audit")
    engine = make_engine(url)
    try:
        # What gateways before 0003_gateway did at start-up.
        GatewayBase.metadata.create_all(engine)
        with session_factory(engine)() as session:
            session.add(Credential(user_id=7, password_hash="h", updated_at=datetime.now(UTC)))
            session.commit()
        upgrade(url)
        assert current_revision(url) is not None
        with session_factory(engine)() as session:
            assert session.scalars(select(Credential.user_id)).all() == [7]
    finally:
        engine.dispose()
