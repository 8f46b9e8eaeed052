"""Which department and violation code handle each class the detector flags.

The detector (``vision.classes``) names classes; the case record needs the department
that files the case and the violation code that selects a discretion benchmark table.
The mapping is data (``cases/data/classes.json``) keyed by class name, because ``cases``
may not import ``vision``; a test checks the two files agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from cases.errors import CasesError

DEFAULT_DEPARTMENT = "CG"


@dataclass(frozen=True)
class ClassRoute:
    """Where a suspected violation of one class goes."""

    class_name: str
    department: str
    violation_code: str
    name_zh: str


@cache
def class_routes() -> dict[str, ClassRoute]:
    """All known class routes, by class name."""
    text = resources.files("cases").joinpath("data/classes.json").read_text(encoding="utf-8")
    raw = json.loads(text)["classes"]
    return {
        name: ClassRoute(name, v["department"], v["violation_code"], v["name_zh"])
        for name, v in raw.items()
    }


def route_for(class_name: str) -> ClassRoute:
    """The route of ``class_name``; unknown classes go to urban management, code None-like.

    An unknown class is not an error at intake (evidence is never dropped): it is filed
    with the default department and a code ``UNMAPPED-<class>`` a person must correct.
    """
    routes = class_routes()
    if class_name in routes:
        return routes[class_name]
    return ClassRoute(class_name, DEFAULT_DEPARTMENT, f"UNMAPPED-{class_name}", class_name)


def route_by_code(violation_code: str) -> ClassRoute:
    """The route whose violation code is ``violation_code``."""
    for route in class_routes().values():
        if route.violation_code == violation_code:
            return route
    known = ", ".join(sorted(r.violation_code for r in class_routes().values()))
    raise CasesError(f"violation_code {violation_code!r} is unknown; known codes: {known}")
