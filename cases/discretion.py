"""Discretion benchmarks (裁量基准): tables as data, and recommendations with stated reasons.

A benchmark table (YAML, one per violation code) names the legal basis of the prohibition
and of the penalty, one quantified fact (e.g. the occupied area), tiers over that fact as
half-open ranges ``[from, to)`` covering ``[0, ∞)`` with no gap and no overlap, and for
each tier the penalty range for individuals and for organisations: a fixed yuan range, a
range per unit of the fact (yuan per m²), or a percentage of another fact (e.g. 5-10 % of
the construction cost). Tables are validated at load; a bad row is named.

:func:`recommend` applies, in order, the no-penalty rules (Arts. 30, 31, 33), the tier for
the quantified fact, aggravating circumstances (从重: upper half of the range) and the
mandatory mitigation of Art. 32 (从轻: lower half; 减轻: below the minimum when two or more
circumstances concur) and writes the reasons (说明理由) that go into the decision.

The shipped tables in ``cases/data/benchmarks`` are EXAMPLES, marked ``example: true``:
a department replaces them with its own published benchmark.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cases.errors import BenchmarkError

__all__ = [
    "ART32_CIRCUMSTANCES",
    "BenchmarkTable",
    "Recommendation",
    "load_benchmark",
    "load_benchmarks",
    "recommend",
    "shipped_benchmarks",
]

PENALTY_SPEC_KINDS = ("fixed", "per_unit", "percent", "warning")

ART32_CIRCUMSTANCES: dict[str, str] = {
    "eliminated_harm": "主动消除或者减轻违法行为危害后果",
    "coerced": "受他人胁迫或者诱骗实施违法行为",
    "confessed": "主动供述行政机关尚未掌握的违法行为",
    "meritorious": "配合行政机关查处违法行为有立功表现",
}

BASE_LABELS: dict[str, str] = {"construction_cost_yuan": "建设工程造价"}

AGGRAVATING_LABELS: dict[str, str] = {
    "repeat_offence": "屡教不改或者再次违法",
    "serious_harm": "造成较重危害后果",
    "obstruction": "阻碍、拒不配合执法",
    "farmland": "占用或者破坏耕地、永久基本农田",
    "continued_after_order": "责令停止后继续建设",
    "water_source_area": "在饮用水水源保护区内实施",
    "heavy_pollution_alert": "重污染天气预警期间实施",
}


@dataclass(frozen=True)
class PenaltySpec:
    """One party kind's penalty in one tier."""

    kind: str
    min: float = 0
    max: float = 0
    of: str = ""


@dataclass(frozen=True)
class Tier:
    """One row of a benchmark table: a range of the quantified fact and its penalties."""

    id: str
    tier: str
    lower: float
    upper: float | None
    individual: PenaltySpec
    organisation: PenaltySpec
    note: str = ""


@dataclass
class BenchmarkTable:
    """A validated benchmark table for one violation code."""

    violation_code: str
    name: str
    department: str
    valid_from: date
    valid_to: date | None
    prohibition_basis: str
    penalty_basis: str
    measure_key: str
    measure_label: str
    measure_unit: str
    tiers: list[Tier]
    aggravating: list[str]
    measures_ordered: list[str]
    reduced_factor: float
    example: bool
    source: str
    sha256: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def tier_for(self, value: float) -> Tier:
        for t in self.tiers:
            if value >= t.lower and (t.upper is None or value < t.upper):
                return t
        raise BenchmarkError(f"{self.source}: no tier for {self.measure_key}={value}")


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BenchmarkError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _spec(raw: Any, where: str) -> PenaltySpec:
    if not isinstance(raw, dict) or raw.get("kind") not in PENALTY_SPEC_KINDS:
        raise BenchmarkError(f"{where}: kind must be one of {list(PENALTY_SPEC_KINDS)}")
    kind = raw["kind"]
    if kind == "warning":
        return PenaltySpec("warning")
    lo, hi = raw.get("min"), raw.get("max")
    if not isinstance(lo, int | float) or not isinstance(hi, int | float) or lo < 0 or hi < lo:
        raise BenchmarkError(f"{where}: min {lo!r} and max {hi!r} must be numbers, 0 <= min <= max")
    if kind == "percent" and (not raw.get("of") or hi > 100):
        raise BenchmarkError(f"{where}: a percent range needs 'of' (the base fact) and max <= 100")
    if kind == "fixed" and (int(lo) != lo or int(hi) != hi):
        raise BenchmarkError(f"{where}: fixed ranges are whole yuan")
    return PenaltySpec(kind, float(lo), float(hi), str(raw.get("of", "")))


