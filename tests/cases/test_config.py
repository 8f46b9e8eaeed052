"""Procedure configuration: local thresholds and roles come from a file, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cases.config import load_procedure_config
from cases.errors import CasesError, ProcedureError

from .scenario import World


def test_local_hearing_threshold_and_roles(tmp_path: Path, sqlite_session: Session) -> None:
    path = tmp_path / "procedure.yaml"
    path.write_text(
        "hearing_fine_individual_yuan: 2000\nroles:\n  confirm: [inspector, head]\n",
        encoding="utf-8",
    )
    cfg = load_procedure_config(path)
    assert cfg.hearing_fine_individual_yuan == 2000 and cfg.roles_for("confirm") == (
        "inspector",
        "head",
    )
    world = World(sqlite_session)
    world.step("confirm", actor=world.head, config=cfg)  # allowed by the local role table
    for action in ("file", "investigate", "review_evidence"):
        world.step(action, config=cfg)
    world.step("end_investigation", data=world.valid_data("end_investigation", 3000), config=cfg)
    assert world.case.hearing_required  # 3,000 >= the local 2,000 threshold
    with pytest.raises(ProcedureError, match="role_not_allowed"):
        world.step("notify", actor=world.head, config=cfg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hearing_fine_individual_yuan: -5\n", "must be an integer >= 0"),
        ("hearing_threshold: 5\n", "unknown keys"),
        ("roles:\n  decide: [janitor]\n", "unknown roles"),
        ("roles:\n  fly: [head]\n", "is not an action"),
    ],
)
def test_bad_config_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "procedure.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CasesError, match=message):
        load_procedure_config(path)
