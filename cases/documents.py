"""Case-file documents (案卷文书): Jinja2 templates rendered to PDF and DOCX, numbered, hashed.

Each procedural step names the documents it produces (``filing_approval`` for filing,
``decision`` for the decision, ...). :func:`render_step_documents` renders them from the
templates in ``cases/templates`` into a PDF with an embedded Chinese font (a CJK font
installed from the system's package registry, e.g. Debian ``fonts-wqy-microhei`` — never
downloaded at run time) and an editable DOCX; numbers each per department, kind and year
(e.g. ``CG罚决〔2026〕3号``); stores the sha256 of both files; and links the document to
the step that produced it.

The templates emit a tiny line markup shared by both formats: ``# `` a title line,
``## `` the document number, ``> `` a right-aligned line (agency, seal, date), anything
else a paragraph.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases import journal
from cases.classes import route_for
from cases.config import ProcedureConfig
from cases.errors import DocumentError
from cases.models import Case, CaseEvidence, CaseStep, Department, Document
from cases.workdays import LEGAL_TZ, WorkCalendar, legal_date

__all__ = ["DOCUMENT_KINDS", "find_cjk_font", "render_document_bytes", "render_step_documents"]


@dataclass(frozen=True)
class DocumentKind:
    """A kind of case-file document: its title and its number's word (文号)."""

    title: str
    word: str


DOCUMENT_KINDS: dict[str, DocumentKind] = {
    "filing_approval": DocumentKind("立案审批表", "立审"),
    "inspection_record": DocumentKind("现场检查（勘验）笔录", "检录"),
    "electronic_evidence_record": DocumentKind("电子数据提取笔录", "电证"),
    "preservation_notice": DocumentKind("证据先行登记保存通知书", "登存"),
    "penalty_notice": DocumentKind("行政处罚事先告知书", "罚告"),
    "hearing_rights_notice": DocumentKind("听证告知书", "听告"),
    "hearing_notice": DocumentKind("听证通知书", "听通"),
    "hearing_record": DocumentKind("听证笔录", "听录"),
    "defence_record": DocumentKind("陈述申辩笔录及复核意见", "申辩"),
    "legal_review_opinion": DocumentKind("法制审核意见书", "法审"),
    "collective_record": DocumentKind("集体讨论记录", "集讨"),
    "decision": DocumentKind("行政处罚决定书", "罚决"),
    "summary_decision": DocumentKind("当场行政处罚决定书", "简罚"),
    "proof_of_service": DocumentKind("送达回证", "送达"),
    "closing_report": DocumentKind("结案报告", "结案"),
}

#: Where Debian's CJK font packages put their fonts (first found wins).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)

PARTY_KIND_ZH = {"individual": "个人", "organisation": "单位"}
PENALTY_KIND_ZH = {
    "warning": "警告",
    "circulate_criticism": "通报批评",
    "fine": "罚款",
    "confiscate_gains": "没收违法所得",
    "confiscate_property": "没收非法财物",
    "suspend_permit": "暂扣许可证件",
    "lower_qualification": "降低资质等级",
    "revoke_permit": "吊销许可证件",
    "restrict_activity": "限制开展生产经营活动",
    "suspend_business": "责令停产停业",
    "order_closure": "责令关闭",
    "occupational_bar": "限制从业",
}
SERVICE_METHOD_ZH = {
    "on_spot": "当场交付",
    "direct": "直接送达",
    "post": "邮寄送达",
    "electronic": "电子送达（经当事人书面同意）",
    "public_notice": "公告送达",
    "left_with_witness": "留置送达",
}
OUTCOME_ZH = {
    "penalty": "给予行政处罚",
    "no_penalty_minor": "违法行为轻微，不予行政处罚",
    "no_penalty_first_offence": "初次违法且危害后果轻微并及时改正，不予行政处罚",
    "no_penalty_no_fault": "没有主观过错，不予行政处罚",
    "no_penalty_unfounded": "违法事实不能成立，不予行政处罚",
    "transfer": "移送司法机关",
}


