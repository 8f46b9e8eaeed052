"""Exceptions of the audit log: user errors are ``ValueError`` subclasses naming what to fix."""

from __future__ import annotations


class AuditError(ValueError):
    """A bad argument to the audit log (the message names the field, the value and the fix)."""


class ProofError(AuditError):
    """A proof, signed tree head or export that does not verify."""


class LogKeyError(AuditError):
    """The log signing key file is missing, unreadable or not an Ed25519 key."""