def parse_benchmark(data: Any, source: str, sha256: str = "") -> BenchmarkTable:
    """Validate parsed table ``data``; :class:`BenchmarkError` names the bad row or field."""
    if not isinstance(data, dict):
        raise BenchmarkError(f"{source}: a benchmark table is a mapping")
    for key in (
        "violation_code",
        "name",
        "valid_from",
        "prohibition_basis",
        "penalty_basis",
        "measure",
        "tiers",
    ):
        if not data.get(key):
            raise BenchmarkError(f"{source}: field '{key}' is required")
    measure = data["measure"]
    if not isinstance(measure, dict) or not measure.get("key"):
        raise BenchmarkError(f"{source}: measure needs key, label and unit")
    valid_from = _date(data["valid_from"], f"{source}: valid_from")
    valid_to = _date(data["valid_to"], f"{source}: valid_to") if data.get("valid_to") else None
    if valid_to is not None and valid_to < valid_from:
        raise BenchmarkError(f"{source}: valid_to {valid_to} is before valid_from {valid_from}")
    rows = data["tiers"]
    if not isinstance(rows, list) or not rows:
        raise BenchmarkError(f"{source}: tiers must be a non-empty list")
    tiers: list[Tier] = []
    expected_lower = 0.0
    ids: set[str] = set()
    for i, row in enumerate(rows):
        rid = str(row.get("id") or f"#{i + 1}") if isinstance(row, dict) else f"#{i + 1}"
        where = f"{source}: row {rid}"
        if not isinstance(row, dict):
            raise BenchmarkError(f"{where}: must be a mapping")
        if rid in ids:
            raise BenchmarkError(f"{where}: duplicate row id")
        ids.add(rid)
        lower, upper = row.get("from"), row.get("to")
        if not isinstance(lower, int | float):
            raise BenchmarkError(f"{where}: 'from' must be a number")
        if upper is not None and (not isinstance(upper, int | float) or upper <= lower):
            raise BenchmarkError(f"{where}: 'to' {upper!r} must be greater than 'from' {lower}")
        if lower < expected_lower:
            raise BenchmarkError(
                f"{where}: range [{lower}, {upper}) overlaps the previous row, which ends at "
                f"{expected_lower}"
            )
        if lower > expected_lower:
            raise BenchmarkError(
                f"{where}: range starts at {lower} but the previous row ends at "
                f"{expected_lower}: values in [{expected_lower}, {lower}) have no tier (gap)"
            )
        if upper is None and i != len(rows) - 1:
            raise BenchmarkError(f"{where}: only the last row may be open-ended (to: null)")
        if not row.get("tier"):
            raise BenchmarkError(f"{where}: 'tier' (e.g. 轻微/一般/严重) is required")
        tiers.append(
            Tier(
                id=rid,
                tier=str(row["tier"]),
                lower=float(lower),
                upper=None if upper is None else float(upper),
                individual=_spec(row.get("individual"), f"{where}: individual"),
                organisation=_spec(row.get("organisation"), f"{where}: organisation"),
                note=str(row.get("note", "")),
            )
        )
        expected_lower = math.inf if upper is None else float(upper)
    if tiers[-1].upper is not None:
        raise BenchmarkError(
            f"{source}: row {tiers[-1].id}: the last row ends at {tiers[-1].upper}; values "
            "above it have no tier (make it open-ended: to: null)"
        )
    aggravating = [str(a) for a in data.get("aggravating", [])]
    factor = float(data.get("reduced_factor", 0.5))
    if not 0 < factor < 1:
        raise BenchmarkError(f"{source}: reduced_factor {factor} must be between 0 and 1")
    return BenchmarkTable(
        violation_code=str(data["violation_code"]),
        name=str(data["name"]),
        department=str(data.get("department", "")),
        valid_from=valid_from,
        valid_to=valid_to,
        prohibition_basis=str(data["prohibition_basis"]),
        penalty_basis=str(data["penalty_basis"]),
        measure_key=str(measure["key"]),
        measure_label=str(measure.get("label", measure["key"])),
        measure_unit=str(measure.get("unit", "")),
        tiers=tiers,
        aggravating=aggravating,
        measures_ordered=[str(m) for m in data.get("measures_ordered", [])],
        reduced_factor=factor,
        example=bool(data.get("example", False)),
        source=source,
        sha256=sha256,
        raw=data,
    )


