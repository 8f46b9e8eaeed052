"""Shared output conventions of the `patrol` commands.

With `--json` a command prints exactly one JSON document on stdout; progress and logs go to
stderr. A user error is one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

#: Progress, tables and logs: stderr, so that stdout stays clean for `--json`.
console = Console(stderr=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=_default, indent=2) + "\n")
    sys.stdout.flush()


def fail(message: str) -> NoReturn:
    """Report a user error in one line and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
