"""Migrations up and down on SQLite and PostgreSQL, and the models match the migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import cases.audit  # (registers the audit tables on the shared metadata)
import cases.schedules  # noqa: F401  (registers the schedule tables on the shared metadata)
from cases.db import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    downgrade,
    make_engine,
    upgrade,
)
from cases.models import Base
from gateway.models import GatewayBase

#: Every model the migrations must describe: the case record's and the gateway's own tables
#: (on their own metadata, since cases may not import gateway).
METADATA = [Base.metadata, GatewayBase.metadata]

CORE_TABLES = {
    "departments",
    "users",
    "parties",
    "sites",
    "missions",
    "sorties",
    "evidence",
    "media",
    "evidence_media",
    "dead_letters",
    "devices",
    "cases",
    "case_evidence",
    "case_steps",
    "case_deadlines",
    "documents",
    "disclosures",
    "benchmark_tables",
    "holidays",
}
GATEWAY_TABLES = set(GatewayBase.metadata.tables)
SCHEDULE_TABLES = {"schedules", "schedule_runs", "no_fly_windows"}


def test_revision_chain_is_linear_and_starts_with_core() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"several heads: {heads}"
    revs = [r.revision for r in script.walk_revisions()][::-1]
    assert revs[0] == "0001_core"
    assert "0002_audit" in revs and revs.index("0002_audit") == 1
    assert (MIGRATIONS_DIR / "versions").is_dir()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_up_down_up(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (
        f"sqlite:///{tmp_path / 'm.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    upgrade(url)
    head = current_revision(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert tables >= CORE_TABLES | GATEWAY_TABLES | SCHEDULE_TABLES
            # The models and the migrations describe the same schema.
            diffs = compare_metadata(MigrationContext.configure(conn), METADATA)  # type: ignore[arg-type]
            assert diffs == [], diffs
            seeded = conn.exec_driver_sql("select count(*) from departments").scalar()
            assert seeded == 3
    finally:
        engine.dispose()
    downgrade(url, "base")
    assert current_revision(url) is None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert not (
                (CORE_TABLES | GATEWAY_TABLES | SCHEDULE_TABLES)
                & set(inspect(conn).get_table_names())
            )
    finally:
        engine.dispose()
    upgrade(url)
    assert current_revision(url) == head
