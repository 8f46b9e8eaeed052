"""JUnit XML for CI systems: one test suite per scenario, one test case per expectation.

The format is the one Jenkins, GitLab and GitHub test reporters read (``testsuites`` /
``testsuite`` / ``testcase`` with ``failure`` or ``error``). A run that could not finish (a
vehicle that did not start, a timeout) is an ``error`` on every expectation it left unjudged.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from patrol.scenarios.expectations import Verdict


@dataclass
class ScenarioResult:
    """A scenario's name, file and verdicts, and the error that stopped it (if any)."""

    name: str
    path: str
    slug: str
    verdicts: list[Verdict]
    wall_s: float
    cpu_s: float = 0.0
    error: str = ""
    report: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and all(v.passed for v in self.verdicts)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


def write_junit(results: list[ScenarioResult], path: str | Path) -> Path:
    """Write the results as JUnit XML to `path` (parent folders created)."""
    root = ET.Element("testsuites", name="patrol sim run")
    total = failures = errors = 0
    for r in results:
        cases = r.verdicts or []
        suite = ET.SubElement(
            root,
            "testsuite",
            name=r.slug,
            file=r.path,
            tests=str(max(1, len(cases))),
            failures=str(sum(not v.passed for v in cases) if not r.error else 0),
            errors=str(1 if r.error else 0),
            time=f"{r.wall_s:.3f}",
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="title", value=r.name)
        if r.error:
            case = ET.SubElement(suite, "testcase", classname=r.slug, name="run", time="0")
            err = ET.SubElement(case, "error", message=r.error.splitlines()[0][:500])
            err.text = r.error
            errors += 1
            total += 1
        for v in cases:
            case = ET.SubElement(suite, "testcase", classname=r.slug, name=v.key, time="0")
            if not v.passed and not r.error:
                failure = ET.SubElement(case, "failure", message=v.message, type=v.kind)
                failure.text = f"threshold: {v.threshold}\nmeasured: {v.measured}"
                failures += 1
            elif r.error:
                ET.SubElement(case, "skipped", message="the run did not finish")
            total += 1
        if r.report:
            out = ET.SubElement(suite, "system-out")
            out.text = f"report: {r.report}"
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    ET.ElementTree(root).write(out_path, encoding="utf-8", xml_declaration=True)
    return out_path
