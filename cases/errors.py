"""Errors of the case record. Each names the field, the bad value and what to do."""

from __future__ import annotations


class CasesError(ValueError):
    """Base class of user errors raised by ``cases`` (the CLI prints one line, exit 1)."""


class EvidenceError(CasesError):
    """Evidence that cannot be stored as given (bad field value)."""


class NotFoundError(CasesError):
    """A case, evidence item, user or document that does not exist."""


class ProcedureError(CasesError):
    """An action refused by the enforcement procedure: names the rule and the article."""

    def __init__(self, message: str, rule: str = "", article: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.article = article


class CalendarError(CasesError):
    """A working-day computation that the holiday data cannot answer (never guessed)."""


class BenchmarkError(CasesError):
    """A discretion benchmark table that is invalid, or facts it cannot place."""


class DocumentError(CasesError):
    """A document that cannot be generated (missing required field, no font)."""


class DatabaseError(CasesError):
    """The database cannot be opened or created (bad URL, unwritable place, server down)."""
