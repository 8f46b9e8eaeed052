"""`patrol sim start`: the URL on the first stdout line, a vehicle that answers there, a clean
exit on SIGTERM/SIGINT, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.vehicle.gcs import GroundStation

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "examples" / "sites" / "shenyang-hunhe.geojson"


def patrol(args: list[str], home: Path, **env: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPATROL_")}
    environ.update({"FIELDPATROL_HOME": str(home), **env})
    return subprocess.Popen(
        [sys.executable, "-m", "patrol.cli", *args],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM])  # SIGINT (Ctrl-C) takes the same handler
def test_sim_start_json_first_line_and_clean_stop(tmp_path: Path, sig: int) -> None:
    proc = patrol(
        ["sim", "start", "--vehicle", "rover", "--sysid", "5", "--speedup", "10", "--json",
         "--site", str(SITE)],
        tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["url"].startswith("tcp:127.0.0.1:")
        assert first["vehicle"] == "rover" and first["sysid"] == 5
        with GroundStation(first["url"], target_system=5) as gcs:
            assert gcs.kind == "rover"
            assert gcs.param_get("SYSID_THISMAV") == 5
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert time.monotonic() - t0 < 3
        assert out == ""  # nothing after the first line
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "sitl"], "FIELDPATROL_SITL_COPTER"),
        (["--backend", "sitl", "--vehicle", "rover"], "FIELDPATROL_SITL_ROVER"),
        (["--vehicle", "plane"], "--vehicle 'plane'"),
        (["--backend", "px4"], "--backend 'px4'"),
        (["--site", "/nonexistent/site.geojson"], "site file"),
    ],
)
def test_user_errors_are_one_line_exit_1(
    fieldpatrol_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    from patrol.cli import main

    for var in ("FIELDPATROL_SITL_COPTER", "FIELDPATROL_SITL_ROVER"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "start", *args])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err
