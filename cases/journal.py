"""The one place ``cases`` writes the audit log (through ``cases.audit.append``).

Every procedural act, case opening and evidence review calls :func:`record`, so the
full-process record (Art. 47) cannot miss a step taken through this package.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session


def record(
    session: Session, actor: str, action: str, subject: str, payload: dict[str, Any]
) -> None:
    """Append one audit entry in the caller's transaction (committed with the act itself)."""
    # Imported here: the audit log sits on top of the models this package defines.
    from cases.audit import append

    append(session, actor=actor, action=action, subject=subject, payload=payload)


def record_many(
    session: Session, actor: str, entries: Iterable[tuple[str, str, dict[str, Any]]]
) -> None:
    """Append ``(action, subject, payload)`` entries of one actor in the caller's transaction.

    Inside an open ``AuditWriter`` (the ingest's batch) the entries join its buffer, written
    with one tree-state update when the batch commits; otherwise they are written at once.
    """
    from cases.audit.log import AuditWriter, active_writer

    writer = active_writer(session)
    if writer is None:
        writer = AuditWriter(session, batch_size=1_000_000)
        for action, subject, payload in entries:
            writer.append(actor, action, subject, payload)
        writer.flush()
        return
    for action, subject, payload in entries:
        writer.append(actor, action, subject, payload)
