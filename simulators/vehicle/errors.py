"""Errors raised by the built-in vehicle simulator for bad arguments from its user."""

from __future__ import annotations


class SimulatorError(ValueError):
    """A simulator was asked for something it cannot do (bad kind, port, home, speed-up...)."""
