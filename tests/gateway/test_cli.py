"""`patrol gateway user add|list`: accounts that can then log in to the API."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.app import GatewayConfig, create_app
from patrol.commands.gateway import app


def test_user_add_then_login(fieldpatrol_home: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "user",
            "add",
            "wang",
            "--name",
            "王五",
            "--role",
            "supervisor",
            "--department",
            "CG",
            "--password",
            "long-password-1",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["created"] is True
    short = runner.invoke(
        app, ["user", "add", "li", "--name", "李", "--role", "inspector", "--password", "short"]
    )
    assert short.exit_code == 1 and "too short" in short.output
    bad_role = runner.invoke(
        app,
        ["user", "add", "zhao", "--name", "赵", "--role", "pilot", "--password", "long-password-1"],
    )
    assert bad_role.exit_code == 1 and "role" in bad_role.output
    listed = json.loads(runner.invoke(app, ["user", "list", "--json"]).stdout)["users"]
    assert [(u["username"], u["can_log_in"]) for u in listed] == [("wang", True)]
    url = f"sqlite:///{fieldpatrol_home / 'fieldpatrol.db'}"
    with TestClient(create_app(GatewayConfig(url, fieldpatrol_home / "media"))) as c:
        ok = c.post("/api/auth/token", data={"username": "wang", "password": "long-password-1"})
        assert ok.status_code == 200
