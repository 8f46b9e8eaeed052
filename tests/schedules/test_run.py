"""`patrol run` as a real process: gateway, ingest and scheduler together; a schedule falls
due and flies on the simulator; SIGTERM mid-flight stops everything cleanly (exit 0, the
sortie brought home and recorded as aborted, the port released)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from cases.db import make_engine, session_factory
from cases.models import Sortie
from cases.schedules import ScheduleRun
from patrol.cli import app
from patrol.services import free_port, port_open
from tests.schedules.conftest import SITE_FILE


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def test_patrol_run_flies_a_due_schedule_and_stops_cleanly_on_sigterm(
    fieldpatrol_home: Path,
) -> None:
    # Due in a few seconds (after `add` returns: an occurrence before the schedule existed is
    # not a run); the service finds it on time (5-minute grace) however long it takes to start.
    due = datetime.now(UTC) + timedelta(seconds=5)
    result = CliRunner().invoke(
        app,
        [
            "schedule",
            "add",
            "--name",
            "即将巡查",
            "--site",
            str(SITE_FILE),
            "--rrule",
            "FREQ=DAILY",
            "--start",
            due.isoformat(),
            "--vehicle",
            "uav-run",
            "--fly-holidays",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    port = free_port()
    env = {**os.environ, "FIELDPATROL_MQTT_URL": "mqtt://127.0.0.1:1883"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patrol.cli",
            "run",
            "--simulate",
            "--speedup",
            "2",
            "--port",
            str(port),
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = make_engine(f"sqlite:///{fieldpatrol_home / 'fieldpatrol.db'}")
    sessions = session_factory(engine)

    def run_status() -> str | None:
        with sessions() as s:
            row = s.scalar(select(ScheduleRun))
            return None if row is None else row.status

    try:
        _wait(lambda: _healthy(port) or proc.poll() is not None, 30, "the gateway")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        _wait(lambda: run_status() == "launched" or proc.poll() is not None, 40, "the launch")
        assert run_status() == "launched"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        stop_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    try:
        assert proc.returncode == 0, err
        assert json.loads(out)["stopped"] == "clean"
        assert stop_s < 25, stop_s
        assert not port_open("127.0.0.1", port)
        with sessions() as s:
            run = s.scalar(select(ScheduleRun))
            assert run is not None
            assert run.status == "aborted", (run.status, run.reason)
            assert "stopped during the sortie" in run.reason
            assert run.started_at is not None and run.started_at >= run.due_at
            sortie = s.get(Sortie, run.sortie_id)
            assert sortie is not None and sortie.status == "aborted"
        print(f"patrol run: stopped in {stop_s:.1f} s after SIGTERM")
    finally:
        engine.dispose()
