"""The enforcement procedure: the whole general and summary paths, and every guard."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit
from cases.errors import ProcedureError
from cases.models import CaseDeadline, Evidence
from cases.procedure import available_actions, late_surcharge, take_step

from .scenario import GENERAL_PATH, World


@pytest.fixture
def world(sqlite_session: Session) -> World:
    """Guards are backend-independent logic: SQLite keeps them fast."""
    return World(sqlite_session)


def test_general_procedure_end_to_end(session: Session) -> None:
    """The whole general procedure, on SQLite and PostgreSQL."""
    world = World(session)
    before = audit.count(world.s)
    world.run(GENERAL_PATH)
    case = world.case
    assert case.state == "archived"
    assert [s.action for s in case.steps] == GENERAL_PATH
    assert all(s.reason and s.actor_name and s.taken_at for s in case.steps)
    inv = case.steps[2]
    assert [o["credential_no"] for o in inv.officers] == ["CG-0001", "CG-0002"]
    assert audit.count(world.s) == before + len(GENERAL_PATH) + 1  # + the Art. 41 review
    assert audit.verify(world.s).ok
    dl = {d.kind: d for d in world.s.scalars(select(CaseDeadline))}
    assert dl["decision"].met_on is not None and dl["decision"].met_on <= dl["decision"].due_on
    assert dl["service"].met_on is not None
    assert dl["payment"].unit == "calendar"
    decide = case.steps[7]
    assert decide.evidence_ids == [world.evidence_id]


def test_summary_procedure(world: World) -> None:
    world.run(["confirm", "summary_decide", "serve", "record_performance", "close", "archive"])
    assert world.case.procedure == "summary" and world.case.state == "archived"


def test_summary_procedure_limit_art51(world: World) -> None:
    world.step("confirm")
    data = world.valid_data("summary_decide")
    data["penalty"] = {"kinds": ["fine"], "amount_yuan": 201}
    with pytest.raises(ProcedureError, match=r"up to 200 yuan.*Art\. 51"):
        world.step("summary_decide", data=data)
    data["party"] = {"kind": "organisation", "name": "某公司", "address": "某路"}
    data["penalty"]["amount_yuan"] = 3000
    world.step("summary_decide", data=data)


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("decide", "suspected"),
        ("file", "suspected"),
        ("notify", "suspected"),
        ("archive", "suspected"),
        ("serve", "suspected"),
    ],
)
def test_cannot_skip(world: World, action: str, state: str) -> None:
    with pytest.raises(ProcedureError, match=r"step_order; APL Art\. 38"):
        world.step(action)
    assert world.case.state == state and world.case.steps == []


def test_cannot_go_back(world: World) -> None:
    world.run(["confirm", "file", "investigate", "review_evidence", "end_investigation"])
    with pytest.raises(ProcedureError, match="step_order"):
        world.step("investigate")
    with pytest.raises(ProcedureError, match="step_order"):
        world.step("file")


def test_role_guard(world: World) -> None:
    with pytest.raises(ProcedureError, match=r"role 'supervisor'.*role_not_allowed"):
        world.step("confirm", actor=world.supervisor)
    world.step("confirm")
    with pytest.raises(ProcedureError, match="role_not_allowed"):
        world.step("file", actor=world.insp1)  # filing is approved by the head


def test_two_officers_with_credentials(world: World) -> None:
    world.run(["confirm", "file"])
    one = world.valid_data("investigate") | {"officers": [world.insp1.id]}
    with pytest.raises(ProcedureError, match=r"at least 2.*two_officers; APL Art\. 42"):
        world.step("investigate", data=one)
    nocred = world.valid_data("investigate") | {"officers": [world.insp1.id, world.insp_nocred.id]}
    with pytest.raises(ProcedureError, match=r"王强 holds no valid enforcement credential"):
        world.step("investigate", data=nocred)
    hidden = world.valid_data("investigate") | {"credentials_shown": False}
    with pytest.raises(ProcedureError, match=r"credentials_shown; APL Art\. 55"):
        world.step("investigate", data=hidden)
    unsigned = world.valid_data("investigate") | {"party_signature": "refused"}
    with pytest.raises(ProcedureError, match="witness"):
        world.step("investigate", data=unsigned)
    step = world.step("investigate")
    assert {o["name"] for o in step.officers} == {"张伟", "李娜"}


def test_reason_required(world: World) -> None:
    with pytest.raises(ProcedureError, match="reason_required"):
        take_step(world.s, world.case, "confirm", world.insp1, "  ", {}, at=world.advance(1))


def test_limitation_period_art36(world: World) -> None:
    world.step("confirm")
    old = world.valid_data("file") | {"act_date": "2024-05-01"}
    with pytest.raises(ProcedureError, match=r"2-year limitation.*APL Art\. 36"):
        world.step("file", data=old)
    serious = old | {"serious_harm": True}
    world.step("file", data=serious)  # 5 years where life or health was harmed
    assert world.case.serious_harm


def test_missing_field_named(world: World) -> None:
    world.step("confirm")
    data = world.valid_data("file")
    del data["facts"]
    with pytest.raises(ProcedureError, match=r"field 'facts' is required"):
        world.step("file", data=data)


def test_art41_unreviewed_evidence_cannot_be_cited(world: World) -> None:
    world.run(["confirm", "file", "investigate"])
    data = world.valid_data("end_investigation") | {"evidence_ids": [world.evidence_id]}
    with pytest.raises(ProcedureError, match=r"pending in its Art\. 41 review"):
        world.step("end_investigation", data=data)


def test_art41_failed_device_check(world: World) -> None:
    world.run(["confirm", "file", "investigate"])
    ev = world.s.get(Evidence, world.evidence_id)
    assert ev is not None
    from cases.models import Device

    dev = world.s.get(Device, "copter-1")
    assert dev is not None
    dev.metrology_valid_until = date(2026, 5, 1)  # expired before the capture
    world.s.commit()
    st = world.step("review_evidence")
    assert st.data["passed"] is False and st.data["failed"] == ["device_metrology_valid"]
    data = world.valid_data("end_investigation") | {"evidence_ids": [world.evidence_id]}
    with pytest.raises(ProcedureError, match=r"failed in its Art\. 41 review"):
        world.step("end_investigation", data=data)
    with pytest.raises(ProcedureError, match="already reviewed"):
        world.step("review_evidence")


def _to_notified(world: World, amount: int) -> None:
    world.run(["confirm", "file", "investigate", "review_evidence"])
    world.step("end_investigation", data=world.valid_data("end_investigation", amount))
    world.step("notify")


def test_no_increase_after_defence_art45(world: World) -> None:
    _to_notified(world, 3000)
    world.step("record_defence")
    more = {"penalty": {"kinds": ["fine"], "amount_yuan": 3500}}
    with pytest.raises(ProcedureError, match=r"may not be increased.*APL Art\. 45"):
        world.step("decide", data=more)
    heavier = {"penalty": {"kinds": ["fine", "revoke_permit"], "amount_yuan": 3000}}
    with pytest.raises(ProcedureError, match="no_increase_after_defence"):
        world.step("decide", data=heavier)
    world.step("decide", data={"penalty": {"kinds": ["fine"], "amount_yuan": 2000}})


def test_hearing_triggered_by_threshold_and_deadlines(world: World) -> None:
    _to_notified(world, 20000)  # >= 5,000 yuan for an individual: right to a hearing
    assert world.case.hearing_required and world.case.legal_review_required
    notice = world.case.steps[-1]
    assert "hearing_rights_notice" in notice.data["documents_due"]
    # Recording the defence before the hearing period ends without a waiver is refused.
    early = world.valid_data("record_defence") | {"hearing_waived": False}
    with pytest.raises(ProcedureError, match="hearing request period runs until"):
        world.step("record_defence", data=early, days=0.1)
    late = world.valid_data("request_hearing")
    late["requested_on"] = (world.t + timedelta(days=20)).date().isoformat()
    with pytest.raises(ProcedureError):
        world.step("request_hearing", data=late, days=0.1)
    world.step("request_hearing", days=0.1)
    soon = world.valid_data("schedule_hearing")
    soon["hearing_date"] = (world.t + timedelta(days=3)).date().isoformat()
    with pytest.raises(ProcedureError, match=r"less than 7 working days.*APL Art\. 64 \(2\)"):
        world.step("schedule_hearing", data=soon)
    investigator = world.valid_data("schedule_hearing") | {"presiding": world.insp1.id}
    with pytest.raises(ProcedureError, match="presiding_not_investigator"):
        world.step("schedule_hearing", data=investigator)
    world.step("schedule_hearing")
    with pytest.raises(ProcedureError, match="presiding officer"):
        world.step("hold_hearing", days=20, actor=world.head)
    world.step("hold_hearing", days=0.1)
    # Legal review required (hearing held): the decision is blocked until it passes.
    with pytest.raises(ProcedureError, match=r"legal_review_required; APL Art\. 58"):
        world.step("decide", data={"penalty": {"kinds": ["fine"], "amount_yuan": 20000}})
    failing = world.valid_data("legal_review") | {"conclusion": "fail", "opinion": "证据不足"}
    failing["checks"] = dict(failing["checks"], evidence_sufficient=False)
    world.step("legal_review", data=failing)
    assert world.case.state == "heard"
    with pytest.raises(ProcedureError, match="legal_review_required"):
        world.step("decide", data={"penalty": {"kinds": ["fine"], "amount_yuan": 20000}})
    world.step("legal_review")
    world.step("decide", data={"penalty": {"kinds": ["fine"], "amount_yuan": 20000}})
    assert world.case.state == "decided"


def test_reviewer_must_be_independent(world: World) -> None:
    _to_notified(world, 3000)
    world.step("record_defence")
    with pytest.raises(ProcedureError, match="role_not_allowed"):
        world.step("legal_review", actor=world.insp1)


def test_collective_discussion_required_for_major_fines(world: World) -> None:
    _to_notified(world, 60000)
    assert world.case.collective_required
    world.step("record_defence", days=10)
    world.step("legal_review")
    with pytest.raises(ProcedureError, match=r"collective_required; APL Art\. 57"):
        world.step("decide", data={"penalty": {"kinds": ["fine"], "amount_yuan": 60000}})
    world.step("collective_discussion")
    world.step("decide", data={"penalty": {"kinds": ["fine"], "amount_yuan": 60000}})


def test_decision_period_art60(world: World) -> None:
    _to_notified(world, 3000)
    world.step("record_defence")
    with pytest.raises(ProcedureError, match=r"due by .* \(90 days from filing"):
        world.step("decide", days=100)
    world.step(
        "decide", data=world.valid_data("decide") | {"extension_basis": "经负责人批准延期30日"}
    )


def test_service_guards(world: World) -> None:
    _to_notified(world, 3000)
    world.run(["record_defence", "decide"])
    with pytest.raises(ProcedureError, match="signed consent"):
        world.step("serve", data={"method": "electronic", "recipient": "a@b.cn"})
    with pytest.raises(ProcedureError, match="left_with_witness"):
        world.step("serve", data={"method": "direct", "recipient": "陈某某"})
    world.step(
        "serve",
        data={"method": "left_with_witness", "recipient": "陈某某", "witness": "社区干部刘某"},
    )
    with pytest.raises(ProcedureError, match=r"never collected by the deciding agency"):
        world.step(
            "record_performance", data={"mode": "paid", "channel": "cash", "paid_amount_yuan": 3000}
        )


def test_late_payment_surcharge_art72() -> None:
    assert late_surcharge(1000, 0) == 0
    assert late_surcharge(1000, 10) == 300
    assert late_surcharge(1000, 40) == 1000  # capped at the fine


def test_no_penalty_needs_education_record_art33(world: World) -> None:
    world.run(["confirm", "file", "investigate"])
    with pytest.raises(ProcedureError, match=r"education_record.*APL Art\. 33"):
        world.step("end_investigation", data={"outcome": "no_penalty_minor"})
    world.step(
        "end_investigation",
        data={"outcome": "no_penalty_minor", "education_record": "已对当事人进行法治宣传教育"},
    )
    world.run(["close", "archive"])
    assert world.case.state == "archived"


def test_available_actions(world: World) -> None:
    assert available_actions(world.case) == ["confirm", "dismiss"]
    assert available_actions(world.case, world.head) == ["dismiss"]