def load_benchmark(path: str | Path) -> BenchmarkTable:
    """Load and validate one benchmark table file."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except OSError as exc:
        raise BenchmarkError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        # Dates stay as text so a bad date is reported with its field, not by the parser.
        data = yaml.load(blob.decode("utf-8"), _TextDates)
    except yaml.YAMLError as exc:
        raise BenchmarkError(f"{p}: not valid YAML ({exc})") from None
    return parse_benchmark(data, str(p), hashlib.sha256(blob).hexdigest())


class _TextDates(yaml.SafeLoader):
    """YAML loader that does not turn dates into objects."""


_TextDates.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in res if tag != "tag:yaml.org,2002:timestamp"]
    for ch, res in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_benchmarks(paths: list[Path]) -> list[BenchmarkTable]:
    """Load several tables; two tables of one code with overlapping validity are refused."""
    tables = [load_benchmark(p) for p in paths]
    by_code: dict[str, list[BenchmarkTable]] = {}
    for t in tables:
        by_code.setdefault(t.violation_code, []).append(t)
    for code, group in by_code.items():
        group.sort(key=lambda t: t.valid_from)
        for a, b in itertools.pairwise(group):
            if a.valid_to is None or a.valid_to >= b.valid_from:
                raise BenchmarkError(
                    f"{b.source}: {code} valid from {b.valid_from} overlaps {a.source} "
                    f"(valid to {a.valid_to or 'open'})"
                )
    return tables


def shipped_benchmarks() -> list[BenchmarkTable]:
    """The EXAMPLE tables shipped in ``cases/data/benchmarks``."""
    folder = resources.files("cases").joinpath("data/benchmarks")
    paths = sorted(Path(str(folder)).glob("*.yaml"))
    return load_benchmarks(paths)


@dataclass
class Recommendation:
    """A recommended tier and range with the reasons to state in the decision (说明理由)."""

    violation_code: str
    tier: str
    row_id: str | None
    no_penalty: bool
    no_penalty_optional: bool
    kinds: list[str]
    min_yuan: int
    max_yuan: int
    suggested_yuan: int
    adjustment: str  # "" | 从重 | 从轻 | 减轻 | 不予处罚
    reasons: list[str]
    legal_basis: list[str]
    measures: list[str]
    table_source: str
    table_sha256: str
    example_table: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _range_yuan(
    spec: PenaltySpec, table: BenchmarkTable, facts: dict[str, Any]
) -> tuple[int, int, str]:
    value = float(facts[table.measure_key])
    if spec.kind == "fixed":
        return int(spec.min), int(spec.max), f"{int(spec.min)}元至{int(spec.max)}元"
    if spec.kind == "per_unit":
        lo, hi = math.ceil(spec.min * value), math.floor(spec.max * value)
        text = (
            f"每{table.measure_unit}{spec.min:g}元至{spec.max:g}元，"
            f"按{value:g}{table.measure_unit}计{lo}元至{hi}元"
        )
        return lo, hi, text
    if spec.kind == "percent":
        base = facts.get(spec.of)
        if not isinstance(base, int | float) or base <= 0:
            raise BenchmarkError(
                f"{table.violation_code}: fact '{spec.of}' (yuan) is required for a "
                f"{spec.min:g}-{spec.max:g} % fine"
            )
        lo, hi = math.ceil(base * spec.min / 100), math.floor(base * spec.max / 100)
        label = BASE_LABELS.get(spec.of, spec.of)
        return lo, hi, f"{label}（{base:g}元）的{spec.min:g}%至{spec.max:g}%，即{lo}元至{hi}元"
    return 0, 0, "警告"


def _round_yuan(value: float, lo: int, hi: int) -> int:
    step = 100 if hi - lo >= 1000 else 10 if hi - lo >= 100 else 1
    rounded = int(round(value / step) * step)
    return max(lo, min(hi, rounded))


def recommend(
    tables: list[BenchmarkTable],
    violation_code: str,
    facts: dict[str, Any],
    on: date,
) -> Recommendation:
    """Recommend a tier and range for ``facts`` under the table valid ``on`` that day.

    Facts: the table's measure (e.g. ``area_m2``), ``party_kind`` (individual or
    organisation), aggravating flags named by the table, Art. 32 flags
    (:data:`ART32_CIRCUMSTANCES`), Art. 33 flags (``minor``, ``promptly_corrected``,
    ``no_harm``, ``first_offence``, ``slight_harm``, ``no_fault_proven``), ``age`` (Art. 30),
    ``mental_disability`` (``full``/``partial``, Art. 31).
    """
    candidates = [t for t in tables if t.violation_code == violation_code]
    if not candidates:
        known = sorted({t.violation_code for t in tables})
        raise BenchmarkError(f"no benchmark table for {violation_code!r}; tables: {known}")
    valid = [t for t in candidates if t.valid_on(on)]
    if not valid:
        spans = ", ".join(f"{t.valid_from}..{t.valid_to or 'open'}" for t in candidates)
        raise BenchmarkError(f"no {violation_code} table is valid on {on} (tables valid {spans})")
    table = valid[0]
    party_kind = facts.get("party_kind", "individual")
    if party_kind not in ("individual", "organisation"):
        raise BenchmarkError(f"party_kind={party_kind!r}; use individual or organisation")
    basis = [table.prohibition_basis, table.penalty_basis]
    base: dict[str, Any] = {
        "violation_code": violation_code,
        "table_source": table.source,
        "table_sha256": table.sha256,
        "example_table": table.example,
        "measures": table.measures_ordered,
    }

    def no_penalty(reason: str, article: str) -> Recommendation:
        text = f"{reason}，依据{article}，不予行政处罚"
        return Recommendation(
            tier="不予处罚",
            row_id=None,
            no_penalty=True,
            no_penalty_optional=False,
            kinds=[],
            min_yuan=0,
            max_yuan=0,
            suggested_yuan=0,
            adjustment="不予处罚",
            reasons=[text + "；对当事人进行教育并记录在案（《行政处罚法》第三十三条第三款）。"],
            legal_basis=[*basis, article],
            **base,
        )

    age = facts.get("age")
    if isinstance(age, int) and age < 14:
        return no_penalty("当事人未满十四周岁", "《中华人民共和国行政处罚法》第三十条")
    if facts.get("mental_disability") == "full":
        return no_penalty(
            "当事人为不能辨认或者控制自己行为的精神病人、智力残疾人",
            "《中华人民共和国行政处罚法》第三十一条",
        )
    if facts.get("minor") and facts.get("promptly_corrected") and facts.get("no_harm"):
        return no_penalty(
            "违法行为轻微并及时改正，没有造成危害后果",
            "《中华人民共和国行政处罚法》第三十三条第一款",
        )
    if facts.get("no_fault_proven"):
        return no_penalty(
            "当事人有证据足以证明没有主观过错", "《中华人民共和国行政处罚法》第三十三条第二款"
        )

    if table.measure_key not in facts or not isinstance(facts[table.measure_key], int | float):
        raise BenchmarkError(
            f"{violation_code}: fact '{table.measure_key}' ({table.measure_label}, "
            f"{table.measure_unit}) is required"
        )
    value = float(facts[table.measure_key])
    if value < 0:
        raise BenchmarkError(f"{table.measure_key}={value} is negative")
    tier = table.tier_for(value)
    spec = tier.individual if party_kind == "individual" else tier.organisation
    lo, hi, range_text = _range_yuan(spec, table, facts)
    upper = "以上" if tier.upper is None else f"至{tier.upper:g}{table.measure_unit}"
    reasons = [
        f"当事人{table.name}，{table.measure_label}{value:g}{table.measure_unit}，"
        f"属于裁量基准{tier.id}“{tier.tier}”情形（{tier.lower:g}{table.measure_unit}{upper}），"
        f"违反{table.prohibition_basis}，依据{table.penalty_basis}，"
        f"对{'个人' if party_kind == 'individual' else '单位'}处{range_text}的罚款。"
    ]
    kinds = ["warning"] if spec.kind == "warning" else ["fine"]

    aggravating = [a for a in table.aggravating if facts.get(a)]
    mitigating = [m for m in ART32_CIRCUMSTANCES if facts.get(m)]
    mitigating_texts = [ART32_CIRCUMSTANCES[m] for m in mitigating]
    if isinstance(age, int) and 14 <= age < 18:
        mitigating.append("minor_14_18")
        mitigating_texts.append("已满十四周岁不满十八周岁（第三十条）")
    if facts.get("mental_disability") == "partial":
        mitigating.append("partial_capacity")
        mitigating_texts.append(
            "尚未完全丧失辨认或者控制自己行为能力的精神病人、智力残疾人（第三十一条）"
        )

    adjustment = ""
    mid = (lo + hi) / 2
    if aggravating and not mitigating:
        adjustment = "从重"
        lo = math.ceil(mid)
        reasons.append(
            "当事人存在"
            + "、".join(AGGRAVATING_LABELS.get(a, a) for a in aggravating)
            + f"的情形，依法从重处罚，在{lo}元至{hi}元范围内裁量。"
        )
    elif mitigating:
        article = "《中华人民共和国行政处罚法》第三十二条"
        if len(mitigating) >= 2:
            adjustment = "减轻"
            new_hi = lo
            lo = math.ceil(lo * table.reduced_factor)
            hi = new_hi
            reasons.append(
                "当事人具有" + "、".join(mitigating_texts) + f"等多项情形，依据{article}等规定"
                f"减轻处罚，在法定最低限以下{lo}元至{hi}元范围内裁量。"
            )
        else:
            adjustment = "从轻"
            hi = math.floor(mid)
            reasons.append(
                "当事人具有" + "、".join(mitigating_texts) + f"的情形，依据{article}等规定应当"
                f"从轻处罚，在{lo}元至{hi}元范围内裁量。"
            )
        if aggravating:
            reasons.append(
                "当事人同时存在"
                + "、".join(AGGRAVATING_LABELS.get(a, a) for a in aggravating)
                + "的情形，已在裁量中一并考虑，但不影响依法应当从轻或者减轻的处理。"
            )
        basis.append(article)
    optional_no_penalty = bool(
        facts.get("first_offence") and facts.get("slight_harm") and facts.get("promptly_corrected")
    )
    if optional_no_penalty:
        reasons.append(
            "当事人初次违法且危害后果轻微并及时改正，依据《中华人民共和国行政处罚法》第三十三条"
            "第一款可以不予行政处罚，由执法机关裁量决定。"
        )
    suggested = (
        0 if kinds == ["warning"] else _round_yuan(mid if not adjustment else (lo + hi) / 2, lo, hi)
    )
    if table.measures_ordered:
        reasons.append("同时依法" + "、".join(table.measures_ordered) + "。")
    if table.example:
        reasons.append(
            "（注：本建议依据示例裁量基准表生成，正式使用前应替换为本部门公布的裁量基准。）"
        )
    return Recommendation(
        tier=tier.tier + (f"（{adjustment}）" if adjustment else ""),
        row_id=tier.id,
        no_penalty=False,
        no_penalty_optional=optional_no_penalty,
        kinds=kinds,
        min_yuan=lo,
        max_yuan=hi,
        suggested_yuan=suggested,
        adjustment=adjustment,
        reasons=reasons,
        legal_basis=basis,
        **base,
    )


def record_table(session: Any, table: BenchmarkTable) -> Any:
    """Keep ``table`` in ``benchmark_tables`` (once per content hash) for the case file.

    A decision's discretion names the table's sha256; the stored copy lets a reviewer see
    exactly the benchmark that was applied even after the file is replaced.
    """
    from sqlalchemy import select

    from cases.models import BenchmarkTableRecord

    existing = session.scalar(
        select(BenchmarkTableRecord).where(
            BenchmarkTableRecord.violation_code == table.violation_code,
            BenchmarkTableRecord.sha256 == table.sha256,
        )
    )
    if existing is not None:
        return existing
    row = BenchmarkTableRecord(
        violation_code=table.violation_code,
        name=table.name,
        department=table.department or None,
        valid_from=table.valid_from,
        valid_to=table.valid_to,
        example=table.example,
        source=table.source,
        sha256=table.sha256,
        content=_jsonable(table.raw),
    )
    session.add(row)
    session.flush()
    return row


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
