"""Errors the vision package raises for bad input a user can fix."""

from __future__ import annotations


class VisionError(ValueError):
    """Base of every user-facing vision error: the message names the field and the fix."""


class ModelError(VisionError):
    """A model file that is missing, unreadable, or does not match the violation classes."""


class BackendError(VisionError):
    """An inference back end that is unknown or not installed."""
