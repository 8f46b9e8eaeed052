"""Two ingest workers on a shared subscription into PostgreSQL: no duplicates, nothing lost."""

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.db import make_engine, session_factory, upgrade
from cases.models import DeadLetter, Evidence
from gateway.devices import register_device
from gateway.ingest import IngestMetrics, IngestWorker
from gateway.ingest.broker import MosquittoProcess
from telemetry.contract import EvidenceMessage
from telemetry.outbox import Outbox
from telemetry.publisher import EvidencePublisher
from telemetry.signing import DeviceKey

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
Item = Callable[..., tuple[EvidenceMessage, dict[str, bytes]]]


@pytest.fixture
def pg_sessions() -> Iterator[sessionmaker[Session]]:
    """A fresh PostgreSQL database with a random name, dropped afterwards."""
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"fp_evidence_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {ADMIN_URL} is not reachable: {exc}")
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = None
    try:
        upgrade(url)
        engine = make_engine(url)
        yield session_factory(engine)
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
def test_two_workers_share_the_stream_without_duplicates(
    tmp_path: Path,
    broker: MosquittoProcess,
    pg_sessions: sessionmaker[Session],
    item: Item,
) -> None:
    key = DeviceKey.generate()
    with pg_sessions() as session:
        register_device(session, "uav-1", key.public_key_bytes())
        session.commit()
    metrics = [IngestMetrics(), IngestMetrics()]
    workers = [
        IngestWorker(
            "127.0.0.1", broker.port, pg_sessions, tmp_path / "media", f"gw-pg-{i}",
            share="ingest", metrics=metrics[i], batch_max=20,
        )
        for i in range(2)
    ]  # fmt: skip
    for w in workers:
        w.start(timeout=15)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    pub = EvidencePublisher(outbox, "127.0.0.1", broker.port, "uav-1")
    pub.start()
    n = 80
    try:
        items = [item(key, seq) for seq in range(n)]
        pub.submit_many(items)
        # the same items again, as a vehicle that lost its outbox state would resend them
        for msg, media in items[:20]:
            pub.submit_many([(msg.model_copy(update={"sequence": msg.sequence + 1000}), media)])
        pub.flush(timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with pg_sessions() as session:
                done = session.scalar(select(func.count()).select_from(Evidence))
                dead = session.scalar(select(func.count()).select_from(DeadLetter))
            if done == n and dead == 20:
                break
            time.sleep(0.2)
    finally:
        pub.stop()
        for w in workers:
            w.stop()
        outbox.close()
    with pg_sessions() as session:
        ids = list(session.scalars(select(Evidence.id)))
        assert sorted(ids) == sorted(m.id for m, _ in items)
        reasons = list(session.scalars(select(DeadLetter.reason)))
        # re-sequenced copies are not signed for their new sequence: refused, with reason
        assert len(reasons) == 20 and all(r.startswith("bad_signature") for r in reasons)
        assert audit.verify(session).ok
    stored = [m.counts["stored"] for m in metrics]
    assert sum(stored) == n
    assert all(s > 0 for s in stored), f"one worker did nothing: {stored}"
