"""Benchmark of the audit log; prints one JSON object.

Measures, on this machine:

* ``appends_per_s``: entries appended per second through ``AuditWriter`` (batched, one
  transaction per batch) into a migrated SQLite file.
* ``inclusion_proof_ms`` / ``consistency_proof_ms``: mean time to build a proof from the
  database at ``--db-entries`` entries (random entries / sizes).
* ``verify_s``: full ``cases.audit.verify`` of that database.
* ``memory_1m``: the same figures on the in-memory tree at ``--memory-entries`` (1 M by
  default): tree build from leaf hashes, proof times, and a full recompute (hash every entry
  text, rebuild the tree) as a lower bound of verify at that size.

Usage: ``python bench/audit.py [--db-entries N] [--memory-entries N] [--postgres URL]``
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from cases import audit
from cases.audit import merkle
from cases.audit.canonical import entry_json
from cases.db import make_engine, session_factory, upgrade


def _payload(i: int) -> dict[str, Any]:
    return {"evidence_id": f"EV-{i:08d}", "class_name": "waste_dumping", "confidence": 0.87}


def bench_db(url: str, entries: int, batch: int) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    with sessions() as session:
        while done < entries:
            n = min(batch, entries - done)
            with audit.AuditWriter(session, batch_size=n) as writer:
                for i in range(done, done + n):
                    writer.append(
                        "system:gateway", "evidence.received", f"evidence:EV-{i}", _payload(i)
                    )
            session.commit()
            done += n
    append_s = time.perf_counter() - t0
    append_cpu_s = time.process_time() - c0

    # One entry per call and per transaction, as a person's action on a case is recorded.
    singles = 1000
    with sessions() as session:
        c0 = time.process_time()
        t0 = time.perf_counter()
        for i in range(singles):
            audit.append(session, "user:alice", "case.step", f"case:{i % 50}", _payload(i))
            session.commit()
        single_s = time.perf_counter() - t0
        single_cpu_s = time.process_time() - c0
    entries += singles

    rng = random.Random(1)
    with sessions() as session:
        key = audit.LogKey.generate()
        audit.issue_head(session, key)
        session.commit()
        tries = 500
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(tries):
            audit.inclusion_proof(session, rng.randrange(entries))
        inclusion_ms = (time.perf_counter() - t0) / tries * 1000
        inclusion_cpu_ms = (time.process_time() - c0) / tries * 1000
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(tries):
            audit.consistency_proof(session, rng.randrange(1, entries))
        consistency_ms = (time.perf_counter() - t0) / tries * 1000
        consistency_cpu_ms = (time.process_time() - c0) / tries * 1000
        t0, c0 = time.perf_counter(), time.process_time()
        report = audit.verify(session, key.public_key)
        verify_s = time.perf_counter() - t0
        verify_cpu_s = time.process_time() - c0
        assert report.ok, report.message
    engine.dispose()
    return {
        "entries": entries,
        "batch": batch,
        "appends_per_s": round((entries - singles) / append_s),
        # This machine is shared (load ~4x its 2 cores): CPU time shows what the code costs.
        "appends_per_cpu_s": round((entries - singles) / append_cpu_s),
        "single_append_and_commit_ms": round(single_s / singles * 1000, 3),
        "single_append_and_commit_cpu_ms": round(single_cpu_s / singles * 1000, 3),
        "inclusion_proof_ms": round(inclusion_ms, 3),
        "inclusion_proof_cpu_ms": round(inclusion_cpu_ms, 3),
        "consistency_proof_ms": round(consistency_ms, 3),
        "consistency_proof_cpu_ms": round(consistency_cpu_ms, 3),
        "verify_s": round(verify_s, 2),
        "verify_cpu_s": round(verify_cpu_s, 2),
    }


def bench_memory(entries: int) -> dict[str, Any]:
    texts = [
        entry_json(
            i,
            "2026-11-27T23:00:00.000000Z",
            "system:gateway",
            "evidence.received",
            f"evidence:EV-{i}",
            "0" * 64,
        ).encode()
        for i in range(entries)
    ]
    t0, c0 = time.perf_counter(), time.process_time()
    leaves = [merkle.leaf_hash(t) for t in texts]
    tree = merkle.MerkleTree(leaves)
    root = tree.root()
    rebuild_s = time.perf_counter() - t0
    rebuild_cpu_s = time.process_time() - c0
    rng = random.Random(2)
    tries = 2000
    t0 = time.perf_counter()
    for _ in range(tries):
        i = rng.randrange(entries)
        merkle.verify_inclusion(i, entries, tree.leaf(i), tree.inclusion_proof(i), root)
    inclusion_ms = (time.perf_counter() - t0) / tries * 1000
    t0 = time.perf_counter()
    for _ in range(tries):
        m = rng.randrange(1, entries)
        merkle.verify_consistency(m, entries, tree.root(m), root, tree.consistency_proof(m))
    consistency_ms = (time.perf_counter() - t0) / tries * 1000
    return {
        "entries": entries,
        "rebuild_tree_from_entry_texts_s": round(rebuild_s, 2),
        "rebuild_tree_from_entry_texts_cpu_s": round(rebuild_cpu_s, 2),
        "inclusion_proof_and_verify_ms": round(inclusion_ms, 4),
        "consistency_proof_and_verify_ms": round(consistency_ms, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-entries", type=int, default=100_000)
    parser.add_argument("--memory-entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--postgres", help="also run the database figures on this PostgreSQL URL")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = bench_db(
            f"sqlite:///{Path(tmp) / 'bench.db'}", args.db_entries, args.batch
        )
    if args.postgres:
        result["postgresql"] = bench_db(args.postgres, args.db_entries, args.batch)
    if args.memory_entries:
        result["memory"] = bench_memory(args.memory_entries)
    result["appends_per_s"] = result["sqlite"]["appends_per_s"]
    result["inclusion_proof_ms"] = result["sqlite"]["inclusion_proof_ms"]
    result["verify_s"] = result["sqlite"]["verify_s"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
