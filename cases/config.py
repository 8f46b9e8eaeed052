"""Procedure configuration: the numbers the law leaves to localities and sectors.

The APL fixes the order of steps and some periods; hearing thresholds, statement periods,
the legal-review time limit, which fines need legal review or collective discussion, and
which role may take which step are local or sector choices, so they are data here. The
defaults are an example locality's; a department passes its own :class:`ProcedureConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cases.errors import CasesError

#: Roles a user may have. Procedure steps check the acting user's role against ``roles``.
ROLES = ("inspector", "head", "legal_reviewer", "archivist", "supervisor", "admin", "engineer")

#: Penalty kinds (APL Art. 9), lightest first; the rank forbids heavier kinds after defence.
PENALTY_KINDS: tuple[str, ...] = (
    "warning",  # 警告
    "circulate_criticism",  # 通报批评
    "fine",  # 罚款
    "confiscate_gains",  # 没收违法所得
    "confiscate_property",  # 没收非法财物
    "suspend_permit",  # 暂扣许可证件
    "lower_qualification",  # 降低资质等级
    "revoke_permit",  # 吊销许可证件
    "restrict_activity",  # 限制开展生产经营活动
    "suspend_business",  # 责令停产停业
    "order_closure",  # 责令关闭
    "occupational_bar",  # 限制从业
)

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "confirm": ("inspector",),
    "dismiss": ("inspector", "head"),
    "file": ("head",),
    "investigate": ("inspector",),
    "review_evidence": ("inspector", "legal_reviewer"),
    "preserve_evidence": ("head",),
    "handle_preserved": ("inspector",),
    "end_investigation": ("head",),
    "notify": ("inspector",),
    "request_hearing": ("inspector",),
    "schedule_hearing": ("head", "legal_reviewer"),
    "hold_hearing": ("head", "legal_reviewer", "inspector"),
    "record_defence": ("inspector",),
    "legal_review": ("legal_reviewer",),
    "collective_discussion": ("head",),
    "decide": ("head",),
    "summary_decide": ("inspector",),
    "serve": ("inspector",),
    "record_performance": ("inspector",),
    "close": ("head",),
    "archive": ("archivist", "head"),
}


@dataclass(frozen=True)
class ProcedureConfig:
    """Local and sector choices of the enforcement procedure (example defaults)."""

    # Hearing (Art. 63): a "large" fine, or these penalty kinds, give the right to a hearing.
    hearing_fine_individual_yuan: int = 5_000
    hearing_fine_organisation_yuan: int = 100_000
    hearing_confiscation_yuan: int = 10_000
    hearing_penalty_kinds: frozenset[str] = frozenset(
        {
            "lower_qualification",
            "revoke_permit",
            "suspend_business",
            "order_closure",
            "occupational_bar",
            "restrict_activity",
        }
    )
    hearing_request_working_days: int = 5  # Art. 64 (1)
    hearing_notice_working_days: int = 7  # Art. 64 (2)
    # Statement and defence period after the notice (sector rule; e.g. natural resources: 5).
    statement_working_days: int = 5
    # Legal review (Art. 58): local catalogue of major decisions, and its time limit.
    legal_review_fine_individual_yuan: int = 5_000
    legal_review_fine_organisation_yuan: int = 100_000
    legal_review_working_days: int = 7
    # Collective discussion (Art. 57 para 2) for major violations.
    collective_fine_individual_yuan: int = 50_000
    collective_fine_organisation_yuan: int = 500_000
    # Summary procedure limits (Art. 51).
    summary_max_individual_yuan: int = 200
    summary_max_organisation_yuan: int = 3_000
    # Periods fixed by law.
    decision_calendar_days: int = 90  # Art. 60
    service_working_days: int = 7  # Art. 61
    payment_calendar_days: int = 15  # Art. 67
    preservation_working_days: int = 7  # Art. 56
    review_calendar_days: int = 60  # 行政复议法
    lawsuit_months: int = 6  # 行政诉讼法
    public_notice_service_days: int = 30
    limitation_years: int = 2  # Art. 36
    limitation_years_serious: int = 5
    late_surcharge_percent_per_day: int = 3  # Art. 72, capped at the fine
    # Disclosure (city plan, Art. 48).
    disclosure_penalty_working_days: int = 7
    disclosure_other_working_days: int = 20
    withdrawal_working_days: int = 3
    # Warn this many working days before a deadline.
    warning_working_days: int = 2
    roles: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ROLES))

    def roles_for(self, action: str) -> tuple[str, ...]:
        """Roles allowed to take ``action``."""
        return self.roles.get(action, ())


def load_procedure_config(path: str | Path) -> ProcedureConfig:
    """Read a YAML file overriding :class:`ProcedureConfig` fields (unknown keys refused)."""
    p = Path(path)
    try:
        data: dict[str, Any] = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CasesError(f"procedure config {p}: cannot read ({exc})") from None
    known = set(ProcedureConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise CasesError(f"procedure config {p}: unknown keys {unknown}; known: {sorted(known)}")
    if "hearing_penalty_kinds" in data:
        data["hearing_penalty_kinds"] = frozenset(data["hearing_penalty_kinds"])
    if "roles" in data:
        roles = dict(DEFAULT_ROLES)
        for action, allowed in data["roles"].items():
            if action not in DEFAULT_ROLES:
                raise CasesError(f"procedure config {p}: roles.{action} is not an action")
            bad = [r for r in allowed if r not in ROLES]
            if bad:
                raise CasesError(f"procedure config {p}: roles.{action}: unknown roles {bad}")
            roles[action] = tuple(allowed)
        data["roles"] = roles
    for key, value in data.items():
        if key.endswith(("_yuan", "_days", "_months", "_years")) and (
            not isinstance(value, int) or value < 0
        ):
            raise CasesError(f"procedure config {p}: {key}={value!r} must be an integer >= 0")
    return ProcedureConfig(**data)