def find_cjk_font(explicit: str | Path | None = None) -> Path:
    """The CJK font file to embed; :class:`DocumentError` says how to install one."""
    candidates = [Path(explicit)] if explicit else [Path(p) for p in FONT_CANDIDATES]
    for p in candidates:
        if p.is_file():
            return p
    raise DocumentError(
        "no Chinese font found (looked for "
        + ", ".join(str(c) for c in candidates)
        + "); install one from the package registry: apt-get install fonts-wqy-microhei"
    )


def penalty_text(penalty: dict[str, Any] | None) -> str:
    """A penalty in words, e.g. '罚款人民币3000元；责令限期拆除'."""
    if not penalty:
        return "—"
    parts = []
    for kind in penalty.get("kinds", []):
        if kind == "fine":
            parts.append(f"罚款人民币{penalty.get('amount_yuan', 0)}元")
        elif kind.startswith("confiscate") and penalty.get("confiscation_yuan"):
            parts.append(f"{PENALTY_KIND_ZH[kind]}（价值{penalty['confiscation_yuan']}元）")
        else:
            parts.append(PENALTY_KIND_ZH.get(kind, kind))
    parts.extend(penalty.get("measures", []))
    return "；".join(parts)


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("cases", "templates"),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text markup, not HTML
        keep_trailing_newline=True,
    )
    env.globals["penalty_text"] = penalty_text
    return env


def _zh_date(d: Any) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _evidence_context(session: Session, case: Case, ids: list[str] | None) -> list[dict[str, Any]]:
    links = session.scalars(select(CaseEvidence).where(CaseEvidence.case_id == case.id)).all()
    out = []
    for link in links:
        e = link.evidence
        if ids is not None and e.id not in ids:
            continue
        review = e.art41_checks or {}
        out.append(
            {
                "id": e.id,
                "vehicle_id": e.vehicle_id,
                "mission_id": e.mission_id,
                "sortie_id": e.sortie_id,
                "site_id": e.site_id,
                "captured_local": e.captured_at.astimezone(LEGAL_TZ).strftime(
                    "%Y年%m月%d日 %H:%M:%S"
                ),
                "lat": e.lat,
                "lon": e.lon,
                "alt_agl_m": e.alt_agl_m,
                "confidence": e.confidence,
                "class_zh": route_for(e.class_name).name_zh,
                "media": [m.sha256 for m in e.media],
                "passed": e.art41_review == "passed",
                "checks": review.get("checks", {}),
                "notes": review.get("notes", {}),
            }
        )
    return out


def build_context(session: Session, step: CaseStep, kind: str, number: str) -> dict[str, Any]:
    """Everything a template may use for ``kind`` produced by ``step``."""
    from cases.procedure import LEGAL_REVIEW_CHECKS

    case = step.case
    dept = session.get(Department, case.department)
    agency = (dept.name_zh or dept.name) if dept else case.department
    when = step.taken_at.astimezone(LEGAL_TZ)
    facts = dict(case.facts_json or {})
    facts.setdefault("source", "")
    facts.setdefault("prohibition_basis", "")
    facts.setdefault("penalty_basis", "")
    facts.setdefault("handler_opinion", "")
    facts.setdefault("archive_ref", "")
    if kind == "electronic_evidence_record":
        evidence = _evidence_context(session, case, list(step.evidence_ids or []))
    else:
        passed = _evidence_context(session, case, None)
        evidence = [e for e in passed if e["passed"]]
    reasons = (
        (step.data or {}).get("discretion_reasons") or (case.discretion or {}).get("reasons") or []
    )
    decision_steps = [s for s in case.steps if s.action in ("decide", "summary_decide")]
    served_doc = DOCUMENT_KINDS[
        "summary_decision" if case.procedure == "summary" else "decision"
    ].title
    if decision_steps and decision_steps[-1].documents:
        served_doc = f"{served_doc}（{decision_steps[-1].documents[0].number}）"
    route = route_for(case.class_name)
    return {
        "agency": agency,
        "seal": (dept.seal_text if dept and dept.seal_text else f"{agency}（印章）"),
        "title": DOCUMENT_KINDS[kind].title,
        "number": number,
        "case": case,
        "party": case.party,
        "party_kind_zh": PARTY_KIND_ZH.get(case.party.kind, "") if case.party else "",
        "cause": f"涉嫌{route.name_zh}",
        "facts": facts,
        "step": step,
        "data": step.data or {},
        "officers": step.officers or [],
        "step_date": _zh_date(when),
        "step_time": when.strftime("%Y年%m月%d日 %H:%M"),
        "evidence": evidence,
        "inspections": sum(1 for s in case.steps if s.action == "investigate"),
        "reasons": reasons,
        "review_labels": LEGAL_REVIEW_CHECKS,
        "served_document": served_doc,
        "service_method_zh": SERVICE_METHOD_ZH.get((step.data or {}).get("method", ""), ""),
        "outcome_text": OUTCOME_ZH.get(case.outcome or "", case.outcome or ""),
    }


