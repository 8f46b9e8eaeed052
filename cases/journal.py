"""The one place ``cases`` writes the audit log (through ``cases.audit.append``).

Every procedural act, case opening and evidence review calls :func:`record`, so the
full-process record (Art. 47) cannot miss a step taken through this package.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def record(
    session: Session, actor: str, action: str, subject: str, payload: dict[str, Any]
) -> None:
    """Append one audit entry in the caller's transaction (committed with the act itself)."""
    # Imported here: the audit log sits on top of the models this package defines.
    from cases.audit import append

    append(session, actor=actor, action=action, subject=subject, payload=payload)
