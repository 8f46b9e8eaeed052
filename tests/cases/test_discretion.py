"""The discretion benchmark engine: tiers, Art. 32 mitigation, Art. 33 no-penalty, bad tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cases.classes import class_routes
from cases.discretion import load_benchmark, recommend, shipped_benchmarks
from cases.errors import BenchmarkError

TABLES = shipped_benchmarks()
DAY = date(2026, 11, 2)
LAND = "ZR-ILLEGAL-LAND-OCCUPATION"


def test_every_detector_class_has_an_example_table() -> None:
    codes = {t.violation_code for t in TABLES}
    assert codes == {r.violation_code for r in class_routes().values()}
    assert all(t.example for t in TABLES)


@pytest.mark.parametrize(
    ("facts", "tier", "lo", "hi", "adjust"),
    [
        # 150 m² in the 100-1000 m² tier: 300-600 yuan per m².
        ({"area_m2": 150}, "一般", 45_000, 90_000, ""),
        ({"area_m2": 99.9}, "轻微", 9_990, 29_970, ""),
        ({"area_m2": 100}, "一般", 30_000, 60_000, ""),  # boundary belongs to the upper tier
        ({"area_m2": 2000}, "严重", 1_200_000, 2_000_000, ""),
        # Aggravating: upper half.
        ({"area_m2": 150, "repeat_offence": True}, "一般（从重）", 67_500, 90_000, "从重"),
        # Art. 32, one circumstance: lower half (从轻).
        ({"area_m2": 150, "eliminated_harm": True}, "一般（从轻）", 45_000, 67_500, "从轻"),
        # Art. 32, two circumstances: below the minimum (减轻).
        (
            {"area_m2": 150, "coerced": True, "meritorious": True},
            "一般（减轻）",
            22_500,
            45_000,
            "减轻",
        ),
        # Art. 32 is mandatory: it is not cancelled by an aggravating circumstance.
        (
            {"area_m2": 150, "confessed": True, "farmland": True},
            "一般（从轻）",
            45_000,
            67_500,
            "从轻",
        ),
        # Art. 30: a minor aged 14-17 is mitigated.
        ({"area_m2": 150, "age": 16}, "一般（从轻）", 45_000, 67_500, "从轻"),
        ({"area_m2": 150, "party_kind": "organisation"}, "一般", 45_000, 90_000, ""),
    ],
)
def test_tiers_and_adjustments(
    facts: dict[str, Any], tier: str, lo: int, hi: int, adjust: str
) -> None:
    r = recommend(TABLES, LAND, facts, DAY)
    assert (r.tier, r.min_yuan, r.max_yuan, r.adjustment) == (tier, lo, hi, adjust)
    assert lo <= r.suggested_yuan <= hi
    assert r.reasons and "说明" not in r.reasons[0]
    assert "第五十七条" in r.reasons[0]
    if adjust in ("从轻", "减轻"):
        assert any("第三十二条" in x for x in r.reasons)


@pytest.mark.parametrize(
    ("facts", "article"),
    [
        (
            {"area_m2": 5, "minor": True, "promptly_corrected": True, "no_harm": True},
            "第三十三条第一款",
        ),
        ({"area_m2": 5, "no_fault_proven": True}, "第三十三条第二款"),
        ({"area_m2": 5, "age": 13}, "第三十条"),
        ({"area_m2": 5, "mental_disability": "full"}, "第三十一条"),
    ],
)
def test_no_penalty_art30_31_33(facts: dict[str, Any], article: str) -> None:
    r = recommend(TABLES, LAND, facts, DAY)
    assert r.no_penalty and r.suggested_yuan == 0 and r.tier == "不予处罚"
    assert article in r.reasons[0] and "教育" in r.reasons[0]


def test_first_offence_no_penalty_is_an_option_not_a_rule() -> None:
    facts = {"area_m2": 12, "first_offence": True, "slight_harm": True, "promptly_corrected": True}
    r = recommend(TABLES, LAND, facts, DAY)
    assert not r.no_penalty and r.no_penalty_optional
    assert any("可以不予行政处罚" in x for x in r.reasons)


def test_percent_of_construction_cost() -> None:
    r = recommend(
        TABLES, "CG-ILLEGAL-CONSTRUCTION", {"area_m2": 30, "construction_cost_yuan": 60_000}, DAY
    )
    assert (r.min_yuan, r.max_yuan) == (3_600, 4_800)
    assert "建设工程造价" in r.reasons[0]
    with pytest.raises(BenchmarkError, match="construction_cost_yuan"):
        recommend(TABLES, "CG-ILLEGAL-CONSTRUCTION", {"area_m2": 30}, DAY)


def test_fixed_ranges_per_party_kind() -> None:
    ind = recommend(TABLES, "CG-WASTE-DUMPING", {"volume_m3": 2}, DAY)
    org = recommend(TABLES, "CG-WASTE-DUMPING", {"volume_m3": 2, "party_kind": "organisation"}, DAY)
    assert (ind.min_yuan, ind.max_yuan) == (100, 200)
    assert (org.min_yuan, org.max_yuan) == (50_000, 100_000)


def test_validity_dates_and_missing_facts() -> None:
    with pytest.raises(BenchmarkError, match=r"valid on 2028-01-01"):
        recommend(TABLES, LAND, {"area_m2": 5}, date(2028, 1, 1))
    with pytest.raises(BenchmarkError, match="area_m2"):
        recommend(TABLES, LAND, {}, DAY)
    with pytest.raises(BenchmarkError, match="no benchmark table"):
        recommend(TABLES, "XX-NOPE", {}, DAY)


GOOD = Path(__file__).resolve().parents[2] / "cases/data/benchmarks/zr-illegal-land-occupation.yaml"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("from: 100, to: 1000", "from: 120, to: 1000", r"row ZR-LO-2: range starts at 120.*gap"),
        ("from: 100, to: 1000", "from: 80, to: 1000", r"row ZR-LO-2: .*overlaps"),
        ("from: 1000, to: null", "from: 1000, to: 5000", r"row ZR-LO-3: the last row ends"),
        (
            "kind: per_unit, min: 600, max: 1000}}",
            "kind: per_unit, min: 900, max: 600}}",
            r"row ZR-LO-3: organisation: min 900",
        ),
        ("valid_to: 2027-12-31", "valid_to: 2025-12-31", "valid_to 2025-12-31 is before"),
        ("tier: 一般,", "tier: '',", r"row ZR-LO-2: 'tier'"),
    ],
)
def test_bad_table_rejected_with_row_named(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = GOOD.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(BenchmarkError, match=message):
        load_benchmark(bad)


def test_applied_table_is_kept_once_per_version(sqlite_session: Session) -> None:
    from cases.discretion import record_table

    table = next(t for t in TABLES if t.violation_code == LAND)
    a = record_table(sqlite_session, table)
    b = record_table(sqlite_session, table)
    sqlite_session.commit()
    assert a.id == b.id and a.sha256 == table.sha256 and a.example
    assert a.content["tiers"][1]["id"] == "ZR-LO-2"
