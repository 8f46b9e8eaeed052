"""Shared fixtures: an isolated FieldPatrol home, and the real services of the machine.

Mosquitto on 127.0.0.1:1883 and PostgreSQL on 127.0.0.1:5432 (database `test`) are real
services started by `.ci/run`; tests that need them fail loudly when they are down rather than
skip, since CI always has them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "FIELDPATROL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def fieldpatrol_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty FIELDPATROL_HOME for this test, with no inherited configuration."""
    home = tmp_path / "home"
    monkeypatch.setenv("FIELDPATROL_HOME", str(home))
    for name in ("FIELDPATROL_DATABASE_URL", "FIELDPATROL_MQTT_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on the local server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"fp_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _sitl_binaries() -> dict[str, str | None]:
    return {
        "copter": os.environ.get("FIELDPATROL_SITL_COPTER"),
        "rover": os.environ.get("FIELDPATROL_SITL_ROVER"),
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `sitl` tests, saying why, when the ArduPilot SITL binaries are not configured."""
    binaries = _sitl_binaries()
    missing = [
        f"FIELDPATROL_SITL_{kind.upper()}"
        for kind, path in binaries.items()
        if not path or not os.access(path, os.X_OK)
    ]
    if len(missing) < len(binaries):
        return  # at least one binary exists; tests check for the one they need
    reason = (
        "ArduPilot SITL not available: set "
        + " and ".join(missing)
        + " to the arducopter / ardurover binaries to run this test"
    )
    for item in items:
        if "sitl" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))
