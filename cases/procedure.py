"""The enforcement procedure as a state machine: ordered steps, each guarded and recorded.

A case moves only through :func:`take_step`; there is no other code path that changes
``Case.state``. Each action is allowed from given states only (so nothing is skipped or
reordered: APL Art. 38 makes a decision with a major procedural violation void), only by
users whose role allows it, only with the fields the law requires (named in the refusal
together with the rule and article), and leaves a :class:`~cases.models.CaseStep` with who
(name, role, credential), when, why and what, the deadlines it starts or meets, the
documents it produces, and an audit log entry.

General procedure (普通程序)::

    suspected -confirm-> confirmed -file-> filed -investigate-> investigating
      (investigate | review_evidence | preserve_evidence | handle_preserved)*
      -end_investigation-> investigated (penalty) | concluded (no penalty / transfer)
    investigated -notify-> notified
      -record_defence-> defence_heard
      | -request_hearing-> hearing_requested -schedule_hearing-> hearing_scheduled
        (-reschedule_hearing->)* -hold_hearing-> heard
    defence_heard|heard -legal_review(pass)-> reviewed  (a failed review keeps the state)
    ... -collective_discussion-> discussed
    ... -decide-> decided -serve-> served -record_performance-> performed
    performed|concluded -close-> closed -archive-> archived
    suspected|confirmed -dismiss-> dismissed

Summary procedure (简易程序, Arts. 51-52)::

    confirmed -summary_decide-> decided -serve-> served -record_performance-> performed
      -close-> closed -archive-> archived
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import journal
from cases.art41 import review_evidence
from cases.config import PENALTY_KINDS, ProcedureConfig
from cases.disclosure import register_decision
from cases.errors import CasesError, NotFoundError, ProcedureError
from cases.models import Case, CaseDeadline, CaseEvidence, CaseStep, Party, User, utcnow
from cases.workdays import WorkCalendar, legal_date

__all__ = [
    "ACTIONS",
    "AGENCY_DEADLINES",
    "DEFAULT_CONFIG",
    "STATES",
    "StepContext",
    "available_actions",
    "get_case",
    "normalize_penalty",
    "take_step",
]

DEFAULT_CONFIG = ProcedureConfig()

STATES: tuple[str, ...] = (
    "suspected",
    "confirmed",
    "dismissed",
    "filed",
    "investigating",
    "investigated",
    "concluded",
    "notified",
    "hearing_requested",
    "hearing_scheduled",
    "heard",
    "defence_heard",
    "reviewed",
    "discussed",
    "decided",
    "served",
    "performed",
    "closed",
    "archived",
)

#: Deadlines the agency must meet (the others are the party's periods).
AGENCY_DEADLINES = frozenset(
    {"decision", "service", "preservation", "legal_review", "disclosure", "withdrawal"}
)

#: How far in the future a step's stated time may lie (clock skew between machines).
MAX_FUTURE = timedelta(minutes=5)


def _refuse(message: str, rule: str, article: str) -> ProcedureError:
    text = f"{message} [{rule}; {article}]" if article else f"{message} [{rule}]"
    return ProcedureError(text, rule=rule, article=article)


@dataclass
class StepContext:
    """What a handler sees and fills while one step is being taken."""

    session: Session
    case: Case
    action: str
    actor: User
    reason: str
    data: dict[str, Any]
    at: datetime
    day: date
    config: ProcedureConfig
    calendar: WorkCalendar
    officers: list[dict[str, Any]] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    documents: list[str] = field(default_factory=list)
    open_deadlines: list[tuple[str, str, date, str]] = field(default_factory=list)
    meet_deadlines: list[str] = field(default_factory=list)
    cancel_deadlines: list[str] = field(default_factory=list)

    # --- small accessors used by the handlers --------------------------------------

    def require(self, key: str, article: str, what: str = "") -> Any:
        value = self.data.get(key)
        if value is None or (isinstance(value, str | list | dict) and not value):
            raise _refuse(
                f"{self.action}: field '{key}' is required{': ' + what if what else ''}",
                "field_required",
                article,
            )
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise _refuse(
                f"{self.action}: field '{key}' must be true or false, got {value!r}",
                "field_type",
                "",
            )
        return value

    def date_field(self, key: str, article: str, default: date | None = None) -> date:
        raw = self.data.get(key)
        if raw is None:
            if default is not None:
                return default
            raise _refuse(
                f"{self.action}: field '{key}' (YYYY-MM-DD) is required", "field_required", article
            )
        if isinstance(raw, datetime):
            return legal_date(raw)
        if isinstance(raw, date):
            return raw
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            raise _refuse(
                f"{self.action}: field '{key}'={raw!r} is not a date (YYYY-MM-DD)",
                "field_type",
                article,
            ) from None

    def facts(self) -> dict[str, Any]:
        return dict(self.case.facts_json or {})

    def set_fact(self, key: str, value: Any) -> None:
        facts = self.facts()
        facts[key] = value
        # JSON columns track assignment, not in-place mutation: assign a new dict.
        self.case.facts_json = facts

    def steps(self, action: str) -> list[CaseStep]:
        return [s for s in self.case.steps if s.action == action]

    def deadline(self, kind: str) -> CaseDeadline | None:
        rows = self.session.scalars(
            select(CaseDeadline)
            .where(CaseDeadline.case_id == self.case.id, CaseDeadline.kind == kind)
            .order_by(CaseDeadline.id.desc())
        ).all()
        return rows[0] if rows else None


Handler = Callable[[StepContext], str]


@dataclass(frozen=True)
class ActionSpec:
    """One action: the states it may start from and the handler that guards and applies it."""

    name: str
    from_states: tuple[str, ...]
    handler: Handler
    title: str


# --- shared guards -----------------------------------------------------------------------


def _user(session: Session, ref: Any, what: str) -> User:
    user: User | None
    if isinstance(ref, User):
        user = ref
    elif isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        user = session.get(User, int(ref))
    else:
        user = session.scalar(select(User).where(User.username == str(ref)))
    if user is None:
        raise NotFoundError(f"{what} {ref!r} is not a known user")
    return user


def _qualified(user: User, day: date) -> bool:
    return bool(
        user.active
        and user.credential_no
        and (user.credential_valid_until is None or user.credential_valid_until >= day)
    )


def _officers(ctx: StepContext, minimum: int = 2, key: str = "officers") -> list[dict[str, Any]]:
    """Check the officers acting: enough, distinct, qualified, credentials on record."""
    refs = ctx.data.get(key)
    if not isinstance(refs, list) or not refs:
        refs = [ctx.actor.id]
    users = [_user(ctx.session, r, "officer") for r in refs]
    if len({u.id for u in users}) != len(users):
        raise _refuse(
            f"{ctx.action}: the same officer is listed twice", "officers_distinct", "APL Art. 42"
        )
    if len(users) < minimum:
        raise _refuse(
            f"{ctx.action}: {len(users)} officer(s) given; at least {minimum} enforcement "
            "officers must act together",
            "two_officers",
            "APL Art. 42",
        )
    for u in users:
        if u.role not in ("inspector", "head"):
            raise _refuse(
                f"{ctx.action}: {u.name} ({u.role}) is not an enforcement officer",
                "officer_role",
                "APL Art. 42",
            )
        if not _qualified(u, ctx.day):
            raise _refuse(
                f"{ctx.action}: officer {u.name} holds no valid enforcement credential on "
                f"{ctx.day}",
                "officer_qualified",
                "APL Art. 42",
            )
    if ctx.actor.id not in {u.id for u in users}:
        raise _refuse(
            f"{ctx.action}: the acting user {ctx.actor.name} must be one of the officers",
            "actor_is_officer",
            "APL Art. 42",
        )
    return [{"id": u.id, "name": u.name, "credential_no": u.credential_no} for u in users]


def _investigating_officer_ids(ctx: StepContext) -> set[int]:
    ids: set[int] = set()
    for s in ctx.case.steps:
        if s.action in ("file", "investigate", "review_evidence", "summary_decide"):
            ids.update(int(o["id"]) for o in s.officers or [])
            if s.action in ("investigate", "review_evidence"):
                ids.add(s.actor_id)
    return ids


def _cited_evidence(ctx: StepContext) -> list[str]:
    """Evidence the step cites: the given ids (each must have passed Art. 41) or all passed."""
    attached = {
        link.evidence_id: link.evidence
        for link in ctx.session.scalars(
            select(CaseEvidence).where(CaseEvidence.case_id == ctx.case.id)
        )
    }
    given = ctx.data.get("evidence_ids")
    if given is None:
        return sorted(i for i, e in attached.items() if e.art41_review == "passed")
    if not isinstance(given, list):
        raise _refuse(f"{ctx.action}: evidence_ids must be a list", "field_type", "")
    for eid in given:
        ev = attached.get(str(eid))
        if ev is None:
            raise _refuse(
                f"{ctx.action}: evidence {eid} is not attached to case {ctx.case.number}",
                "evidence_attached",
                "APL Art. 46",
            )
        if ev.art41_review != "passed" and ctx.action in ("notify", "decide", "end_investigation"):
            raise _refuse(
                f"{ctx.action}: evidence {eid} is {ev.art41_review} in its Art. 41 review; "
                "only reviewed and passed electronic evidence may be cited",
                "art41_reviewed",
                "APL Art. 41",
            )
    return [str(e) for e in given]


def normalize_penalty(raw: Any, action: str = "penalty") -> dict[str, Any]:
    """Validate a penalty ``{kinds|kind, amount_yuan, confiscation_yuan, measures}``."""
    if not isinstance(raw, dict):
        raise _refuse(
            f"{action}: penalty must be a mapping with 'kinds'", "field_type", "APL Art. 9"
        )
    kinds = raw.get("kinds") or ([raw["kind"]] if raw.get("kind") else [])
    if not kinds:
        raise _refuse(f"{action}: penalty needs at least one kind", "field_required", "APL Art. 9")
    bad = [k for k in kinds if k not in PENALTY_KINDS]
    if bad:
        raise _refuse(
            f"{action}: penalty kinds {bad} unknown; use {list(PENALTY_KINDS)}",
            "penalty_kind",
            "APL Art. 9",
        )
    amount = raw.get("amount_yuan", 0)
    confiscation = raw.get("confiscation_yuan", 0)
    for key, value in (("amount_yuan", amount), ("confiscation_yuan", confiscation)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _refuse(
                f"{action}: {key}={value!r} must be a whole number of yuan >= 0",
                "money_integer_yuan",
                "",
            )
    if "fine" in kinds and amount <= 0:
        raise _refuse(f"{action}: a fine needs amount_yuan > 0", "field_required", "APL Art. 9")
    if "fine" not in kinds and amount:
        raise _refuse(
            f"{action}: amount_yuan given but 'fine' is not a kind", "penalty_kind", "APL Art. 9"
        )
    measures = [str(m) for m in raw.get("measures", [])]
    ordered = sorted(set(kinds), key=PENALTY_KINDS.index)
    return {
        "kinds": ordered,
        "amount_yuan": amount,
        "confiscation_yuan": confiscation,
        "measures": measures,
    }


def _heavier(new: dict[str, Any], old: dict[str, Any]) -> str | None:
    """Why ``new`` is heavier than ``old`` (None if it is not)."""
    old_max = max(PENALTY_KINDS.index(k) for k in old["kinds"])
    for k in new["kinds"]:
        if k not in old["kinds"] and PENALTY_KINDS.index(k) > old_max:
            return f"adds the heavier kind '{k}'"
    if new["amount_yuan"] > old["amount_yuan"]:
        return f"fine {new['amount_yuan']} yuan exceeds {old['amount_yuan']} yuan"
    if new["confiscation_yuan"] > old["confiscation_yuan"]:
        return f"confiscation {new['confiscation_yuan']} exceeds {old['confiscation_yuan']} yuan"
    return None


def _party_kind(ctx: StepContext) -> str:
    return ctx.case.party.kind if ctx.case.party is not None else "individual"


def hearing_required(config: ProcedureConfig, penalty: dict[str, Any], party_kind: str) -> bool:
    """Whether the party has the right to a hearing for ``penalty`` (Art. 63)."""
    limit = (
        config.hearing_fine_organisation_yuan
        if party_kind == "organisation"
        else config.hearing_fine_individual_yuan
    )
    if penalty["amount_yuan"] >= limit:
        return True
    if penalty["confiscation_yuan"] >= config.hearing_confiscation_yuan:
        return True
    return any(k in config.hearing_penalty_kinds for k in penalty["kinds"])


def _party(ctx: StepContext) -> Party:
    if ctx.case.party is not None and "party" not in ctx.data:
        return ctx.case.party
    raw = ctx.require("party", "APL Art. 59", "the party (kind, name, address)")
    if isinstance(raw, int):
        party = ctx.session.get(Party, raw)
        if party is None:
            raise NotFoundError(f"party {raw} not found")
        return party
    if not isinstance(raw, dict):
        raise _refuse(f"{ctx.action}: party must be a mapping or a party id", "field_type", "")
    kind = raw.get("kind")
    if kind not in ("individual", "organisation"):
        raise _refuse(
            f"{ctx.action}: party.kind={kind!r}; use 'individual' or 'organisation'",
            "field_type",
            "APL Art. 59",
        )
    for key in ("name", "address"):
        if not raw.get(key):
            raise _refuse(f"{ctx.action}: party.{key} is required", "field_required", "APL Art. 59")
    party = Party(
        kind=kind,
        name=str(raw["name"]),
        id_number=raw.get("id_number"),
        address=str(raw["address"]),
        phone=raw.get("phone"),
        legal_representative=raw.get("legal_representative"),
        minor=bool(raw.get("minor", False)),
    )
    ctx.session.add(party)
    ctx.session.flush()
    ctx.case.party = party
    ctx.case.party_id = party.id
    return party


def _limitation(ctx: StepContext) -> None:
    act = ctx.date_field("act_date", "APL Art. 36")
    if act > ctx.day:
        raise _refuse(f"{ctx.action}: act_date {act} is in the future", "act_date", "APL Art. 36")
    end = (
        ctx.date_field("act_end_date", "APL Art. 36", default=act)
        if ctx.flag("continuing")
        else act
    )
    serious = ctx.flag("serious_harm")
    years = ctx.config.limitation_years_serious if serious else ctx.config.limitation_years
    expires = end + relativedelta(years=years)
    if ctx.day > expires:
        raise _refuse(
            f"{ctx.action}: the act of {end} is beyond the {years}-year limitation period "
            f"(expired {expires}); no penalty may be imposed",
            "limitation_period",
            "APL Art. 36",
        )
    ctx.case.act_date = end
    ctx.case.serious_harm = serious
    ctx.record["limitation_expires"] = expires.isoformat()


# --- handlers ----------------------------------------------------------------------------


def _confirm(ctx: StepContext) -> str:
    return "confirmed"


def _dismiss(ctx: StepContext) -> str:
    ctx.case.outcome = "dismissed"
    ctx.case.closed_at = ctx.at
    ctx.cancel_deadlines.append("*")
    return "dismissed"


def _file(ctx: StepContext) -> str:
    ctx.officers = _officers(ctx)
    _limitation(ctx)
    party = _party(ctx)
    facts = ctx.require("facts", "APL Art. 54", "a summary of the facts")
    source = ctx.require("source", "APL Art. 54", "where the case came from")
    basis = ctx.require("legal_basis", "APL Art. 54", "the provision violated")
    opinion = ctx.require("handler_opinion", "APL Art. 54", "the handling officer's opinion")
    ctx.case.facts = str(facts)
    ctx.case.filed_at = ctx.at
    ctx.case.filed_on = ctx.day
    ctx.set_fact("source", str(source))
    ctx.set_fact("prohibition_basis", str(basis))
    ctx.set_fact("handler_opinion", str(opinion))
    ctx.set_fact("officers", [o["id"] for o in ctx.officers])
    ctx.record.update(party_id=party.id, facts=facts, source=source, legal_basis=basis)
    due = ctx.calendar.add_calendar_days(ctx.day, ctx.config.decision_calendar_days)
    ctx.open_deadlines.append(
        ("decision", "APL Art. 60 (90 days from filing)", due.due_on, "calendar")
    )
    ctx.documents.append("filing_approval")
    return "filed"


def _investigate(ctx: StepContext) -> str:
    ctx.officers = _officers(ctx)
    if ctx.data.get("credentials_shown") is not True:
        raise _refuse(
            "investigate: the officers must show their credentials (credentials_shown: true)",
            "credentials_shown",
            "APL Art. 55",
        )
    kind = ctx.data.get("record_kind", "inspection")
    if kind not in ("inspection", "questioning"):
        raise _refuse(
            f"investigate: record_kind={kind!r}; use inspection or questioning",
            "field_type",
            "APL Art. 55",
        )
    place = ctx.require("place", "APL Art. 55", "where the inspection took place")
    findings = ctx.require("findings", "APL Art. 55", "what was found (the written record)")
    signature = ctx.data.get("party_signature", "signed")
    if signature not in ("signed", "refused", "absent"):
        raise _refuse(
            f"investigate: party_signature={signature!r}; use signed, refused or absent",
            "field_type",
            "APL Art. 55",
        )
    if signature != "signed" and not (ctx.data.get("witness") or ctx.data.get("av_record")):
        raise _refuse(
            "investigate: the party did not sign; name a witness or the audio-video record",
            "signature_or_witness",
            "APL Art. 55",
        )
    ctx.evidence_ids = _cited_evidence(ctx) if "evidence_ids" in ctx.data else []
    ctx.record.update(
        record_kind=kind,
        place=place,
        findings=findings,
        party_signature=signature,
        witness=ctx.data.get("witness"),
        av_record=ctx.data.get("av_record"),
    )
    ctx.documents.append("inspection_record")
    return "investigating"


def _review_evidence(ctx: StepContext) -> str:
    eid = str(ctx.require("evidence_id", "APL Art. 41"))
    attached = ctx.session.get(CaseEvidence, (ctx.case.id, eid))
    if attached is None:
        raise _refuse(
            f"review_evidence: evidence {eid} is not attached to this case",
            "evidence_attached",
            "APL Art. 41",
        )
    checks = ctx.data.get("checks")
    if not isinstance(checks, dict):
        raise _refuse(
            "review_evidence: 'checks' must map each Art. 41 check to true/false",
            "field_required",
            "APL Art. 41",
        )
    result = review_evidence(ctx.session, eid, ctx.actor, checks, ctx.reason, ctx.at)
    ctx.evidence_ids = [eid]
    ctx.record.update(
        passed=result.passed, checks=result.checks, failed=result.failed, notes=result.notes
    )
    ctx.documents.append("electronic_evidence_record")
    return "investigating"


def _preserve(ctx: StepContext) -> str:
    items = ctx.require("items", "APL Art. 56", "the items preserved by registration")
    if not isinstance(items, list):
        raise _refuse("preserve_evidence: items must be a list", "field_type", "APL Art. 56")
    due = ctx.calendar.add_working_days(ctx.day, ctx.config.preservation_working_days)
    ctx.open_deadlines.append(
        ("preservation", "APL Art. 56 (handle within 7 working days)", due, "working")
    )
    ctx.record.update(items=items, approved_by=ctx.actor.name, handle_by=due.isoformat())
    ctx.documents.append("preservation_notice")
    return "investigating"


def _handle_preserved(ctx: StepContext) -> str:
    open_row = ctx.deadline("preservation")
    if open_row is None or open_row.met_on is not None or open_row.cancelled:
        raise _refuse(
            "handle_preserved: no evidence preservation is awaiting a decision",
            "preservation_open",
            "APL Art. 56",
        )
    decision = ctx.require("decision", "APL Art. 56", "what is done with the preserved items")
    ctx.record.update(decision=decision)
    ctx.meet_deadlines.append("preservation")
    return "investigating"


NO_PENALTY_OUTCOMES = {
    "no_penalty_minor": "APL Art. 33 para 1 (minor, promptly corrected, no harm)",
    "no_penalty_first_offence": "APL Art. 33 para 1 (first violation, slight harm, corrected)",
    "no_penalty_no_fault": "APL Art. 33 para 2 (no subjective fault)",
    "no_penalty_unfounded": "APL Art. 57 (3) (facts not established)",
    "transfer": "APL Art. 57 (4), Art. 27 (transfer to judicial organs)",
}


def _end_investigation(ctx: StepContext) -> str:
    if not ctx.steps("investigate"):
        raise _refuse(
            "end_investigation: there is no investigation record yet",
            "investigation_record",
            "APL Art. 55",
        )
    pres = ctx.deadline("preservation")
    if pres is not None and pres.met_on is None and not pres.cancelled:
        raise _refuse(
            "end_investigation: preserved evidence still awaits its handling decision",
            "preservation_open",
            "APL Art. 56",
        )
    outcome = ctx.require("outcome", "APL Art. 57")
    ctx.case.outcome = str(outcome)
    if outcome == "penalty":
        if ctx.case.party is None:
            raise _refuse(
                "end_investigation: the party is not identified", "party_required", "APL Art. 57"
            )
        penalty = normalize_penalty(ctx.require("proposed_penalty", "APL Art. 57"), ctx.action)
        basis = ctx.require("penalty_basis", "APL Art. 57", "the provision the penalty rests on")
        discretion = ctx.data.get("discretion") or {}
        reasons = discretion.get("reasons") if isinstance(discretion, dict) else None
        if not reasons:
            raise _refuse(
                "end_investigation: the discretion applied needs its reasons (说明理由): pass "
                "discretion={'reasons': [...]} from the benchmark recommendation",
                "discretion_reasons",
                "APL Art. 34; city plan 三(八)3",
            )
        ctx.evidence_ids = _cited_evidence(ctx)
        kind = _party_kind(ctx)
        fine = penalty["amount_yuan"]
        flags = {k: ctx.flag(k) for k in ("major_public_interest", "complex", "major_violation")}
        lr_limit = (
            ctx.config.legal_review_fine_organisation_yuan
            if kind == "organisation"
            else ctx.config.legal_review_fine_individual_yuan
        )
        col_limit = (
            ctx.config.collective_fine_organisation_yuan
            if kind == "organisation"
            else ctx.config.collective_fine_individual_yuan
        )
        ctx.case.proposed_penalty = penalty
        ctx.case.discretion = discretion
        ctx.case.hearing_required = hearing_required(ctx.config, penalty, kind)
        ctx.case.legal_review_required = bool(
            flags["major_public_interest"] or flags["complex"] or fine >= lr_limit
        )
        ctx.case.collective_required = bool(
            flags["complex"] or flags["major_violation"] or fine >= col_limit
        )
        ctx.set_fact("penalty_basis", str(basis))
        ctx.set_fact("flags", flags)
        ctx.record.update(
            outcome=outcome,
            proposed_penalty=penalty,
            penalty_basis=basis,
            hearing_required=ctx.case.hearing_required,
            legal_review_required=ctx.case.legal_review_required,
            collective_required=ctx.case.collective_required,
        )
        return "investigated"
    if outcome not in NO_PENALTY_OUTCOMES:
        raise _refuse(
            f"end_investigation: outcome={outcome!r}; use penalty or {sorted(NO_PENALTY_OUTCOMES)}",
            "field_type",
            "APL Art. 57",
        )
    if outcome.startswith("no_penalty") and outcome != "no_penalty_unfounded":
        ctx.record["education_record"] = ctx.require(
            "education_record", "APL Art. 33 para 3", "how the party was educated"
        )
    if outcome == "transfer":
        ctx.record["transfer_to"] = ctx.require("transfer_to", "APL Art. 27", "the judicial organ")
    ctx.record.update(outcome=outcome, basis=NO_PENALTY_OUTCOMES[outcome])
    ctx.case.decided_at = ctx.at
    ctx.case.decided_on = ctx.day
    ctx.meet_deadlines.append("decision")
    return "concluded"


def _notify(ctx: StepContext) -> str:
    penalty = ctx.case.proposed_penalty
    if not penalty:
        raise _refuse("notify: no proposed penalty", "field_required", "APL Art. 44")
    ctx.evidence_ids = _cited_evidence(ctx)
    statement_due = ctx.calendar.add_working_days(ctx.day, ctx.config.statement_working_days)
    ctx.open_deadlines.append(
        ("statement", "statement and defence period (sector rule)", statement_due, "working")
    )
    rights = ["陈述权", "申辩权"]
    if ctx.case.hearing_required:
        hearing_due = ctx.calendar.add_working_days(
            ctx.day, ctx.config.hearing_request_working_days
        )
        ctx.open_deadlines.append(
            (
                "hearing_request",
                "APL Art. 64 (1): ask within 5 working days",
                hearing_due,
                "working",
            )
        )
        rights.append("听证权")
        ctx.record["hearing_request_due"] = hearing_due.isoformat()
        ctx.documents.append("hearing_rights_notice")
    ctx.record.update(
        rights=rights, statement_due=statement_due.isoformat(), proposed_penalty=penalty
    )
    ctx.documents.insert(0, "penalty_notice")
    return "notified"


def _notice_day(ctx: StepContext) -> date:
    notes = ctx.steps("notify")
    if not notes:  # pragma: no cover - the state machine guarantees a notice
        raise _refuse(f"{ctx.action}: no notice was given", "notice_required", "APL Art. 44")
    return legal_date(notes[-1].taken_at)


def _request_hearing(ctx: StepContext) -> str:
    if not ctx.case.hearing_required:
        raise _refuse(
            "request_hearing: the intended penalty does not give a right to a hearing "
            "(below the configured thresholds and not of a hearing kind)",
            "hearing_right",
            "APL Art. 63",
        )
    requested = ctx.date_field("requested_on", "APL Art. 64 (1)", default=ctx.day)
    row = ctx.deadline("hearing_request")
    notice = _notice_day(ctx)
    if requested < notice or requested > ctx.day:
        raise _refuse(
            f"request_hearing: requested_on {requested} is outside {notice}..{ctx.day}",
            "field_type",
            "APL Art. 64 (1)",
        )
    if row is not None and requested > row.due_on:
        raise _refuse(
            f"request_hearing: asked on {requested}, after the period ended on {row.due_on}",
            "hearing_request_period",
            "APL Art. 64 (1)",
        )
    ctx.case.hearing_requested = True
    ctx.record["requested_on"] = requested.isoformat()
    ctx.meet_deadlines.append("hearing_request")
    ctx.cancel_deadlines.append("statement")
    return "hearing_requested"


def _hearing_plan(ctx: StepContext) -> None:
    hearing_date = ctx.date_field("hearing_date", "APL Art. 64 (2)")
    earliest = ctx.calendar.add_working_days(ctx.day, ctx.config.hearing_notice_working_days)
    if hearing_date < earliest:
        raise _refuse(
            f"{ctx.action}: hearing on {hearing_date} is less than "
            f"{ctx.config.hearing_notice_working_days} working days after this notice "
            f"(earliest {earliest})",
            "hearing_notice_period",
            "APL Art. 64 (2)",
        )
    place = ctx.require("place", "APL Art. 64 (2)", "where the hearing is held")
    presiding = _user(ctx.session, ctx.require("presiding", "APL Art. 64 (4)"), "presiding officer")
    if presiding.id in _investigating_officer_ids(ctx):
        raise _refuse(
            f"{ctx.action}: {presiding.name} investigated this case and may not preside",
            "presiding_not_investigator",
            "APL Art. 64 (4)",
        )
    public = ctx.data.get("public", True)
    if public is not True and ctx.data.get("private_reason") not in (
        "state_secret",
        "business_secret",
        "privacy",
    ):
        raise _refuse(
            f"{ctx.action}: a hearing is public unless private_reason is state_secret, "
            "business_secret or privacy",
            "hearing_public",
            "APL Art. 64 (3)",
        )
    ctx.set_fact(
        "hearing",
        {
            "date": hearing_date.isoformat(),
            "place": place,
            "presiding": presiding.id,
            "public": public is True,
        },
    )
    ctx.record.update(
        hearing_date=hearing_date.isoformat(),
        place=place,
        presiding=presiding.name,
        public=public is True,
    )
    ctx.documents.append("hearing_notice")


def _schedule_hearing(ctx: StepContext) -> str:
    _hearing_plan(ctx)
    return "hearing_scheduled"


def _reschedule_hearing(ctx: StepContext) -> str:
    _hearing_plan(ctx)
    return "hearing_scheduled"


def _hold_hearing(ctx: StepContext) -> str:
    hearing = ctx.facts().get("hearing") or {}
    if ctx.actor.id != hearing.get("presiding"):
        raise _refuse(
            "hold_hearing: only the designated presiding officer holds the hearing",
            "presiding_officer",
            "APL Art. 64 (4)",
        )
    scheduled = date.fromisoformat(hearing["date"])
    if ctx.day < scheduled:
        raise _refuse(
            f"hold_hearing: the hearing is scheduled for {scheduled}",
            "hearing_date",
            "APL Art. 64 (2)",
        )
    attended = ctx.flag("party_attended")
    if attended:
        if ctx.data.get("record_signed_by_party") is not True:
            raise _refuse(
                "hold_hearing: the hearing record must be signed by the party "
                "(record_signed_by_party: true)",
                "hearing_record_signed",
                "APL Art. 64 (8)",
            )
        ctx.record["statements"] = ctx.require("statements", "APL Art. 64 (8)", "what was said")
        ctx.case.defence_received = True
        # A hearing on major rights makes legal review mandatory (Art. 58 (2)).
        ctx.case.legal_review_required = True
    else:
        if ctx.flag("absence_justified"):
            raise _refuse(
                "hold_hearing: the party's absence is justified; reschedule the hearing",
                "hearing_absence_justified",
                "APL Art. 64 (7)",
            )
        ctx.record["waived_by_absence"] = True
    ctx.record["party_attended"] = attended
    ctx.documents.append("hearing_record")
    if ctx.case.legal_review_required:
        due = ctx.calendar.add_working_days(ctx.day, ctx.config.legal_review_working_days)
        ctx.open_deadlines.append(
            ("legal_review", "local rule: legal review within 7 working days", due, "working")
        )
    return "heard"


def _record_defence(ctx: StepContext) -> str:
    mode = ctx.require("mode", "APL Art. 45", "statement, waived or expired")
    if (
        ctx.case.hearing_required
        and not ctx.case.hearing_requested
        and not ctx.flag("hearing_waived")
    ):
        row = ctx.deadline("hearing_request")
        if row is not None and ctx.day <= row.due_on:
            raise _refuse(
                f"record_defence: the hearing request period runs until {row.due_on}; wait, "
                "or record the party's waiver (hearing_waived: true)",
                "hearing_request_period",
                "APL Art. 64 (1)",
            )
    if mode == "statement":
        ctx.record["party_statement"] = ctx.require("party_statement", "APL Art. 45")
        ctx.record["re_examination"] = ctx.require(
            "re_examination", "APL Art. 45", "the agency's re-examination (复核意见)"
        )
        ctx.case.defence_received = True
        if "revised_penalty" in ctx.data:
            revised = normalize_penalty(ctx.data["revised_penalty"], ctx.action)
            why = _heavier(revised, ctx.case.proposed_penalty or revised)
            if why:
                raise _refuse(
                    f"record_defence: the re-examination {why}; the penalty may not be "
                    "increased because the party defended",
                    "no_increase_after_defence",
                    "APL Art. 45",
                )
            ctx.case.proposed_penalty = revised
            ctx.record["revised_penalty"] = revised
        ctx.documents.append("defence_record")
    elif mode == "waived":
        if ctx.data.get("waiver_signed") is not True:
            raise _refuse(
                "record_defence: an express waiver must be signed (waiver_signed: true)",
                "waiver_signed",
                "APL Art. 62",
            )
    elif mode == "expired":
        row = ctx.deadline("statement")
        if row is not None and ctx.day <= row.due_on:
            raise _refuse(
                f"record_defence: the statement period runs until {row.due_on}",
                "statement_period",
                "APL Art. 45",
            )
    else:
        raise _refuse(
            f"record_defence: mode={mode!r}; use statement, waived or expired",
            "field_type",
            "APL Art. 45",
        )
    ctx.record["mode"] = mode
    ctx.meet_deadlines.extend(["statement", "hearing_request"])
    if ctx.case.legal_review_required:
        due = ctx.calendar.add_working_days(ctx.day, ctx.config.legal_review_working_days)
        ctx.open_deadlines.append(
            ("legal_review", "local rule: legal review within 7 working days", due, "working")
        )
    return "defence_heard"


LEGAL_REVIEW_CHECKS = {
    "lawful_body": "执法主体合法",
    "qualified_staff": "执法人员具备资格",
    "lawful_procedure": "程序合法",
    "facts_clear": "事实清楚",
    "evidence_sufficient": "证据确凿充分",
    "law_correct": "适用法律正确",
    "discretion_proper": "裁量基准运用适当",
    "within_powers": "未超越职权",
    "documents_complete": "文书完备规范",
}


def _legal_review(ctx: StepContext) -> str:
    if ctx.actor.id in _investigating_officer_ids(ctx):
        raise _refuse(
            "legal_review: the reviewer investigated this case",
            "reviewer_independent",
            "APL Art. 58",
        )
    checks = ctx.data.get("checks")
    if not isinstance(checks, dict) or any(
        not isinstance(checks.get(k), bool) for k in LEGAL_REVIEW_CHECKS
    ):
        raise _refuse(
            f"legal_review: checks must give true/false for each of {list(LEGAL_REVIEW_CHECKS)}",
            "field_required",
            "APL Art. 58",
        )
    conclusion = ctx.require("conclusion", "APL Art. 58", "pass or fail")
    opinion = ctx.require("opinion", "APL Art. 58", "the written opinion")
    failed = [k for k in LEGAL_REVIEW_CHECKS if not checks[k]]
    if conclusion == "pass" and failed:
        raise _refuse(
            f"legal_review: cannot pass with failed checks {failed}",
            "review_consistent",
            "APL Art. 58",
        )
    if conclusion not in ("pass", "fail"):
        raise _refuse(
            f"legal_review: conclusion={conclusion!r}; use pass or fail",
            "field_type",
            "APL Art. 58",
        )
    ctx.record.update(
        checks={k: checks[k] for k in LEGAL_REVIEW_CHECKS},
        conclusion=conclusion,
        opinion=opinion,
        failed=failed,
    )
    ctx.documents.append("legal_review_opinion")
    if conclusion == "pass":
        ctx.case.legal_review_passed = True
        ctx.meet_deadlines.append("legal_review")
        return "reviewed"
    ctx.case.legal_review_passed = False
    return ctx.case.state


def _require_review(ctx: StepContext) -> None:
    if ctx.case.legal_review_required and not ctx.case.legal_review_passed:
        raise _refuse(
            f"{ctx.action}: this case needs a passed legal review before the decision",
            "legal_review_required",
            "APL Art. 58",
        )


def _collective(ctx: StepContext) -> str:
    _require_review(ctx)
    attendees = ctx.require("attendees", "APL Art. 57 para 2", "the heads who discussed")
    if not isinstance(attendees, list) or len(attendees) < 3:
        raise _refuse(
            "collective_discussion: at least 3 attendees", "collective_quorum", "APL Art. 57 para 2"
        )
    ctx.record.update(
        attendees=attendees,
        opinions=ctx.require("opinions", "APL Art. 57 para 2"),
        conclusion=ctx.require("conclusion", "APL Art. 57 para 2"),
    )
    ctx.documents.append("collective_record")
    return "discussed"


def _decide(ctx: StepContext) -> str:
    _require_review(ctx)
    if ctx.case.collective_required and ctx.case.state != "discussed":
        raise _refuse(
            "decide: this case needs a collective discussion by the agency's heads first",
            "collective_required",
            "APL Art. 57 para 2",
        )
    penalty = normalize_penalty(ctx.require("penalty", "APL Art. 59"), ctx.action)
    notified = ctx.case.proposed_penalty or penalty
    why = _heavier(penalty, notified)
    if why:
        if ctx.case.defence_received:
            raise _refuse(
                f"decide: {why}; the penalty may not be increased because the party defended",
                "no_increase_after_defence",
                "APL Art. 45",
            )
        raise _refuse(
            f"decide: {why} beyond the notified penalty; give a new notice first",
            "penalty_notified",
            "APL Art. 44",
        )
    reasons = ctx.data.get("discretion_reasons") or (ctx.case.discretion or {}).get("reasons")
    if not reasons:
        raise _refuse(
            "decide: the decision must state the reasons for the discretion applied (说明理由)",
            "discretion_reasons",
            "city plan 三(八)3",
        )
    party = ctx.case.party
    if party is None or not party.name or not party.address:
        raise _refuse(
            "decide: the party's name and address are required", "party_required", "APL Art. 59 (1)"
        )
    basis = (ctx.case.facts_json or {}).get("penalty_basis")
    if not ctx.case.facts or not basis:
        raise _refuse(
            "decide: facts and the legal basis of the penalty are required",
            "field_required",
            "APL Art. 59 (2)-(3)",
        )
    ctx.evidence_ids = _cited_evidence(ctx)
    filed = ctx.case.filed_on
    row = ctx.deadline("decision")
    if (
        filed is not None
        and row is not None
        and ctx.day > row.due_on
        and not ctx.data.get("extension_basis")
    ):
        raise _refuse(
            f"decide: the decision is due by {row.due_on} (90 days from filing {filed}); give "
            "extension_basis (the approval or law allowing longer)",
            "decision_period",
            "APL Art. 60",
        )
    ctx.case.decided_penalty = penalty
    ctx.case.decided_at = ctx.at
    ctx.case.decided_on = ctx.day
    ctx.record.update(penalty=penalty, discretion_reasons=reasons, evidence_ids=ctx.evidence_ids)
    ctx.meet_deadlines.append("decision")
    due = ctx.calendar.add_working_days(ctx.day, ctx.config.service_working_days)
    ctx.open_deadlines.append(
        ("service", "APL Art. 61 (serve within 7 working days)", due, "working")
    )
    ctx.documents.append("decision")
    if ctx.case.procedure == "general":
        entry = register_decision(
            ctx.session, ctx.case, ctx.day, "penalty", ctx.calendar, ctx.config
        )
        ctx.open_deadlines.append(
            (
                "disclosure",
                "city plan 三(三)3: publish within 7 working days",
                entry.due_on,
                "working",
            )
        )
        ctx.record["disclosure_due"] = entry.due_on.isoformat()
    return "decided"


def _summary_decide(ctx: StepContext) -> str:
    ctx.officers = _officers(ctx, minimum=1)
    if ctx.data.get("credentials_shown") is not True:
        raise _refuse(
            "summary_decide: show credentials (credentials_shown: true)",
            "credentials_shown",
            "APL Art. 52",
        )
    if ctx.data.get("facts_conclusive") is not True:
        raise _refuse(
            "summary_decide: only for conclusive facts (facts_conclusive: true)",
            "summary_conditions",
            "APL Art. 51",
        )
    if ctx.data.get("rights_told") is not True:
        raise _refuse(
            "summary_decide: the party must be told the facts, reasons, basis and rights "
            "(rights_told: true)",
            "summary_notice",
            "APL Art. 52",
        )
    _limitation(ctx)
    party = _party(ctx)
    penalty = normalize_penalty(ctx.require("penalty", "APL Art. 51"), ctx.action)
    limit = (
        ctx.config.summary_max_organisation_yuan
        if party.kind == "organisation"
        else ctx.config.summary_max_individual_yuan
    )
    if set(penalty["kinds"]) - {"warning", "fine"} or penalty["amount_yuan"] > limit:
        raise _refuse(
            f"summary_decide: only a warning or a fine up to {limit} yuan for an {party.kind}; "
            "use the general procedure",
            "summary_limit",
            "APL Art. 51",
        )
    ctx.case.facts = str(ctx.require("facts", "APL Art. 52"))
    ctx.set_fact("penalty_basis", str(ctx.require("legal_basis", "APL Art. 52")))
    ctx.case.procedure = "summary"
    ctx.case.proposed_penalty = penalty
    ctx.case.decided_penalty = penalty
    ctx.case.decided_at = ctx.at
    ctx.case.decided_on = ctx.day
    ctx.case.filed_on = ctx.day
    ctx.case.outcome = "penalty"
    ctx.evidence_ids = _cited_evidence(ctx)
    ctx.record.update(penalty=penalty, party_statement=ctx.data.get("party_statement", ""))
    ctx.documents.append("summary_decision")
    return "decided"


SERVICE_METHODS = ("on_spot", "direct", "post", "electronic", "public_notice", "left_with_witness")


def _serve(ctx: StepContext) -> str:
    method = ctx.require("method", "APL Art. 61")
    if method not in SERVICE_METHODS:
        raise _refuse(
            f"serve: method={method!r}; use one of {list(SERVICE_METHODS)}",
            "field_type",
            "APL Art. 61",
        )
    if ctx.case.procedure == "summary" and method not in ("on_spot", "direct"):
        raise _refuse(
            "serve: a summary decision is handed over on the spot", "summary_service", "APL Art. 52"
        )
    recipient = ctx.require("recipient", "APL Art. 61")
    if method == "electronic" and ctx.data.get("consent_signed") is not True:
        raise _refuse(
            "serve: e-mail/fax service needs the party's signed consent (consent_signed: true)",
            "electronic_consent",
            "APL Art. 61",
        )
    if method in ("on_spot", "direct") and ctx.data.get("recipient_signed") is not True:
        raise _refuse(
            "serve: the recipient signs the proof of service; if they refuse, use "
            "left_with_witness with a witness or an audio-video record",
            "service_signature",
            "APL Art. 61; 民事诉讼法 Art. 89",
        )
    if method == "left_with_witness" and not (ctx.data.get("witness") or ctx.data.get("av_record")):
        raise _refuse(
            "serve: name the witness or the audio-video record",
            "signature_or_witness",
            "民事诉讼法 Art. 89",
        )
    effective = ctx.day
    if method == "public_notice":
        effective = ctx.day + timedelta(days=ctx.config.public_notice_service_days)
    ctx.record.update(
        method=method,
        recipient=recipient,
        served_on=ctx.day.isoformat(),
        effective_on=effective.isoformat(),
        witness=ctx.data.get("witness"),
    )
    if ctx.case.procedure == "general":
        ctx.meet_deadlines.append("service")
    penalty = ctx.case.decided_penalty or {}
    if penalty.get("amount_yuan"):
        pay = ctx.calendar.add_calendar_days(effective, ctx.config.payment_calendar_days)
        ctx.open_deadlines.append(
            ("payment", "APL Art. 67 (pay within 15 days)", pay.due_on, "calendar")
        )
    review = ctx.calendar.add_calendar_days(effective, ctx.config.review_calendar_days)
    ctx.open_deadlines.append(("remedy_review", "行政复议法 (60 days)", review.due_on, "calendar"))
    suit = ctx.calendar.add_months(effective, ctx.config.lawsuit_months)
    ctx.open_deadlines.append(("remedy_lawsuit", "行政诉讼法 (6 months)", suit.due_on, "calendar"))
    ctx.documents.append("proof_of_service")
    return "served"


def late_surcharge(fine_yuan: int, days_late: int, percent_per_day: int = 3) -> int:
    """Art. 72: 3 % of the fine per day late, never more than the fine (whole yuan)."""
    if days_late <= 0:
        return 0
    return min(fine_yuan, fine_yuan * percent_per_day * days_late // 100)


def _record_performance(ctx: StepContext) -> str:
    penalty = ctx.case.decided_penalty or {}
    fine = int(penalty.get("amount_yuan", 0))
    mode = ctx.data.get("mode", "paid" if fine else "performed")
    if mode == "paid":
        channel = ctx.require("channel", "APL Art. 67", "bank or e_payment")
        if channel not in ("bank", "e_payment"):
            raise _refuse(
                f"record_performance: channel={channel!r}; fines are paid to a bank or by "
                "e-payment, never collected by the deciding agency",
                "separation_of_fine_collection",
                "APL Art. 67",
            )
        paid_on = ctx.date_field("paid_on", "APL Art. 67", default=ctx.day)
        row = ctx.deadline("payment")
        days_late = (paid_on - row.due_on).days if row is not None else 0
        surcharge = late_surcharge(fine, days_late, ctx.config.late_surcharge_percent_per_day)
        paid = ctx.data.get("paid_amount_yuan")
        if not isinstance(paid, int) or paid < fine + surcharge:
            raise _refuse(
                f"record_performance: paid_amount_yuan={paid!r}; due {fine} yuan fine + "
                f"{surcharge} yuan late surcharge",
                "amount_due",
                "APL Arts. 67, 72",
            )
        ctx.record.update(
            channel=channel,
            paid_on=paid_on.isoformat(),
            paid_amount_yuan=paid,
            surcharge_yuan=surcharge,
        )
        if row is not None and days_late <= 0:
            ctx.meet_deadlines.append("payment")
    elif mode in ("performed", "court_enforcement"):
        ctx.record["details"] = ctx.require("details", "APL Art. 72", "what was done")
    else:
        raise _refuse(
            f"record_performance: mode={mode!r}; use paid, performed or court_enforcement",
            "field_type",
            "APL Art. 72",
        )
    ctx.record["mode"] = mode
    return "performed"


def _close(ctx: StepContext) -> str:
    ctx.record["summary"] = ctx.require("summary", "APL Art. 47", "the outcome and performance")
    ctx.case.closed_at = ctx.at
    ctx.cancel_deadlines.extend(["payment", "statement", "hearing_request"])
    ctx.documents.append("closing_report")
    return "closed"


def _archive(ctx: StepContext) -> str:
    ctx.record["archive_ref"] = ctx.require("archive_ref", "APL Art. 47", "the archive reference")
    ctx.set_fact("archive_ref", ctx.record["archive_ref"])
    return "archived"


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("confirm", ("suspected",), _confirm, "确认线索"),
        ActionSpec("dismiss", ("suspected", "confirmed"), _dismiss, "排除线索"),
        ActionSpec("file", ("confirmed",), _file, "立案"),
        ActionSpec("investigate", ("filed", "investigating"), _investigate, "调查取证"),
        ActionSpec("review_evidence", ("investigating",), _review_evidence, "电子技术监控证据审核"),
        ActionSpec("preserve_evidence", ("investigating",), _preserve, "证据先行登记保存"),
        ActionSpec("handle_preserved", ("investigating",), _handle_preserved, "登记保存证据处理"),
        ActionSpec("end_investigation", ("investigating",), _end_investigation, "调查终结"),
        ActionSpec("notify", ("investigated",), _notify, "行政处罚事先告知"),
        ActionSpec("request_hearing", ("notified",), _request_hearing, "申请听证"),
        ActionSpec("schedule_hearing", ("hearing_requested",), _schedule_hearing, "听证通知"),
        ActionSpec("reschedule_hearing", ("hearing_scheduled",), _reschedule_hearing, "听证改期"),
        ActionSpec("hold_hearing", ("hearing_scheduled",), _hold_hearing, "举行听证"),
        ActionSpec("record_defence", ("notified",), _record_defence, "陈述申辩及复核"),
        ActionSpec("legal_review", ("defence_heard", "heard"), _legal_review, "法制审核"),
        ActionSpec(
            "collective_discussion",
            ("defence_heard", "heard", "reviewed"),
            _collective,
            "集体讨论",
        ),
        ActionSpec(
            "decide", ("defence_heard", "heard", "reviewed", "discussed"), _decide, "行政处罚决定"
        ),
        ActionSpec("summary_decide", ("confirmed",), _summary_decide, "简易程序当场处罚"),
        ActionSpec("serve", ("decided",), _serve, "送达"),
        ActionSpec("record_performance", ("served",), _record_performance, "执行"),
        ActionSpec("close", ("performed", "concluded"), _close, "结案"),
        ActionSpec("archive", ("closed",), _archive, "归档"),
    )
}


def get_case(session: Session, ref: int | str) -> Case:
    """A case by id or by number."""
    case: Case | None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        case = session.get(Case, int(ref))
    else:
        case = session.scalar(select(Case).where(Case.number == ref))
    if case is None:
        raise NotFoundError(f"case {ref!r} not found")
    return case


def available_actions(
    case: Case, user: User | None = None, config: ProcedureConfig = DEFAULT_CONFIG
) -> list[str]:
    """Actions allowed from the case's state (and by ``user``'s role, when given)."""
    return [
        name
        for name, spec in ACTIONS.items()
        if case.state in spec.from_states and (user is None or user.role in config.roles_for(name))
    ]


def _apply_deadlines(ctx: StepContext, step: CaseStep) -> None:
    rows = ctx.session.scalars(
        select(CaseDeadline).where(CaseDeadline.case_id == ctx.case.id)
    ).all()
    for row in rows:
        if row.met_on is not None or row.cancelled:
            continue
        if "*" in ctx.cancel_deadlines or row.kind in ctx.cancel_deadlines:
            row.cancelled = True
        elif row.kind in ctx.meet_deadlines:
            row.met_on = ctx.day
    for kind, basis, due, unit in ctx.open_deadlines:
        ctx.session.add(
            CaseDeadline(
                case_id=ctx.case.id,
                step_id=step.id,
                kind=kind,
                basis=basis,
                start_on=ctx.day,
                due_on=due,
                unit=unit,
            )
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def take_step(
    session: Session,
    case_ref: int | str | Case,
    action: str,
    actor: User | int | str,
    reason: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    config: ProcedureConfig = DEFAULT_CONFIG,
    calendar: WorkCalendar | None = None,
    documents_dir: Path | None = None,
) -> CaseStep:
    """Take one procedural step on a case, or refuse it with the rule and article.

    ``reason`` (why) is mandatory; ``at`` (when, aware UTC) defaults to now and may not
    precede the previous step; ``actor`` (who) must hold a role allowed for ``action``.
    On success the case state changes, a step is recorded with its officers, evidence,
    deadlines and an audit entry, and — when ``documents_dir`` is given — its documents
    are rendered and linked. Flushes; the caller commits. On refusal nothing changes.
    """
    case = case_ref if isinstance(case_ref, Case) else get_case(session, case_ref)
    spec = ACTIONS.get(action)
    if spec is None:
        raise _refuse(
            f"unknown action {action!r}; actions: {sorted(ACTIONS)}", "unknown_action", ""
        )
    user = _user(session, actor, "actor")
    if not user.active:
        raise _refuse(f"{action}: user {user.username} is deactivated", "actor_active", "")
    allowed_roles = config.roles_for(action)
    if user.role not in allowed_roles:
        raise _refuse(
            f"{action}: {user.name} has role '{user.role}'; only {list(allowed_roles)} "
            "may take this step",
            "role_not_allowed",
            "APL Art. 42; department duties",
        )
    if case.state not in spec.from_states:
        allowed = available_actions(case, None, config)
        raise _refuse(
            f"{action}: not allowed while case {case.number} is '{case.state}' "
            f"(allowed now: {allowed or 'none'}); steps cannot be skipped or reordered",
            "step_order",
            "APL Art. 38",
        )
    if not isinstance(reason, str) or not reason.strip():
        raise _refuse(
            f"{action}: a reason (why) is required for every step", "reason_required", "APL Art. 47"
        )
    now = utcnow()
    when = at or now
    if when.tzinfo is None:
        raise CasesError(
            f"{action}: at={when.isoformat()} is naive; pass a timezone-aware UTC time"
        )
    if when > now + MAX_FUTURE:
        raise _refuse(
            f"{action}: at={when.isoformat()} is in the future", "step_time", "APL Art. 47"
        )
    last = case.steps[-1].taken_at if case.steps else case.opened_at
    if when < last:
        raise _refuse(
            f"{action}: at={when.isoformat()} precedes the previous step ({last.isoformat()})",
            "step_time_order",
            "APL Art. 38",
        )
    ctx = StepContext(
        session=session,
        case=case,
        action=action,
        actor=user,
        reason=reason.strip(),
        data=dict(data or {}),
        at=when,
        day=legal_date(when),
        config=config,
        calendar=calendar or WorkCalendar(),
        record={},
    )
    # Guards run inside a savepoint: a refusal undoes whatever a handler had touched.
    try:
        with session.begin_nested():
            from_state = case.state
            to_state = spec.handler(ctx)
            step = CaseStep(
                case_id=case.id,
                seq=len(case.steps) + 1,
                action=action,
                from_state=from_state,
                to_state=to_state,
                actor_id=user.id,
                actor_role=user.role,
                actor_name=user.name,
                officers=ctx.officers,
                taken_at=when,
                reason=ctx.reason,
                data=_jsonable(ctx.record),
                evidence_ids=ctx.evidence_ids,
            )
            case.steps.append(step)
            case.state = to_state
            case.updated_at = now
            session.flush()
            _apply_deadlines(ctx, step)
            session.flush()
            journal.record(
                session,
                f"user:{user.username}",
                f"case.{action}",
                f"case:{case.number}",
                {
                    "case": case.number,
                    "seq": step.seq,
                    "from": from_state,
                    "to": to_state,
                    "at": when.isoformat(),
                    "actor": {"id": user.id, "name": user.name, "role": user.role},
                    "officers": ctx.officers,
                    "reason": ctx.reason,
                    "data": step.data,
                    "evidence_ids": ctx.evidence_ids,
                    "documents": ctx.documents,
                },
            )
    except ProcedureError:
        session.expire(case)
        raise
    except CasesError:
        session.expire(case)
        raise
    step.data = {**step.data, "documents_due": ctx.documents}
    if documents_dir is not None and ctx.documents:
        from cases.documents import render_step_documents

        render_step_documents(session, step, documents_dir, calendar=ctx.calendar, config=config)
    return step