def render_text(kind: str, context: dict[str, Any]) -> str:
    """The template of ``kind`` rendered to line markup."""
    if kind not in DOCUMENT_KINDS:
        raise DocumentError(f"document kind {kind!r} unknown; kinds: {sorted(DOCUMENT_KINDS)}")
    try:
        return _env().get_template(f"{kind}.txt.j2").render(**context)
    except Exception as exc:  # a missing field in a template is a document error to the user
        raise DocumentError(f"document {kind}: cannot render ({exc})") from exc


def _lines(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.startswith("## "):
            out.append(("number", line[3:]))
        elif line.startswith("# "):
            out.append(("title", line[2:]))
        elif line.startswith("> "):
            out.append(("right", line[2:]))
        else:
            out.append(("para", line.strip()))
    return out


def _base_charset() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    for c in range(0x4E00, 0xA000):
        try:
            chr(c).encode("gb2312")
        except UnicodeEncodeError:
            continue
        chars.add(chr(c))
    for lo, hi in ((0x2000, 0x2070), (0x3000, 0x3040), (0xFF00, 0xFFF0), (0x00B0, 0x00B8)):
        chars.update(chr(c) for c in range(lo, hi))
    return "".join(sorted(chars))


def _subset(src: Path, text: str, dst: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    opts = subset.Options()
    opts.layout_features = []
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    # Hinting matters for screens at small sizes, not for print; dropping it halves the time.
    opts.hinting = False
    opts.drop_tables += ["FFTM"]
    font = TTFont(str(src), fontNumber=0, lazy=True)
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)
    tmp = dst.with_suffix(f".{uuid.uuid4().hex}.tmp")
    font.save(str(tmp))
    font.close()
    tmp.replace(dst)  # atomic: concurrent renderers never see half a file


def base_font(font: Path, cache_dir: Path | None = None) -> Path:
    """A cached subset of ``font`` with the GB2312 characters, ASCII and CJK punctuation.

    Parsing a full CJK font (tens of thousands of glyphs) costs seconds per document; the
    subset is built once per machine and font, and each document is cut from it.
    """
    folder = cache_dir or Path(tempfile.gettempdir()) / "fieldpatrol-fonts"
    folder.mkdir(parents=True, exist_ok=True)
    st = font.stat()
    key = hashlib.sha256(f"{font.resolve()}|{st.st_size}|{st.st_mtime_ns}|2".encode()).hexdigest()
    path = folder / f"base-{key[:16]}.ttf"
    if not path.exists():
        _subset(font, _base_charset(), path)
    return path


def _cmap_chars(path: Path) -> frozenset[str]:
    return _cmap_cached(str(path))


@cache
def _cmap_cached(path: str) -> frozenset[str]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=0, lazy=True) as f:
        return frozenset(chr(c) for c in f.getBestCmap())


