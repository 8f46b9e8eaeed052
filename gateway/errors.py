"""Errors of the gateway: user errors are ``ValueError`` subclasses naming field and fix."""

from __future__ import annotations


class GatewayError(ValueError):
    """Base class of the gateway's user errors."""


class AuthError(GatewayError):
    """A credential, password or token problem."""
