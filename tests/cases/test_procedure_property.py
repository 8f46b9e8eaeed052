"""Property: no sequence of actions, by anyone, with any data, skips or reorders a step.

Hypothesis drives random sequences of actions (biased towards the ones allowed now, so
runs get deep into the procedure), random actors of every role, valid or corrupted data
and random pauses. Whatever is accepted must satisfy an order specification written here
independently of ``cases.procedure``; whatever is refused must be refused with a
``CasesError`` (never a crash) and must leave the case unchanged.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cases import audit
from cases.db import make_engine, session_factory
from cases.errors import CasesError
from cases.procedure import ACTIONS, available_actions

from .scenario import World

RANK = {
    "suspected": 0,
    "confirmed": 1,
    "filed": 2,
    "investigating": 3,
    "investigated": 4,
    "concluded": 4,
    "notified": 5,
    "hearing_requested": 6,
    "hearing_scheduled": 7,
    "heard": 8,
    "defence_heard": 8,
    "reviewed": 9,
    "discussed": 10,
    "decided": 11,
    "served": 12,
    "performed": 13,
    "closed": 14,
    "archived": 15,
    "dismissed": 15,
}
# Who may do what: the policy as the departments wrote it, not read from the code.
ROLE_OK = {
    "confirm": {"inspector"},
    "dismiss": {"inspector", "head"},
    "file": {"head"},
    "investigate": {"inspector"},
    "review_evidence": {"inspector", "legal_reviewer"},
    "preserve_evidence": {"head"},
    "handle_preserved": {"inspector"},
    "end_investigation": {"head"},
    "notify": {"inspector"},
    "request_hearing": {"inspector"},
    "schedule_hearing": {"head", "legal_reviewer"},
    "reschedule_hearing": {"head", "legal_reviewer"},
    "hold_hearing": {"head", "legal_reviewer", "inspector"},
    "record_defence": {"inspector"},
    "legal_review": {"legal_reviewer"},
    "collective_discussion": {"head"},
    "decide": {"head"},
    "summary_decide": {"inspector"},
    "serve": {"inspector"},
    "record_performance": {"inspector"},
    "close": {"head"},
    "archive": {"archivist", "head"},
}
# Each action needs one of these earlier (in order).
NEEDS_BEFORE = {
    "file": {"confirm"},
    "investigate": {"file"},
    "end_investigation": {"investigate"},
    "notify": {"end_investigation"},
    "request_hearing": {"notify"},
    "schedule_hearing": {"request_hearing"},
    "hold_hearing": {"schedule_hearing"},
    "record_defence": {"notify"},
    "legal_review": {"record_defence", "hold_hearing"},
    "collective_discussion": {"record_defence", "hold_hearing"},
    "decide": {"record_defence", "hold_hearing"},
    "summary_decide": {"confirm"},
    "serve": {"decide", "summary_decide"},
    "record_performance": {"serve"},
    "close": {"record_performance", "end_investigation"},
    "archive": {"close"},
}
FINAL = {"archive", "dismiss"}
ALL_ACTIONS = sorted(ACTIONS)


def check_history(world: World) -> None:
    steps = world.case.steps
    seen: list[str] = []
    state = "suspected"
    for s in steps:
        assert s.from_state == state, f"step {s.seq} starts from {s.from_state}, case was {state}"
        assert RANK[s.to_state] >= RANK[s.from_state], f"{s.action} went backwards"
        assert not (set(seen) & FINAL), f"{s.action} after a final step"
        need = NEEDS_BEFORE.get(s.action)
        assert need is None or need & set(seen), f"{s.action} without {need} before it"
        assert s.actor_role in ROLE_OK[s.action], f"{s.action} by {s.actor_role}"
        assert s.reason.strip() and s.actor_name
        if s.action in ("investigate", "file"):
            assert len(s.officers) >= 2 and all(o["credential_no"] for o in s.officers)
        if s.action == "decide":
            if "request_hearing" in seen:
                assert "hold_hearing" in seen
            if world.case.legal_review_required:
                assert any(
                    x.action == "legal_review" and x.data.get("conclusion") == "pass"
                    for x in steps[: s.seq - 1]
                )
            if world.case.collective_required:
                assert "collective_discussion" in seen
            proposed = world.case.proposed_penalty or {}
            assert s.data["penalty"]["amount_yuan"] <= proposed.get("amount_yuan", 0)
        if s.action == "end_investigation" and s.to_state == "concluded":
            assert "notify" not in seen
        seen.append(s.action)
        state = s.to_state
    assert world.case.state == state


def corrupt(data: dict[str, Any], how: int, world: World) -> dict[str, Any]:
    data = dict(data)
    if how == 1 and data:
        data.pop(sorted(data)[0])
    elif how == 2:
        data["officers"] = [world.insp1.id]
    elif how == 3:
        data["officers"] = [world.insp1.id, world.insp_nocred.id]
    elif how == 4 and "penalty" in data:
        data["penalty"] = {"kinds": ["fine"], "amount_yuan": 999_999}
    elif how == 5:
        data["checks"] = {}
    return data


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_action_sequences_never_break_the_order(
    data: st.DataObject, sqlite_template: Path, tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("prop") / "p.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with session_factory(engine)() as session:
            _drive(data, session)
    finally:
        engine.dispose()


def _drive(data: st.DataObject, session: Session) -> None:
    world = World(session)
    amount = data.draw(st.sampled_from([100, 3000, 20000, 60000]), label="amount")
    for _ in range(data.draw(st.integers(8, 28), label="length")):
        # Dismissal ends a run early; offer it only through the all-actions draw.
        allowed = [a for a in available_actions(world.case) if a != "dismiss"]
        if allowed and data.draw(st.integers(0, 9)) < 8:
            action = data.draw(st.sampled_from(allowed), label="action")
        else:
            action = data.draw(st.sampled_from(ALL_ACTIONS), label="action")
        if data.draw(st.integers(0, 9)) < 8:
            actor = world.actor_for(action)
        else:
            actor = data.draw(st.sampled_from(world.users), label="actor")
        payload = world.valid_data(action, amount)
        how = data.draw(st.integers(0, 12), label="corrupt")
        payload = corrupt(payload, how, world)
        days = data.draw(st.sampled_from([0.1, 1.0, 3.0, 6.0, 12.0]), label="days")
        before_state, before_steps = world.case.state, len(world.case.steps)
        try:
            world.step(action, days=days, data=payload, actor=actor)
        except CasesError:
            session.rollback()
            event(f"refused: {action}")
            assert world.case.state == before_state
            assert len(world.case.steps) == before_steps
        check_history(world)
    event(f"final state: {world.case.state}")
    assert audit.verify(session).ok
