"""The one user error of scenarios: a file that cannot run as written."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario file is malformed or cannot run here; the message names the file, the
    offending key path (e.g. ``timeline[1].at``) and what to do."""
