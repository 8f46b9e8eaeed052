"""`patrol audit`: verify the whole audit log, prove an entry, show the signed head,
check a case export or a proof offline.

Reads ``$FIELDPATROL_HOME`` (or ``FIELDPATROL_DATABASE_URL``); the log key is
``$FIELDPATROL_HOME/keys/audit-log.key`` (created on first use by ``head`` / ``prove``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from patrol.config import Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(
    help="全过程记录 (Verify, prove and inspect the audit log).", no_args_is_help=True
)

KEY_FILE = "audit-log.key"


def key_path(settings: Settings) -> Path:
    """Where the audit log key lives under the data directory."""
    return settings.keys_dir / KEY_FILE


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """A session on the configured database, migrated to the latest schema."""
    from cases.db import make_engine, session_factory, upgrade

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def read_public_key(path: Path) -> bytes:
    """A raw Ed25519 public key from a PEM public key, a PEM private key or 64 hex digits."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from cases.audit.errors import LogKeyError

    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise LogKeyError(f"public key file {path} does not exist") from exc
    text = data.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode())
        except ValueError:
            pass
    key: Any
    try:
        if b"PRIVATE" in text:
            key = serialization.load_pem_private_key(text, password=None)
            if isinstance(key, Ed25519PrivateKey):
                key = key.public_key()
        else:
            key = serialization.load_pem_public_key(text)
    except ValueError as exc:
        raise LogKeyError(f"{path}: not a PEM key or 64 hex digits ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise LogKeyError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _trusted_key(settings: Settings, public_key: Path | None) -> bytes | None:
    if public_key is not None:
        return read_public_key(public_key)
    path = key_path(settings)
    if path.exists():
        from cases.audit import LogKey

        return LogKey.load(path).public_key
    return None


@app.command()
def verify(
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Trusted log public key (PEM or hex); default: the local key."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Re-compute the whole tree, check every signed head and their consistency.

    Exit 0 when everything checks; exit 1 naming the first bad entry.
    """
    from cases import audit

    settings = Settings.load()
    key = _trusted_key(settings, public_key)
    with open_session(settings) as session:
        report = audit.verify(session, key)
    if as_json:
        emit_json(report.to_dict())
    else:
        console.print(report.message, markup=False, soft_wrap=True)
        for problem in report.problems[1:10]:
            console.print(f"  - {problem}", markup=False, soft_wrap=True)
    if not report.ok:
        if as_json:
            typer.echo(f"error: {report.message}", err=True)
        raise typer.Exit(1)


@app.command()
def prove(
    entry_id: int = typer.Argument(..., help="The entry id (its leaf index, from 0)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the proof here."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (the proof)."),
) -> None:
    """Print an inclusion proof of ENTRY_ID against a signed head; it verifies offline
    (`patrol audit verify-proof FILE`)."""
    from cases.audit import LogKey
    from cases.audit.proofs import prove as make_proof

    settings = Settings.load()
    with open_session(settings) as session:
        doc = make_proof(session, entry_id, LogKey.load_or_create(key_path(settings)))
        session.commit()
    if out is not None:
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if not as_json:
        console.print(
            f"entry {entry_id} is leaf {doc['index']} of the signed tree of size "
            f"{doc['signed_head']['tree_size']} ({len(doc['inclusion_path'])} hashes)",
            markup=False,
            soft_wrap=True,
        )
    emit_json(doc)


@app.command()
def head(
    no_issue: bool = typer.Option(
        False, "--no-issue", help="Show the latest kept head; do not sign a new one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Print the current signed tree head (signing a new one if the log grew)."""
    from cases.audit import LogKey, count
    from cases.audit.heads import current_head, latest_head

    settings = Settings.load()
    with open_session(settings) as session:
        if no_issue:
            sth = latest_head(session)
            if sth is None:
                fail("no signed tree head has been issued yet: run `patrol audit head`")
            key_hex = None
        else:
            key = LogKey.load_or_create(key_path(settings))
            sth = current_head(session, key)
            session.commit()
            key_hex = key.public_key.hex()
        size = count(session)
    doc = {**sth.to_dict(), "log_size": size, "log_public_key": key_hex}
    if as_json:
        emit_json(doc)
    else:
        console.print(
            f"tree size {sth.tree_size}  root {sth.root_hash.hex()}\n"
            f"time {doc['time']}  key {sth.key_id}\nsignature {sth.signature.hex()}",
            markup=False,
            soft_wrap=True,
        )


@app.command("verify-export")
def verify_export(
    file: Path = typer.Argument(..., help="A zip written by `patrol case export`."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Trusted log public key (PEM or hex); default: the export's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Check a case export offline (no database, no network)."""
    from dataclasses import asdict

    from cases.audit.export import verify_export as check

    key = read_public_key(public_key) if public_key is not None else None
    result = check(file, key)
    if as_json:
        emit_json(asdict(result))
    else:
        console.print(result.message, markup=False, soft_wrap=True)
        if not result.key_trusted and result.ok:
            console.print(
                "note: checked against the key inside the export; pass --public-key to check "
                "who signed",
                markup=False,
                soft_wrap=True,
            )
    if not result.ok:
        if as_json:
            typer.echo(f"error: {result.message}", err=True)
        raise typer.Exit(1)


@app.command("verify-proof")
def verify_proof(
    file: Path = typer.Argument(..., help="A proof written by `patrol audit prove`."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Trusted log public key (PEM or hex); default: the proof's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Check an inclusion proof offline."""
    from cases.audit.errors import ProofError
    from cases.audit.proofs import verify_proof as check

    key = read_public_key(public_key) if public_key is not None else None
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        fail(f"{file} is not JSON: {exc}")
    try:
        sth = check(doc, key)
    except ProofError as exc:
        if as_json:
            emit_json({"ok": False, "message": str(exc)})
        fail(f"proof does not verify: {exc}")
    message = f"entry {doc['index']} is in the signed tree of size {sth.tree_size}"
    if as_json:
        emit_json({"ok": True, "message": message, "signed_head": sth.to_dict()})
    else:
        console.print(message, markup=False, soft_wrap=True)
