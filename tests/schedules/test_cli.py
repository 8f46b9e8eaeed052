"""`patrol schedule ...` in-process against a real SQLite home: JSON output, and bad input as
one line naming the field, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from patrol.cli import app
from tests.schedules.conftest import SITE_FILE

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


ADD = ["schedule", "add", "--name", "工业园巡查", "--rrule", "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9"]


def test_add_list_pause_resume_remove_json(fieldpatrol_home: Path) -> None:
    code, out, err = run(
        *ADD, "--site", str(SITE_FILE), "--vehicle", "uav-1", "--window", "daylight", "--json"
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["site_id"] == "yuhong-t-site" and made["window"] == "daylight"
    assert made["vehicles"] == ["uav-1"] and made["missed_policy"] == "run_once_late"
    assert made["next_due"].endswith("T01:00:00+00:00")  # 09:00 Asia/Shanghai
    sid = str(made["id"])

    code, out, _ = run("schedule", "list", "--json")
    assert code == 0 and [s["id"] for s in json.loads(out)["schedules"]] == [made["id"]]
    for verb, state in (("pause", "paused"), ("resume", "active"), ("remove", "removed")):
        code, out, err = run("schedule", verb, sid, "--json")
        assert code == 0 and json.loads(out)["state"] == state, err
    assert json.loads(run("schedule", "list", "--json")[1])["schedules"] == []
    assert len(json.loads(run("schedule", "list", "--all", "--json")[1])["schedules"]) == 1
    code, out, _ = run("schedule", "runs", sid, "--json")
    assert code == 0 and json.loads(out) == {"schedule_id": made["id"], "runs": []}


BAD = [
    (["--rrule", "FREQ=FORTNIGHTLY"], "error: rrule: 'FREQ=FORTNIGHTLY' is not a valid"),
    (["--site", "no-such-site"], "error: site: 'no-such-site' is not in the database"),
    (["--window", "18:00-06:00"], "error: window: end 06:00 is not after start 18:00"),
    (["--window", "9am-5pm"], "error: window: '9am-5pm' is not 'daylight' or 'HH:MM-HH:MM'"),
    (["--missed", "later"], "error: missed: 'later' is not a missed-run policy"),
    (["--timezone", "Mars/Olympus"], "error: timezone: 'Mars/Olympus' is not a known"),
    (["--start", "next monday"], "error: start: 'next monday' is not an ISO date/time"),
    (["--pattern", "survey", "--vehicle-kind", "rover"], "error: mission.pattern: only a"),
    (["--vehicle", "uav 2"], "error: vehicles: 'uav 2' is not a vehicle id"),
    # uav-1 already flies the first schedule at 09:00 every day.
    (["--rrule", "FREQ=DAILY;BYHOUR=9;BYMINUTE=2"], "error: vehicles: the sortie of"),
]


def test_bad_input_is_one_line_naming_the_field(fieldpatrol_home: Path) -> None:
    base = [*ADD, "--site", str(SITE_FILE), "--vehicle", "uav-1"]
    code, _, err = run(*base[:4], "--rrule", "FREQ=DAILY;BYHOUR=9", *base[6:])
    assert code == 0, err
    for args, starts in BAD:
        code, out, err = run(*base, *args)
        assert code == 1 and out == "", (args, out)
        assert err.startswith(starts), (args, err)
        assert len(err.strip().splitlines()) == 1, (args, err)
    # Nothing was stored by the refused commands.
    assert len(json.loads(run("schedule", "list", "--json")[1])["schedules"]) == 1


def test_no_fly_window(fieldpatrol_home: Path) -> None:
    code, out, err = run(
        "schedule",
        "no-fly",
        "--from",
        "2026-12-01T08:00",
        "--to",
        "2026-12-01T12:00",
        "--reason",
        "空域管制",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["from"] == "2026-12-01T00:00:00+00:00"
    code, out, err = run(
        "schedule", "no-fly", "--from", "2026-12-01T08:00", "--to", "2026-12-01T07:00"
    )
    assert code == 1 and err.startswith("error: to: ") and len(err.strip().splitlines()) == 1
