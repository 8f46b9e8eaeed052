"""Run ingest workers as a process: ``python -m gateway.ingest --port 1883 ...``.

Stops cleanly on SIGTERM or SIGINT (the batch in hand is committed and acknowledged;
whatever was not acknowledged stays with the broker). Prints one JSON line with the
metrics when it stops. ``--workers N`` runs N worker threads in this process;
``--processes N`` runs N such processes under a supervisor (gateway.ingest.supervisor).
"""

import argparse
import json
import logging
import signal
import sys
import threading
from types import FrameType

from cases.db import make_engine, session_factory, upgrade
from gateway.ingest import supervisor
from gateway.ingest.metrics import IngestMetrics
from gateway.ingest.worker import IngestError, IngestWorker


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's ``dest`` is its name with dashes (see supervisor)."""
    parser = argparse.ArgumentParser(prog="python -m gateway.ingest", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--media-dir", required=True)
    parser.add_argument("--client-id", default="fieldpatrol-ingest")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--share", default=None, help="shared subscription group")
    parser.add_argument("--username", default=None)
    parser.add_argument("--password", default=None)
    parser.add_argument("--tls-ca", default=None)
    parser.add_argument("--media-wait-s", type=float, default=30.0)
    parser.add_argument("--upgrade", action="store_true", help="run migrations first")
    parser.add_argument(
        "--processes", type=int, default=1, help="ingest processes under a supervisor"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=30.0, help="seconds for each worker to subscribe"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the workers (or supervise processes) until a signal."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.processes < 1 or args.workers < 1:
        parser.error("--processes and --workers must be at least 1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.processes > 1:
        return supervisor.run(args)
    supervisor.die_with_parent()  # a no-op unless started by the supervisor

    if args.upgrade:
        upgrade(args.database_url)
    engine = make_engine(args.database_url)
    sessions = session_factory(engine)
    metrics = IngestMetrics()
    share = args.share or ("ingest" if args.workers > 1 else None)
    workers = [
        IngestWorker(
            args.host,
            args.port,
            sessions,
            args.media_dir,
            args.client_id if args.workers == 1 else f"{args.client_id}-{i}",
            share=share,
            username=args.username,
            password=args.password,
            tls_ca=args.tls_ca,
            media_wait_s=args.media_wait_s,
            metrics=metrics,
        )
        for i in range(args.workers)
    ]
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    try:
        for w in workers:
            w.start(wait=True, timeout=args.start_timeout)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for w in workers:
            w.stop(timeout=2)
        return 1
    print(json.dumps({"ready": True, "workers": len(workers)}), flush=True)
    while not stop.wait(0.5):
        pass
    for w in workers:
        w.stop(timeout=10)
    engine.dispose()
    print(json.dumps(metrics.snapshot()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
