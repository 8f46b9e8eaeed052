"""Documents: rendered for each step as PDF (Chinese font embedded) and DOCX, numbered,
hashed, linked; required fields checked in the text extracted from the PDF."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from docx import Document as Docx
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.documents import DOCUMENT_KINDS, build_context, render_text
from cases.models import Document

from .scenario import GENERAL_PATH, World

pytestmark = pytest.mark.slow

HEARING_PATH = [
    "confirm",
    "file",
    "investigate",
    "review_evidence",
    "end_investigation",
    "notify",
    "request_hearing",
    "schedule_hearing",
    "hold_hearing",
    "legal_review",
    "decide",
    "serve",
    "record_performance",
    "close",
]


def pdf_text(path: str) -> str:
    text = "".join(page.extract_text() for page in PdfReader(path).pages)
    return text.replace(" ", "").replace("\n", "")


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> dict[str, Document]:
    import shutil

    from cases.db import make_engine, session_factory

    db = tmp_path_factory.mktemp("docs") / "d.db"
    shutil.copyfile(sqlite_template, db)
    out = tmp_path_factory.mktemp("out")
    engine = make_engine(f"sqlite:///{db}")
    session: Session = session_factory(engine)()
    world = World(session)
    for action in HEARING_PATH:
        data = world.valid_data(action, 20000)
        days = 20.0 if action == "hold_hearing" else 1.0
        world.step(action, days=days, data=data, documents_dir=out)
    docs = {d.kind: d for d in session.scalars(select(Document))}
    session.close()
    engine.dispose()
    return docs


def test_every_required_document_is_issued_numbered_hashed_and_linked(
    issued: dict[str, Document],
) -> None:
    required = {
        "filing_approval",
        "inspection_record",
        "electronic_evidence_record",
        "penalty_notice",
        "hearing_rights_notice",
        "hearing_notice",
        "hearing_record",
        "legal_review_opinion",
        "decision",
        "proof_of_service",
        "closing_report",
    }
    assert required <= set(issued)
    for d in issued.values():
        assert d.step_id is not None
        assert d.number.startswith("CG") and "〔2026〕1号" in d.number
        assert d.pdf_path and d.docx_path and d.pdf_sha256 and d.docx_sha256
        assert hashlib.sha256(Path(d.pdf_path).read_bytes()).hexdigest() == d.pdf_sha256
        assert hashlib.sha256(Path(d.docx_path).read_bytes()).hexdigest() == d.docx_sha256
    assert issued["decision"].number == "CG罚决〔2026〕1号"


def test_pdf_embeds_a_chinese_font(issued: dict[str, Document]) -> None:
    reader = PdfReader(issued["decision"].pdf_path or "")
    fonts = reader.pages[0]["/Resources"]["/Font"]
    font = next(iter(fonts.values())).get_object()
    descendant = font["/DescendantFonts"][0].get_object()
    assert (
        "/FontFile2" in descendant["/FontDescriptor"]
        or "/FontFile3" in descendant["/FontDescriptor"]
    )


def test_decision_has_all_art59_items_and_reasons(issued: dict[str, Document]) -> None:
    text = pdf_text(issued["decision"].pdf_path or "")
    for needed in [
        "行政处罚决定书",
        "CG罚决〔2026〕1号",
        "陈某某",
        "沈阳市浑南区某街1号",  # (1) party name and address
        "彩钢板房",
        "SHA-256",  # (2) facts and evidence
        "罚款人民币20000元",
        "《城乡规划法》第六十四条",  # (3) penalty kind and basis
        "十五日内",
        "银行",  # (4) how and by when to perform
        "六十日内",
        "行政复议",
        "六个月内",
        "行政诉讼",  # (5) remedies
        "城市管理综合行政执法局",
        "印章",
        "2026年",  # (6)-(7) agency, date, seal
        "裁量理由",
        "违法建设面积30平方米",  # the reasons (说明理由)
    ]:
        assert needed in text, needed


@pytest.mark.parametrize(
    ("kind", "needed"),
    [
        (
            "filing_approval",
            [
                "立案审批表",
                "陈某某",
                "无人机巡查",
                "《城乡规划法》第四十条",
                "建议立案调查",
                "赵局长",
                "张伟",
                "CG-H-01",
            ],
        ),
        (
            "inspection_record",
            [
                "现场检查",
                "张伟",
                "CG-0001",
                "李娜",
                "CG-0002",
                "出示执法证件",
                "浑南区某街1号院内",
                "已签名",
            ],
        ),
        (
            "electronic_evidence_record",
            ["电子数据提取笔录", "copter-1", "SHA-256", "通过", "沈城管公告〔2026〕1号", "证明"],
        ),
        (
            "penalty_notice",
            ["行政处罚事先告知书", "陈述", "申辩", "听证", "第四十四条", "罚款人民币20000元"],
        ),
        ("hearing_notice", ["听证通知书", "局听证室", "钱副局长", "七个工作日"]),
        (
            "legal_review_opinion",
            ["法制审核意见书", "程序合法", "裁量基准运用适当", "同意", "孙法制"],
        ),
        (
            "proof_of_service",
            ["送达回证", "行政处罚决定书", "CG罚决〔2026〕1号", "直接送达", "陈某某", "已签收"],
        ),
        ("closing_report", ["结案报告", "给予行政处罚", "已缴纳罚款"]),
    ],
)
def test_document_required_fields(
    issued: dict[str, Document], kind: str, needed: list[str]
) -> None:
    text = pdf_text(issued[kind].pdf_path or "")
    for item in needed:
        assert item in text, f"{kind}: {item}"


def test_docx_is_editable_and_matches(issued: dict[str, Document]) -> None:
    doc = Docx(issued["decision"].docx_path)
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "行政处罚决定书" in text and "CG罚决〔2026〕1号" in text and "陈某某" in text


@pytest.mark.parametrize(
    "path",
    [
        GENERAL_PATH,
        ["confirm", "summary_decide", "serve", "record_performance", "close", "archive"],
        ["confirm", "file", "investigate", "preserve_evidence", "handle_preserved"],
    ],
    ids=["general", "summary", "preservation"],
)
def test_every_step_document_renders(sqlite_session: Session, path: list[str]) -> None:
    """All templates render with what each step records (text only: fast)."""
    world = World(sqlite_session)
    for action in path:
        st = world.step(action)
        for kind in st.data["documents_due"]:
            text = render_text(kind, build_context(sqlite_session, st, kind, "TEST-1"))
            assert DOCUMENT_KINDS[kind].title in text and "TEST-1" in text
            assert "None" not in text, f"{kind} shows a missing value:\n{text}"
