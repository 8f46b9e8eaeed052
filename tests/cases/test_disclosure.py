"""Disclosure: redaction, due dates in working days, withdrawal, and the disclosure rate."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.config import ProcedureConfig
from cases.disclosure import (
    disclosure_rate,
    mask_name,
    public_register,
    publish,
    redact,
    withdraw,
)
from cases.models import CaseDeadline, Disclosure, Party
from cases.workdays import WorkCalendar

from .scenario import GENERAL_PATH, World

CAL = WorkCalendar()


def test_redaction_masks_individuals_and_removes_ids() -> None:
    person = Party(
        kind="individual",
        name="陈某某",
        id_number="210102198001011234",
        address="沈阳市浑南区某街1号",
        phone="13800000000",
    )
    company = Party(kind="organisation", name="沈阳某建筑有限公司", id_number=None, address="x")
    text = (
        "当事人：陈某某，身份证号210102198001011234，住所沈阳市浑南区某街1号，电话13800000000；"
        "另一当事人李雷（身份证11010519491231002X，手机13912345678），沈阳某建筑有限公司。"
    )
    out = redact(text, [person, company])
    assert "陈某某" not in out and "陈**" in out
    assert "210102198001011234" not in out and "11010519491231002X" not in out
    assert "13800000000" not in out and "139****5678" in out
    assert "某街1号" not in out and "沈阳市浑南区***" in out
    assert "沈阳某建筑有限公司" in out  # organisations are published by name
    assert mask_name("李娜") == "李*"


def test_decision_is_registered_published_redacted_and_counted(sqlite_session: Session) -> None:
    world = World(sqlite_session)
    world.run(GENERAL_PATH[:8])  # up to the decision
    entry = sqlite_session.scalar(select(Disclosure))
    assert entry is not None and entry.state == "pending"
    decided = world.case.decided_on
    assert decided is not None
    assert entry.due_on == CAL.add_working_days(decided, 7)
    day = entry.due_on
    rate = disclosure_rate(sqlite_session, date(2026, 1, 1), date(2026, 12, 31), day)
    assert rate["decisions"] == 1 and rate["published"] == 0 and rate["pending_not_yet_due"] == 1
    publish(sqlite_session, entry.id, "user:zhao", at=datetime(2026, 6, 10, 2, tzinfo=UTC))
    sqlite_session.commit()
    reg = public_register(sqlite_session)
    assert len(reg) == 1 and "陈**" in reg[0]["text"] and "陈某某" not in reg[0]["text"]
    assert "210102198001011234" not in reg[0]["text"]
    dl = sqlite_session.scalar(select(CaseDeadline).where(CaseDeadline.kind == "disclosure"))
    assert dl is not None and dl.met_on == date(2026, 6, 10)
    rate = disclosure_rate(sqlite_session, date(2026, 1, 1), date(2026, 12, 31), day)
    assert rate["rate"] == 1.0
    assert rate["on_time_rate"] == (1.0 if date(2026, 6, 10) <= entry.due_on else 0.0)

    w = withdraw(
        sqlite_session,
        entry.id,
        "user:zhao",
        "复议机关撤销原决定",
        date(2026, 9, 30),
        CAL,
        ProcedureConfig(),
        at=datetime(2026, 10, 9, 2, tzinfo=UTC),
    )
    # 30 Sep + 3 working days: 1-7 October rest; 8, 9 and the make-up Saturday 10 October.
    assert w.withdraw_due_on == date(2026, 10, 10) and w.state == "withdrawn"
    assert public_register(sqlite_session) == []
