"""Scripted simulation scenarios: `patrol sim run SCENARIO...`.

A scenario file (YAML, validated by ``docs/schemas/scenario.schema.json``) names a site,
vehicles, a world with planted violations, a mission, a timeline of faults and the
expectations that must hold. :mod:`.loader` reads and checks it before anything starts,
:mod:`.runner` flies it on the built-in simulator or ArduPilot SITL, :mod:`.expectations`
measures and judges, :mod:`.junit` and :mod:`.report` write the results for CI and people.
"""

from patrol.scenarios.errors import ScenarioError
from patrol.scenarios.loader import load_scenario
from patrol.scenarios.model import Scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario"]
