"""A sortie left "flying" by a process that died (SIGKILL mid-flight, a real sortie on the
built-in simulator) is recorded "interrupted" when the next ground starts, with an audit
entry, and `patrol fleet status` no longer shows its vehicle flying; a sortie another live
process holds is left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from cases.audit import AuditEntry
from cases.models import Sortie
from patrol.cli import app
from patrol.config import Settings
from patrol.ground import Ground
from patrol.sortie import SortieRun, SortieSpec

from .conftest import field_site

#: Flies one sortie (flight only) and says so once it is in the air, then waits to be killed.
CRASHING = """
import sys, time
from patrol.config import Settings
from patrol.ground import Ground
from patrol.sortie import SortieRun, SortieSpec

ground = Ground(Settings.load()).start(broker=False)
spec = SortieSpec(site=sys.argv[1], vehicle_id="uav-crash", sortie_id="S-crash", vision=False,
                  speedup=5.0, pattern="perimeter")
run = SortieRun(ground, spec).start()
run.wait_status(("flying",), 60)
print("flying", flush=True)
time.sleep(120)
"""


def test_a_crashed_process_sortie_is_recovered_interrupted(
    fieldpatrol_home: Path, tmp_path: Path
) -> None:
    site = field_site(tmp_path / "field.geojson", 200, 120)
    env = {**os.environ, "FIELDPATROL_HOME": str(fieldpatrol_home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING, str(site)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "flying", proc.stderr.read() if proc.stderr else ""
        # While it flies, another ground on the same data directory leaves it alone.
        with Ground(Settings.load()).start(broker=False) as other:
            assert other.recovered == []
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    # The record still says flying: the process could not write anything more.
    settings = Settings.load()
    probe = Ground(settings)
    probe.open_database()
    with probe.sessions() as s:
        row = s.get(Sortie, "S-crash")
        assert row is not None and row.status == "flying"
    probe.stop()

    result = CliRunner().invoke(app, ["fleet", "status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["recovered"] == ["S-crash"] and status["flying"] == 0
    vehicle = next(v for v in status["vehicles"] if v["vehicle_id"] == "uav-crash")
    assert vehicle["state"] == "interrupted"
    assert [s["status"] for s in status["sorties"] if s["sortie_id"] == "S-crash"] == [
        "interrupted"
    ]
    with Ground(settings).start(broker=False) as ground:
        assert ground.recovered == []  # recovered once
        with ground.sessions() as s:
            row = s.get(Sortie, "S-crash")
            assert row is not None and row.ended_at is not None
            entry = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.subject == "sortie:S-crash",
                    AuditEntry.action == "sortie.interrupted",
                )
            ).one()
        payload = json.loads(entry.payload)
        assert payload["was"] == "flying" and "pid" in payload["reason"]


def test_a_sortie_of_this_live_process_is_not_recovered(
    fieldpatrol_home: Path, tmp_path: Path
) -> None:
    site = field_site(tmp_path / "field.geojson", 200, 120)
    with Ground(Settings.load()).start(broker=False) as ground:
        run = SortieRun(ground, SortieSpec(site=site, vehicle_id="uav-live", vision=False))
        run.prepare()
        with Ground(Settings.load()).start(broker=False) as second:
            assert second.recovered == []
            with second.sessions() as s:
                row = s.get(Sortie, run.sortie_id)
                assert row is not None and row.status == "planned"
        run.abort("test over")
        assert run.start().wait(30).status == "aborted"
