"""How the ingest forms batches: what is queued, and a short wait for the rest of a frame.

A batch has a fixed cost (queries, a filesystem sync, the commit), and a camera frame's
items reach the ingest over a few milliseconds. The worker waits up to ``batch_linger_s``
from a batch's first message when the queue runs dry, so that a frame is one batch; it never
waits for a full batch, and never longer than that. No broker is needed: the worker's
queue is fed directly, as paho's network thread would (its client is never connected).
"""

import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from gateway.ingest import IngestWorker
from gateway.ingest.worker import _Item


def worker(sessions: sessionmaker[Session], tmp_path: Path, linger_s: float) -> IngestWorker:
    return IngestWorker(
        "127.0.0.1", 1, sessions, tmp_path / "media", "batching", batch_linger_s=linger_s
    )


def trickle(w: IngestWorker, n: int, gap_s: float) -> threading.Thread:
    """``n`` messages ``gap_s`` apart, as a frame's messages come off the socket."""

    def run() -> None:
        for mid in range(1, n + 1):
            w._queue.put(_Item(1, mid, 1, "fieldpatrol/v1/s/v/evidence", b"{}", time.monotonic()))
            time.sleep(gap_s)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def first_batch(
    sessions: sessionmaker[Session], tmp_path: Path, linger_s: float, gap_s: float
) -> list[int]:
    """The message ids of the first batch taken while 10 messages trickle in ``gap_s`` apart."""
    w = worker(sessions, tmp_path, linger_s)
    producer = trickle(w, 10, gap_s)
    batch = w._take_batch()
    producer.join(5)
    return [item.mid for item in batch]


def test_a_frame_arriving_over_milliseconds_is_one_batch(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    assert first_batch(sessions, tmp_path, linger_s=0.5, gap_s=0.002) == list(range(1, 11))


def test_without_the_wait_the_first_message_goes_alone(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    assert first_batch(sessions, tmp_path, linger_s=0.0, gap_s=0.02) == [1]


def test_the_wait_is_bounded_and_an_empty_queue_returns_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    w = worker(sessions, tmp_path, linger_s=0.05)
    w._queue.put(_Item(1, 7, 1, "fieldpatrol/v1/s/v/evidence", b"{}", time.monotonic()))
    started = time.monotonic()
    assert [item.mid for item in w._take_batch()] == [7]
    assert time.monotonic() - started < 1.0  # the wait ends; no full batch is awaited
    assert w._take_batch() == []  # nothing queued: back after the poll interval
