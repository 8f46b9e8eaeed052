"""`patrol audit` and `patrol case export`: real commands on a real data directory.

The commands run in-process through the console-script entry point with a temporary
``FIELDPATROL_HOME`` (SQLite); the export zip is then checked offline and tampered with.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from cases import audit
from cases.audit.export import verify_export
from cases.db import make_engine, session_factory, upgrade
from cases.models import Case, CaseEvidence, Document, Evidence, EvidenceMedia, Media

IMAGE = b"\xff\xd8\xff\xe0 fake jpeg bytes of the frame"


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def patrol(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run `patrol ARGS` in-process (a subprocess costs seconds of imports on this machine)."""
    from patrol.cli import main

    def run(home: Path, *args: str) -> Result:
        monkeypatch.setenv("FIELDPATROL_HOME", str(home))
        monkeypatch.delenv("FIELDPATROL_DATABASE_URL", raising=False)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory with one case: evidence with a media file, a document, audit entries."""
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'fieldpatrol.db'}"
    home.mkdir()
    upgrade(url)
    sha = hashlib.sha256(IMAGE).hexdigest()
    media_file = home / "media" / sha[:2] / sha[2:4] / sha
    media_file.parent.mkdir(parents=True)
    media_file.write_bytes(IMAGE)
    pdf = home / "reports" / "notice.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.4 notice")
    engine = make_engine(url)
    now = datetime(2026, 11, 27, 8, tzinfo=UTC)
    with session_factory(engine)() as s:
        audit.append(s, "user:alice", "login", "user:alice", {})
        s.add(
            Media(
                sha256=sha,
                size=len(IMAGE),
                content_type="image/jpeg",
                path=str(media_file.relative_to(home / "media")),
            )
        )
        s.add(
            Evidence(
                id="EV-1",
                device_seq=1,
                vehicle_id="uav-1",
                site_id="s1",
                mission_id="m1",
                sortie_id="so1",
                captured_at=now,
                lat=30.1,
                lon=120.2,
                alt_agl_m=50.0,
                alt_amsl_m=60.0,
                class_name="waste_dumping",
                confidence=0.9,
                box_px=[1, 2, 3, 4],
                footprint={"type": "Polygon", "coordinates": []},
                signature="sig",
                raw_json="{}",
            )
        )
        s.add(EvidenceMedia(evidence_id="EV-1", sha256=sha, position=0))
        audit.append(s, "system:gateway", "evidence.received", "evidence:EV-1", {"media": [sha]})
        case = Case(
            number="CG-2026-0007", department="CG", class_name="waste_dumping", lat=30.1, lon=120.2
        )
        s.add(case)
        s.flush()
        s.add(CaseEvidence(case_id=case.id, evidence_id="EV-1"))
        s.add(
            Document(
                case_id=case.id,
                kind="notice",
                department="CG",
                year=2026,
                serial=7,
                number="CG罚告〔2026〕7号",
                title="notice",
                pdf_path="reports/notice.pdf",
                pdf_sha256=hashlib.sha256(b"%PDF-1.4 notice").hexdigest(),
            )
        )
        audit.append(s, "user:alice", "case.file", "case:CG-2026-0007", {"reason": "立案"})
        audit.append(s, "user:bob", "other", "case:CG-2026-0008", {})
        s.commit()
    engine.dispose()
    return home


def test_head_prove_and_verify_proof_offline(home: Path, patrol: Callable[..., Result]) -> None:
    res = patrol(home, "audit", "head", "--json")
    assert res.returncode == 0, res.stderr
    head = json.loads(res.stdout)
    assert head["tree_size"] == 4 and (home / "keys" / "audit-log.key").exists()
    res = patrol(home, "audit", "prove", "2", "--json", "--out", str(home / "p.json"))
    assert res.returncode == 0, res.stderr
    proof = json.loads(res.stdout)
    assert proof["signed_head"] == {k: v for k, v in head.items() if k in proof["signed_head"]}
    pub = home / "keys" / "audit-log.key.pub"
    res = patrol(home, "audit", "verify-proof", str(home / "p.json"), "--public-key", str(pub))
    assert res.returncode == 0, res.stderr
    doctored = dict(proof, entry=proof["entry"].replace("alice", "carol"))
    (home / "bad.json").write_text(json.dumps(doctored))
    res = patrol(home, "audit", "verify-proof", str(home / "bad.json"))
    assert res.returncode == 1 and res.stderr.startswith("error: proof does not verify")
    res = patrol(home, "audit", "prove", "99")
    assert res.returncode == 1 and "entry 99 does not exist" in res.stderr
    assert "Traceback" not in res.stderr


def test_verify_command_names_the_first_bad_entry(
    home: Path, patrol: Callable[..., Result]
) -> None:
    res = patrol(home, "audit", "verify", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["ok"] is True
    engine = make_engine(f"sqlite:///{home / 'fieldpatrol.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET subject = 'case:X' WHERE id = 2"))
    engine.dispose()
    res = patrol(home, "audit", "verify", "--json")
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert report["first_bad_entry"] == 2
    assert res.stderr.count("\n") == 1 and "first bad entry 2" in res.stderr


def test_case_export_verifies_offline_and_catches_tampering(
    home: Path,
    tmp_path: Path,
    patrol: Callable[..., Result],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "case.zip"
    if importlib.util.find_spec("patrol.commands.case") is not None:
        res = patrol(home, "case", "export", "CG-2026-0007", "--out", str(out), "--json")
    else:
        # `patrol case` is not on this tree yet: run the export command function itself.
        from patrol.commands.case_export import export

        patrol(home, "audit", "--help")  # sets FIELDPATROL_HOME like a real run
        capsys.readouterr()
        export("CG-2026-0007", out, True)
        res = Result(0, capsys.readouterr().out, "")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["media"] == 1 and summary["documents"] == 1 and not summary["missing"]
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        proofs = json.loads(zf.read("audit/proofs.json"))
    sha = hashlib.sha256(IMAGE).hexdigest()
    assert {"manifest.json", "case.json", "evidence/EV-1.json", f"media/{sha}"} <= names
    actions = [json.loads(p["entry"])["action"] for p in proofs]
    # The case's own entries and its evidence's, not another case's or the login.
    assert actions == ["evidence.received", "case.file", "case.exported"]

    pub = home / "keys" / "audit-log.key.pub"
    res = patrol(home, "audit", "verify-export", str(out), "--public-key", str(pub), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["ok"] is True

    # Swap the media for other bytes, keeping the manifest consistent: the log still knows.
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(forged, "w") as dst:
        manifest = json.loads(src.read("manifest.json"))
        for name in src.namelist():
            data = src.read(name)
            if name == "case.json":
                data = data.replace(b"waste_dumping", b"parked_car")
                manifest["files"][name] = hashlib.sha256(data).hexdigest()
            if name != "manifest.json":
                dst.writestr(name, data)
        dst.writestr("manifest.json", json.dumps(manifest))
    check = verify_export(forged)
    assert not check.ok and "case.json" in check.message
    res = patrol(home, "audit", "verify-export", str(forged))
    assert res.returncode == 1 and "case.json" in res.stderr

    # An export signed by another log key is refused when the trusted key is given.
    other = audit.LogKey.generate()
    check = verify_export(out, other.public_key)
    assert not check.ok and "not the log key" in check.message
