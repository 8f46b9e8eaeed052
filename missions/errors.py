"""Errors raised by the missions package for bad user input (sites, plans, mission files)."""

from __future__ import annotations


class MissionsError(ValueError):
    """Base class: a user-facing problem with a site, a plan or a mission file."""


class SiteError(MissionsError):
    """The site description is malformed or inconsistent (names the field and value)."""


class PlanError(MissionsError):
    """A mission cannot be planned as asked (names the parameter and what to change)."""


class FormatError(MissionsError):
    """A mission file (.plan, .waypoints, GeoJSON track) cannot be read or written."""
