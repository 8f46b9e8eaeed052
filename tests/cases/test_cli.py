"""The `patrol case|benchmark|report|calendar` commands, in-process against a real SQLite home."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cases.art41 import approve_device, publish_site
from cases.db import make_engine, session_factory, upgrade
from cases.evidence import store_evidence
from cases.intake import attach_to_case
from patrol.cli import app

from .factories import evidence_record
from .scenario import ART41_OK, T0

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_calendar_commands(fieldpatrol_home: Path) -> None:
    assert run("calendar", "add-working-days", "2026-09-30", "3")[:2] == (0, "2026-10-10\n")
    code, out, _ = run("calendar", "is-workday", "2026-10-10")
    assert (code, out) == (0, "true\n")
    code, out, _ = run("calendar", "is-workday", "2026-10-01", "--json")
    assert code == 0 and json.loads(out)["workday"] is False
    code, out, err = run("calendar", "add-working-days", "2026-12-28", "5")
    assert code == 1 and out == "" and "no holiday data for year 2027" in err
    assert len(err.strip().splitlines()) == 1
    fieldpatrol_home.mkdir(parents=True, exist_ok=True)
    (fieldpatrol_home / "holidays.yaml").write_text(
        "2027:\n  holidays: [{date: 2027-01-01, name: 元旦}]\n", encoding="utf-8"
    )
    assert run("calendar", "add-working-days", "2026-12-28", "5")[:2] == (0, "2027-01-05\n")
    assert run("calendar", "is-workday", "not-a-date")[0] == 1


def test_benchmark_commands(tmp_path: Path, fieldpatrol_home: Path) -> None:
    code, out, _ = run("benchmark", "validate", "--json")
    assert code == 0 and len(json.loads(out)["tables"]) == 5
    code, out, _ = run(
        "benchmark",
        "recommend",
        "ZR-ILLEGAL-LAND-OCCUPATION",
        "--area",
        "150",
        "--facts",
        '{"eliminated_harm": true}',
        "--on",
        "2026-11-02",
        "--json",
    )
    rec = json.loads(out)
    assert code == 0 and rec["adjustment"] == "从轻" and rec["max_yuan"] == 67_500
    bad = tmp_path / "bad.yaml"
    src = Path(__file__).resolve().parents[2] / "cases/data/benchmarks/hb-open-burning.yaml"
    bad.write_text(
        src.read_text(encoding="utf-8").replace("from: 10, to: 100", "from: 12, to: 100")
    )
    code, _, err = run("benchmark", "validate", str(bad))
    assert code == 1 and "row HB-OB-2" in err and "gap" in err


@pytest.mark.slow
def test_case_commands_end_to_end(fieldpatrol_home: Path) -> None:
    url = f"sqlite:///{fieldpatrol_home / 'fieldpatrol.db'}"
    upgrade(url)
    for args in (
        [
            "zhang",
            "--name",
            "张伟",
            "--role",
            "inspector",
            "--department",
            "CG",
            "--credential",
            "CG-0001",
        ],
        [
            "li",
            "--name",
            "李娜",
            "--role",
            "inspector",
            "--department",
            "CG",
            "--credential",
            "CG-0002",
        ],
        [
            "zhao",
            "--name",
            "赵局长",
            "--role",
            "head",
            "--department",
            "CG",
            "--credential",
            "CG-H-01",
        ],
    ):
        assert run("case", "user-add", *args)[0] == 0
    engine = make_engine(url)
    with session_factory(engine)() as s:
        approve_device(s, "copter-1", "审〔2026〕3号", datetime(2027, 6, 30).date(), "user:zhao")
        publish_site(
            s, "hunnan-demo", "公告〔2026〕1号", datetime(2026, 1, 5, tzinfo=UTC), "user:zhao"
        )
        rec = evidence_record(captured_at=T0)
        store_evidence(s, rec)
        case = attach_to_case(s, rec.id, at=T0 + timedelta(hours=1))
        s.commit()
        number = case.number
    engine.dispose()

    def at(days: int) -> str:
        return (T0 + timedelta(days=days)).isoformat()

    code, out, _ = run("case", "list", "--json")
    assert code == 0 and json.loads(out)["cases"][0]["number"] == number
    code, _, err = run("case", "step", number, "decide", "--user", "zhao", "--reason", "x")
    assert code == 1 and "step_order" in err and "Art. 38" in err
    code, _, err = run("case", "step", number, "confirm", "--user", "zhao", "--reason", "x")
    assert code == 1 and "role_not_allowed" in err
    assert (
        run(
            "case",
            "step",
            number,
            "confirm",
            "--user",
            "zhang",
            "--reason",
            "现场核实",
            "--at",
            at(1),
        )[0]
        == 0
    )
    filing = {
        "officers": ["zhao", "zhang"],
        "party": {"kind": "individual", "name": "陈某某", "address": "沈阳市浑南区某街1号"},
        "act_date": "2026-05-08",
        "facts": "擅自搭建彩钢板房约30平方米。",
        "source": "无人机巡查",
        "legal_basis": "《城乡规划法》第四十条",
        "handler_opinion": "建议立案",
    }
    code, out, err = run(
        "case",
        "step",
        number,
        "file",
        "--user",
        "zhao",
        "--reason",
        "符合立案标准",
        "--data",
        json.dumps(filing, ensure_ascii=False),
        "--at",
        at(2),
        "--json",
    )
    assert code == 0, err
    step = json.loads(out)
    assert step["to"] == "filed" and step["documents"][0]["number"] == "CG立审〔2026〕1号"
    assert Path(step["documents"][0]["pdf"]).is_file()
    inv = {
        "officers": ["zhang", "li"],
        "credentials_shown": True,
        "place": "现场",
        "findings": "现场有彩钢板房",
    }
    assert (
        run(
            "case",
            "step",
            number,
            "investigate",
            "--user",
            "zhang",
            "--reason",
            "现场检查",
            "--data",
            json.dumps(inv, ensure_ascii=False),
            "--at",
            at(3),
        )[0]
        == 0
    )
    code, _, err = run(
        "case",
        "step",
        number,
        "review_evidence",
        "--user",
        "li",
        "--reason",
        "审核",
        "--data",
        json.dumps({"evidence_id": rec.id, "checks": ART41_OK}),
        "--at",
        at(4),
        "--no-documents",
    )
    assert code == 0, err
    code, out, _ = run("case", "show", number, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["state"] == "investigating"
    assert [s["action"] for s in shown["steps"]] == [
        "confirm",
        "file",
        "investigate",
        "review_evidence",
    ]
    assert shown["evidence"][0]["art41_review"] == "passed"
    assert shown["deadlines"][0]["kind"] == "decision"
    assert shown["applicable_law"]["penalty_basis"].endswith("第六十四条")
    assert "end_investigation" in shown["next_actions"]
    code, out, _ = run("case", "documents", number, "--json")
    kinds = [d["kind"] for d in json.loads(out)["documents"]]
    assert code == 0 and "electronic_evidence_record" in kinds  # rendered on demand

    code, out, err = run("report", "monthly", "--month", "2026-05", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["due_on"] == "2026-06-22"  # 20 June 2026 is a Saturday
    cg = next(r for r in rep["departments"] if r["department"] == "CG")
    assert cg["cases_opened"] == 1 and cg["detections"] == 1
    with Path(rep["files"]["csv"]).open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows[-1]["department"] == "TOTAL" and rows[-1]["cases_opened"] == "1"
    assert Path(rep["files"]["pdf"]).read_bytes()[:4] == b"%PDF"
    assert run("report", "monthly", "--month", "2026-13")[0] == 1
