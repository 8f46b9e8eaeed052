"""A realistic case world for procedure tests: officers, a reviewer, evidence, valid data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cases.art41 import approve_device, publish_site
from cases.evidence import store_evidence
from cases.intake import attach_to_case
from cases.models import Case, CaseStep, User
from cases.procedure import take_step
from cases.users import create_user

from .factories import evidence_record

T0 = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # capture time (10:00 in Shenyang, a Monday)

ART41_OK = {
    "record_true": True,
    "record_clear": True,
    "record_complete": True,
    "record_accurate": True,
}
REVIEW_OK = {
    k: True
    for k in (
        "lawful_body",
        "qualified_staff",
        "lawful_procedure",
        "facts_clear",
        "evidence_sufficient",
        "law_correct",
        "discretion_proper",
        "within_powers",
        "documents_complete",
    )
}


class World:
    """Users of every role and one suspected case built from approved drone evidence."""

    def __init__(self, session: Session, class_name: str = "illegal_construction") -> None:
        self.s = session
        dept = (
            "CG"
            if class_name in ("illegal_construction", "waste_dumping")
            else ("HB" if class_name == "open_burning" else "ZR")
        )
        valid = date(2029, 12, 31)
        mk = create_user
        self.insp1 = mk(session, "zhang", "张伟", "inspector", dept, "CG-0001", valid)
        self.insp2 = mk(session, "li", "李娜", "inspector", dept, "CG-0002", valid)
        self.insp_nocred = mk(session, "wang", "王强", "inspector", dept, None)
        self.head = mk(session, "zhao", "赵局长", "head", dept, "CG-H-01", valid)
        self.head2 = mk(session, "qian", "钱副局长", "head", dept, "CG-H-02", valid)
        self.reviewer = mk(session, "sun", "孙法制", "legal_reviewer", dept)
        self.archivist = mk(session, "zhou", "周档案", "archivist", dept)
        self.supervisor = mk(session, "wu", "吴主管", "supervisor", dept)
        approve_device(session, "copter-1", "CG-UAV-审〔2026〕3号", date(2027, 6, 30), "user:zhao")
        publish_site(
            session,
            "hunnan-demo",
            "沈城管公告〔2026〕1号",
            datetime(2026, 1, 5, tzinfo=UTC),
            "user:zhao",
        )
        rec = evidence_record(class_name=class_name, captured_at=T0)
        store_evidence(session, rec)
        self.evidence_id = rec.id
        self.case: Case = attach_to_case(session, rec.id, at=T0 + timedelta(hours=1))
        session.commit()
        self.t = T0 + timedelta(hours=2)

    @property
    def users(self) -> list[User]:
        return [
            self.insp1,
            self.insp2,
            self.insp_nocred,
            self.head,
            self.head2,
            self.reviewer,
            self.archivist,
            self.supervisor,
        ]

    def actor_for(self, action: str) -> User:
        return {
            "confirm": self.insp1,
            "dismiss": self.insp1,
            "file": self.head,
            "investigate": self.insp1,
            "review_evidence": self.insp2,
            "preserve_evidence": self.head,
            "handle_preserved": self.insp1,
            "end_investigation": self.head,
            "notify": self.insp1,
            "request_hearing": self.insp1,
            "schedule_hearing": self.reviewer,
            "reschedule_hearing": self.reviewer,
            "hold_hearing": self.head2,
            "record_defence": self.insp1,
            "legal_review": self.reviewer,
            "collective_discussion": self.head,
            "decide": self.head,
            "summary_decide": self.insp1,
            "serve": self.insp1,
            "record_performance": self.insp1,
            "close": self.head,
            "archive": self.archivist,
        }[action]

    def advance(self, days: float) -> datetime:
        self.t = self.t + timedelta(days=days)
        return self.t

    def valid_data(self, action: str, amount: int = 3000) -> dict[str, Any]:
        officers = [self.insp1.id, self.insp2.id]
        day = (self.t + timedelta(hours=8)).date()
        penalty = {"kinds": ["fine"], "amount_yuan": amount, "measures": ["责令限期拆除"]}
        return {
            "confirm": {},
            "dismiss": {},
            "file": {
                "officers": [self.head.id, self.insp1.id],
                "party": {
                    "kind": "individual",
                    "name": "陈某某",
                    "id_number": "210102198001011234",
                    "address": "沈阳市浑南区某街1号",
                    "phone": "13800000000",
                },
                "act_date": "2026-05-08",
                "facts": "当事人未取得建设工程规划许可证擅自搭建彩钢板房约30平方米。",
                "source": "无人机巡查",
                "legal_basis": "《城乡规划法》第四十条",
                "handler_opinion": "建议立案调查",
            },
            "investigate": {
                "officers": officers,
                "credentials_shown": True,
                "record_kind": "inspection",
                "place": "浑南区某街1号院内",
                "findings": "现场有新建彩钢板房一处，面积约30平方米。",
                "party_signature": "signed",
            },
            "review_evidence": {"evidence_id": self.evidence_id, "checks": dict(ART41_OK)},
            "preserve_evidence": {"items": ["施工工具一批"]},
            "handle_preserved": {"decision": "解除登记保存，退还当事人"},
            "end_investigation": {
                "outcome": "penalty",
                "proposed_penalty": penalty,
                "penalty_basis": "《城乡规划法》第六十四条",
                "discretion": {"tier": "一般", "reasons": ["违法建设面积30平方米，属一般情形。"]},
            },
            "notify": {},
            "request_hearing": {"requested_on": day.isoformat()},
            "schedule_hearing": {
                "hearing_date": (day + timedelta(days=14)).isoformat(),
                "place": "局听证室",
                "presiding": self.head2.id,
            },
            "reschedule_hearing": {
                "hearing_date": (day + timedelta(days=16)).isoformat(),
                "place": "局听证室",
                "presiding": self.head2.id,
            },
            "hold_hearing": {
                "party_attended": True,
                "record_signed_by_party": True,
                "statements": "当事人称系临时建筑，请求从轻。",
            },
            "record_defence": {
                "mode": "statement",
                "party_statement": "已自行拆除部分。",
                "re_examination": "部分采纳，维持拟处罚。",
                "hearing_waived": True,
            },
            "legal_review": {
                "checks": dict(REVIEW_OK),
                "conclusion": "pass",
                "opinion": "事实清楚，证据确凿，程序合法，同意。",
            },
            "collective_discussion": {
                "attendees": ["赵局长", "钱副局长", "孙法制"],
                "opinions": "同意",
                "conclusion": "同意处罚",
            },
            "decide": {"penalty": penalty},
            "summary_decide": {
                "officers": [self.insp1.id],
                "credentials_shown": True,
                "facts_conclusive": True,
                "rights_told": True,
                "act_date": day.isoformat(),
                "party": {"kind": "individual", "name": "刘某", "address": "沈阳市浑南区某路2号"},
                "penalty": {"kinds": ["fine"], "amount_yuan": 100},
                "facts": "当事人露天焚烧树叶。",
                "legal_basis": "《大气污染防治法》第一百一十九条",
            },
            "serve": {"method": "direct", "recipient": "陈某某", "recipient_signed": True},
            "record_performance": {
                "mode": "paid",
                "channel": "bank",
                "paid_amount_yuan": amount,
                "paid_on": day.isoformat(),
            },
            "close": {"summary": "当事人已缴纳罚款并自行拆除。"},
            "archive": {"archive_ref": "CG-2026-档-0001"},
        }[action]

    def step(
        self,
        action: str,
        days: float = 1.0,
        data: dict[str, Any] | None = None,
        actor: User | None = None,
        **kw: Any,
    ) -> CaseStep:
        at = self.advance(days)
        st = take_step(
            self.s,
            self.case,
            action,
            actor or self.actor_for(action),
            f"依法{action}",
            data if data is not None else self.valid_data(action),
            at=at,
            **kw,
        )
        self.s.commit()
        return st

    def run(self, actions: list[str], **kw: Any) -> None:
        for a in actions:
            self.step(a, **kw)


GENERAL_PATH = [
    "confirm",
    "file",
    "investigate",
    "review_evidence",
    "end_investigation",
    "notify",
    "record_defence",
    "decide",
    "serve",
    "record_performance",
    "close",
    "archive",
]