def render_pdf(text: str, font: Path, created: datetime, cache_dir: Path | None = None) -> bytes:
    """Line markup to PDF bytes with ``font`` embedded (only the glyphs the text uses)."""
    from fpdf import FPDF

    needed = set(text) - {"\n", "\r"}
    base = base_font(font, cache_dir)
    # Rare characters (outside GB2312) are cut from the full font instead.
    source = base if needed <= _cmap_chars(base) else font
    pdf = FPDF(format="A4")
    pdf.set_creation_date(created)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "doc.ttf"
        _subset(source, "".join(sorted(needed)) + " ", small)
        pdf.add_font("cjk", fname=str(small))
    pdf.add_page()
    for kind, line in _lines(text):
        if kind == "title":
            pdf.set_font("cjk", size=18)
            pdf.multi_cell(0, 11, line, align="C", new_x="LMARGIN", new_y="NEXT")
        elif kind == "number":
            pdf.set_font("cjk", size=11)
            pdf.multi_cell(0, 8, line, align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        elif kind == "right":
            pdf.set_font("cjk", size=12)
            pdf.multi_cell(0, 8, line, align="R", new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font("cjk", size=12)
            pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    return bytes(pdf.output())


def render_docx(text: str, created: datetime) -> bytes:
    """Line markup to an editable DOCX."""
    from docx import Document as Docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Docx()
    doc.core_properties.created = created
    doc.core_properties.modified = created
    style = doc.styles["Normal"]
    style.font.name = "SimSun"
    # East Asian text uses the eastAsia font slot, which python-docx does not set itself.
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")
    for kind, line in _lines(text):
        p = doc.add_paragraph()
        run = p.add_run(line)
        if kind == "title":
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run.font.size = Pt(18)
            run.bold = True
        elif kind == "number":
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif kind == "right":
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def render_document_bytes(
    kind: str, context: dict[str, Any], created: datetime, font: Path | None = None
) -> tuple[str, bytes, bytes]:
    """Render ``kind``: (markup text, PDF bytes, DOCX bytes)."""
    text = render_text(kind, context)
    return text, render_pdf(text, font or find_cjk_font(), created), render_docx(text, created)


def _next_serial(session: Session, department: str, kind: str, year: int) -> int:
    current = session.scalar(
        select(func.max(Document.serial)).where(
            Document.department == department, Document.kind == kind, Document.year == year
        )
    )
    return int(current or 0) + 1


def document_number(department: str, kind: str, year: int, serial: int) -> str:
    """The document number, e.g. ``CG罚决〔2026〕3号``."""
    return f"{department}{DOCUMENT_KINDS[kind].word}〔{year}〕{serial}号"


def render_step_documents(
    session: Session,
    step: CaseStep,
    out_dir: Path,
    calendar: WorkCalendar | None = None,
    config: ProcedureConfig | None = None,
    font: Path | None = None,
) -> list[Document]:
    """Render, number, hash, store and link the documents ``step`` produces. Audited.

    Steps that already have their documents are left alone (idempotent).
    """
    kinds = list((step.data or {}).get("documents_due", []))
    done = {d.kind for d in step.documents}
    font_path = find_cjk_font(font) if kinds else None
    case = step.case
    year = legal_date(step.taken_at).year
    folder = Path(out_dir) / case.number
    folder.mkdir(parents=True, exist_ok=True)
    created: list[Document] = []
    for kind in kinds:
        if kind in done:
            continue
        for _attempt in range(5):
            serial = _next_serial(session, case.department, kind, year)
            number = document_number(case.department, kind, year, serial)
            context = build_context(session, step, kind, number)
            text, pdf, docx = render_document_bytes(kind, context, step.taken_at, font_path)
            stem = f"{step.seq:02d}-{kind}-{year}-{serial}"
            pdf_path, docx_path = folder / f"{stem}.pdf", folder / f"{stem}.docx"
            doc = Document(
                case_id=case.id,
                step_id=step.id,
                kind=kind,
                department=case.department,
                year=year,
                serial=serial,
                number=number,
                title=DOCUMENT_KINDS[kind].title,
                pdf_path=str(pdf_path),
                pdf_sha256=hashlib.sha256(pdf).hexdigest(),
                docx_path=str(docx_path),
                docx_sha256=hashlib.sha256(docx).hexdigest(),
                data={"text": text},
            )
            try:
                with session.begin_nested():
                    session.add(doc)
                    session.flush()
            except IntegrityError:
                continue  # another writer took this serial: take the next
            pdf_path.write_bytes(pdf)
            docx_path.write_bytes(docx)
            step.documents.append(doc)
            journal.record(
                session,
                "system:documents",
                "document.issued",
                f"case:{case.number}",
                {
                    "number": number,
                    "kind": kind,
                    "step": step.seq,
                    "pdf_sha256": doc.pdf_sha256,
                    "docx_sha256": doc.docx_sha256,
                },
            )
            created.append(doc)
            break
        else:
            raise DocumentError(f"could not allocate a number for {kind} in {case.department}")
    return created
