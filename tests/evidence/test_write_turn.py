"""Ingest processes on one SQLite file take turns at writing (``gateway.ingest.write_turn``).

The turn must be exclusive between processes, handed over within a millisecond or two of
its release (SQLite's own busy handler may sleep 100 ms), given back by the kernel when a
holder dies, and never wait longer than its timeout.
"""

import subprocess
import sys
import threading
import time
from pathlib import Path

from gateway.ingest.write_turn import WriteTurn


def test_the_turn_is_exclusive_and_handed_over_at_once(tmp_path: Path) -> None:
    db = tmp_path / "case.db"
    first, second = WriteTurn(db), WriteTurn(db)
    got_it = threading.Event()
    released_at: list[float] = []

    def take_second() -> None:
        with second:
            got_it.set()

    try:
        with first:
            waiter = threading.Thread(target=take_second)
            waiter.start()
            assert not got_it.wait(0.3)  # held by the first: the second waits
            released_at.append(time.monotonic())
        assert got_it.wait(5)
        handed_over_s = time.monotonic() - released_at[0]
        waiter.join(5)
        assert handed_over_s < 0.05, f"the turn took {handed_over_s * 1000:.0f} ms to pass on"
        assert second.waited_s >= 0.3 and second.timeouts == 0
    finally:
        first.close()
        second.close()


def test_a_dead_holder_gives_the_turn_back(tmp_path: Path) -> None:
    """A process killed in the middle of its write transaction must not block the others."""
    db = tmp_path / "case.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from gateway.ingest.write_turn import WriteTurn\n"
            f"turn = WriteTurn({str(db)!r})\n"
            "turn.__enter__()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    turn = WriteTurn(db, timeout_s=10)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        holder.kill()
        holder.wait(5)
        start = time.monotonic()
        with turn:
            pass
        assert time.monotonic() - start < 1.0
        assert turn.timeouts == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(5)
        if holder.stdout is not None:
            holder.stdout.close()
        turn.close()


def test_a_hung_holder_is_waited_for_only_until_the_timeout(tmp_path: Path) -> None:
    db = tmp_path / "case.db"
    hung, impatient = WriteTurn(db), WriteTurn(db, timeout_s=0.2)
    try:
        with hung:
            start = time.monotonic()
            with impatient:  # goes ahead: SQLite's own lock and busy timeout decide
                waited = time.monotonic() - start
        assert 0.2 <= waited < 1.0
        assert impatient.timeouts == 1
        # The hung holder let go: the abandoned wait must not keep the turn for itself.
        third = WriteTurn(db, timeout_s=2.0)
        try:
            start = time.monotonic()
            with third:
                assert time.monotonic() - start < 1.0
            assert third.timeouts == 0
        finally:
            third.close()
    finally:
        hung.close()
        impatient.close()
