"""Which process flies which sortie, and recovery of the sorties a crashed process left open.

A `SortieRun` holds an exclusive `flock` on `$FIELDPATROL_HOME/run/sortie-<id>.lock` from
before its `sorties` row is written until its final status is (`claim`). The kernel drops
the lock when the process ends, however it ends (crash, SIGKILL, power loss), so a row still
"planned", "launching" or "flying" whose lock file can be locked was left by a process that
is gone: `recover_stale` (run by `Ground.start()`, i.e. by `patrol run`, `patrol fleet`,
`patrol demo`, `patrol sim run` and `patrol gateway serve --simulate`) records it
"interrupted" with an audit entry, so `patrol fleet status` no longer shows a crashed
vehicle flying and the scheduler no longer counts it busy.

Rows without a lock file in this data directory (another installation sharing the
database, or the gateway's own row before the engine takes the sortie) are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

#: Statuses of a sortie still in progress (its process must hold the claim).
OPEN_STATUSES = ("planned", "launching", "flying")


def claim_path(settings: Any, sortie_id: str) -> Path:
    return Path(settings.home) / "run" / f"sortie-{sortie_id}.lock"


class SortieClaim:
    """An exclusive hold on one sortie for this process (released by `release()`)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the hold and remove the file (idempotent). The row's final status must be
        committed first: a recovering process that then takes the lock re-reads the row."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(fd)


def _try_lock(path: Path) -> int | None:
    """The open, locked file descriptor of `path`; None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def claim(settings: Any, sortie_id: str) -> SortieClaim:
    """Hold `sortie_id` for this process; ValueError if another process holds it."""
    path = claim_path(settings, sortie_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _try_lock(path)
    if fd is None:
        raise ValueError(
            f"sortie {sortie_id} is being flown by another process; give the sortie a new id"
        )
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode("ascii"))
    return SortieClaim(path, fd)


def recover_stale(ground: Any) -> list[str]:
    """Record as "interrupted" every open sortie of this data directory whose process has
    ended; returns their ids. `ground` is a `patrol.ground.Ground` with its database open."""
    from sqlalchemy import select

    from cases import audit
    from cases.models import Sortie, utcnow

    settings = ground.settings
    with ground.sessions() as session:
        open_ids = [
            (row.id, row.status)
            for row in session.scalars(select(Sortie).where(Sortie.status.in_(OPEN_STATUSES)))
        ]
    recovered: list[str] = []
    for sortie_id, _status in open_ids:
        path = claim_path(settings, sortie_id)
        if not path.is_file():
            continue
        fd = _try_lock(path)
        if fd is None:  # its process is alive (maybe this one)
            continue
        try:
            pid = path.read_text(encoding="ascii", errors="replace").strip() or "?"
            now = utcnow()
            with ground.audit_lock, ground.sessions() as session:
                row = session.get(Sortie, sortie_id)
                # Re-read under the lock: the process may have ended the sortie meanwhile.
                if row is None or row.status not in OPEN_STATUSES:
                    continue
                was = row.status
                reason = (
                    f"the process flying it (pid {pid}) ended while the sortie was {was}; "
                    "the vehicle's own failsafe decides what it did"
                )
                row.status, row.ended_at = "interrupted", now
                audit.append(
                    session,
                    ground.actor,
                    "sortie.interrupted",
                    f"sortie:{sortie_id}",
                    {"vehicle_id": row.vehicle_id, "was": was, "reason": reason},
                )
                session.commit()
            _mark_result(settings, sortie_id, reason, now.isoformat())
            recovered.append(sortie_id)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)
    return recovered


def _mark_result(settings: Any, sortie_id: str, reason: str, ended_at: str) -> None:
    """The saved sortie.json says so too (the mission report reads its reason)."""
    path = Path(settings.reports_dir) / sortie_id / "sortie.json"
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        data.update(status="interrupted", reason=reason, ended_at=ended_at)
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


__all__ = ["OPEN_STATUSES", "SortieClaim", "claim", "claim_path", "recover_stale"]
