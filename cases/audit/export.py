"""Case export: one zip with the case record, its documents and media, and its audit proofs.

``export_case`` writes the zip; ``verify_export`` checks it with no database and no network.
At export time an ``case.exported`` audit entry records the SHA-256 of every content file,
then one signed tree head is issued and every audit entry of the case (that one included)
gets an inclusion proof against it. So the verifier knows the files are the ones the log
recorded, and the entries are in the log that the log key signed.

Zip layout::

    manifest.json            format, case, file digests, the signed head, the log public key
    case.json                case row, steps, deadlines, evidence links, documents, disclosures
    evidence/<id>.json       each evidence record, with the device's signed raw message
    media/<sha256>           evidence media (content-addressed: the name is the hash)
    documents/<file>         generated documents (PDF, DOCX) as stored
    audit/proofs.json        audit entries, payloads and inclusion proofs
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session

from cases.audit.errors import AuditError, ProofError
from cases.audit.heads import LogKey, SignedTreeHead, issue_head, verify_head
from cases.audit.log import append
from cases.audit.models import AuditEntry
from cases.audit.proofs import entry_proof, verify_proof

EXPORT_FORMAT = "fieldpatrol-case-export/1"


@dataclass
class ExportSummary:
    """What :func:`export_case` wrote."""

    path: str
    case_id: int
    case_number: str
    files: int
    media: int
    documents: int
    audit_entries: int
    tree_size: int
    missing: list[str] = field(default_factory=list)


@dataclass
class ExportCheck:
    """The outcome of :func:`verify_export`."""

    ok: bool
    case_number: str
    files: int
    audit_entries: int
    tree_size: int
    message: str
    problems: list[str] = field(default_factory=list)
    key_trusted: bool = False


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _dump(value: Any) -> bytes:
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, indent=2, default=_json_default
    ).encode("utf-8")


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in inspect(obj).mapper.column_attrs}


def find_case(session: Session, case_ref: str | int) -> Any:
    from cases.models import Case

    ref = str(case_ref).strip()
    case = session.scalars(select(Case).where(Case.number == ref)).first()
    if case is None and ref.isdigit():
        case = session.get(Case, int(ref))
    if case is None:
        raise AuditError(f"case {ref!r} not found: give a case number or numeric id")
    return case


def _resolve(path: str, roots: list[Path]) -> Path | None:
    p = Path(path)
    if p.is_absolute():
        return p if p.is_file() else None
    for root in roots:
        if (root / p).is_file():
            return root / p
    return None


def export_case(
    session: Session,
    case_ref: str | int,
    out: str | Path,
    key: LogKey,
    media_dir: str | Path,
    files_root: str | Path | None = None,
    actor: str = "system:patrol",
) -> ExportSummary:
    """Write the export zip of case ``case_ref`` (number or id) to ``out``.

    ``media_dir`` is the media store root; documents with relative paths are looked up
    under ``files_root`` (the data directory). Appends the ``case.exported`` entry and a
    signed head in the caller's transaction: the caller commits.
    """
    from cases.models import CaseDeadline, Disclosure, Document, Evidence, Media

    case = find_case(session, case_ref)
    roots = [Path(files_root)] if files_root is not None else []
    files: dict[str, bytes] = {}
    missing: list[str] = []

    evidence_ids = [link.evidence_id for link in case.evidence_links]
    evidence = (
        session.scalars(select(Evidence).where(Evidence.id.in_(evidence_ids))).all()
        if evidence_ids
        else []
    )
    media_count = 0
    for ev in evidence:
        record = _row(ev)
        record["media_sha256"] = [m.sha256 for m in ev.media]
        files[f"evidence/{ev.id}.json"] = _dump(record)
        for m in ev.media:
            stored = session.get(Media, m.sha256)
            candidates = [stored.path] if stored is not None else []
            # Where the media store keeps it: one fan-out level, or two in older stores.
            candidates.append(str(Path(m.sha256[:2]) / m.sha256))
            candidates.append(str(Path(m.sha256[:2]) / m.sha256[2:4] / m.sha256))
            found = next(
                (p for c in candidates if (p := _resolve(c, [Path(media_dir)])) is not None), None
            )
            if found is None:
                missing.append(f"media {m.sha256} of evidence {ev.id}")
                continue
            files[f"media/{m.sha256}"] = found.read_bytes()
            media_count += 1

    documents = session.scalars(
        select(Document).where(Document.case_id == case.id).order_by(Document.id)
    ).all()
    doc_count = 0
    for doc in documents:
        for attr in ("pdf_path", "docx_path"):
            path = getattr(doc, attr)
            if not path:
                continue
            found = _resolve(path, roots)
            if found is None:
                missing.append(f"{attr} {path} of document {doc.number}")
                continue
            files[f"documents/{doc.id}-{found.name}"] = found.read_bytes()
            doc_count += 1

    record = {
        "case": _row(case),
        "steps": [_row(s) for s in case.steps],
        "evidence_ids": evidence_ids,
        "deadlines": [
            _row(d)
            for d in session.scalars(
                select(CaseDeadline)
                .where(CaseDeadline.case_id == case.id)
                .order_by(CaseDeadline.id)
            )
        ],
        "documents": [_row(d) for d in documents],
        "disclosures": [
            _row(d)
            for d in session.scalars(
                select(Disclosure).where(Disclosure.case_id == case.id).order_by(Disclosure.id)
            )
        ],
    }
    files["case.json"] = _dump(record)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}

    subject = f"case:{case.number}"
    append(session, actor, "case.exported", subject, {"files": digests, "missing": missing})
    head = issue_head(session, key)

    subjects = {subject, f"case:{case.id}"}
    subjects |= {f"evidence:{e}" for e in evidence_ids}
    subjects |= {f"document:{d.id}" for d in documents} | {
        f"document:{d.number}" for d in documents
    }
    entries = session.scalars(
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.subject.in_(sorted(subjects)),
                AuditEntry.payload.contains(
                    json.dumps(case.number, ensure_ascii=False), autoescape=True
                ),
            ),
            AuditEntry.id < head.tree_size,
        )
        .order_by(AuditEntry.id)
    ).all()
    proofs = [entry_proof(session, e, head) for e in entries]
    files["audit/proofs.json"] = _dump(proofs)

    manifest = {
        "format": EXPORT_FORMAT,
        "case_id": case.id,
        "case_number": case.number,
        "exported_at": datetime.now(UTC),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "missing": missing,
        "signed_head": head.to_dict(),
        "log_public_key": key.public_key.hex(),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", _dump(manifest))
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    tmp.replace(out)
    return ExportSummary(
        path=str(out),
        case_id=case.id,
        case_number=case.number,
        files=len(files),
        media=media_count,
        documents=doc_count,
        audit_entries=len(proofs),
        tree_size=head.tree_size,
        missing=missing,
    )


def verify_export(path: str | Path, public_key: bytes | None = None) -> ExportCheck:
    """Check an export zip offline: file digests, the signed head, every inclusion proof,
    and that the files are the ones the ``case.exported`` audit entry recorded.

    ``public_key`` is the log key you trust (raw Ed25519); without it the key inside the
    export is used, which proves integrity but not origin (``key_trusted`` says which).
    """
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise AuditError(f"{path} is not a readable zip file: {exc}") from exc
    with zf:
        try:
            manifest = json.loads(zf.read("manifest.json"))
            proofs = json.loads(zf.read("audit/proofs.json"))
        except (KeyError, ValueError) as exc:
            raise AuditError(f"{path} is not a FieldPatrol case export: {exc}") from exc
        if manifest.get("format") != EXPORT_FORMAT:
            raise AuditError(f"{path}: unknown export format {manifest.get('format')!r}")
        names = set(zf.namelist()) - {"manifest.json"}
        listed: dict[str, str] = manifest.get("files", {})
        for name in sorted(names - listed.keys()):
            problems.append(f"{name} is in the zip but not in the manifest")
        for name, digest in sorted(listed.items()):
            if name not in names:
                problems.append(f"{name} is listed in the manifest but missing from the zip")
                continue
            data = zf.read(name)
            if hashlib.sha256(data).hexdigest() != digest:
                problems.append(f"{name} does not match its digest in the manifest")
            if name.startswith("media/") and hashlib.sha256(data).hexdigest() != name[6:]:
                problems.append(f"{name} is not the media its name (sha256) says")

    key = public_key if public_key is not None else bytes.fromhex(manifest["log_public_key"])
    head: SignedTreeHead | None = None
    try:
        head = SignedTreeHead.from_dict(manifest["signed_head"])
        verify_head(head, key)
    except (ProofError, KeyError) as exc:
        problems.append(f"signed head: {exc}")

    exported: dict[str, Any] | None = None
    for doc in proofs:
        where = f"audit entry {doc.get('index')}"
        try:
            proven = verify_proof(doc, key)
        except ProofError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if head is not None and proven != head:
            problems.append(f"{where} proves against another head than the manifest's")
        entry = json.loads(doc["entry"])
        if entry.get("action") == "case.exported" and entry.get("subject") == (
            f"case:{manifest.get('case_number')}"
        ):
            exported = json.loads(doc["payload"])
    if exported is None:
        problems.append("no case.exported audit entry binds the files to the log")
    else:
        content = {n: d for n, d in listed.items() if n != "audit/proofs.json"}
        if exported.get("files") != content:
            changed = sorted(set(content.items()) ^ set(exported.get("files", {}).items()), key=str)
            problems.append(
                "files differ from what the log recorded at export: "
                + ", ".join(sorted({name for name, _ in changed}))
            )
    ok = not problems
    return ExportCheck(
        ok=ok,
        case_number=str(manifest.get("case_number")),
        files=len(listed),
        audit_entries=len(proofs),
        tree_size=head.tree_size if head is not None else 0,
        message=(
            f"export of case {manifest.get('case_number')} OK: {len(listed)} files, "
            f"{len(proofs)} audit entries proven in the log of size "
            f"{head.tree_size if head else '?'}"
            if ok
            else f"export FAILED: {problems[0]}"
        ),
        problems=problems,
        key_trusted=public_key is not None,
    )
