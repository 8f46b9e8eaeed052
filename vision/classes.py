"""The violation classes the detector knows, and the look-alikes it must not flag.

The classes are data (``vision/data/classes.json``) so a department can read and review them
without reading code: each has a stable id (the model's output index), Chinese and English
names, the violation code that links it to the discretion benchmark tables in ``cases/``, a
default confidence threshold and the smallest size on the ground worth reporting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from vision.errors import VisionError

__all__ = [
    "DISTRACTOR_KINDS",
    "VIOLATION_CLASSES",
    "DistractorKind",
    "UnknownClassError",
    "ViolationClass",
    "class_by_code",
    "class_by_name",
    "class_names",
]


class UnknownClassError(VisionError):
    """A class name or violation code that is not in ``vision/data/classes.json``."""


@dataclass(frozen=True)
class ViolationClass:
    """One kind of suspected violation the detector reports."""

    id: int
    name: str
    name_zh: str
    name_en: str
    violation_code: str
    threshold: float
    min_size_m: float
    department: str = ""
    legal_basis: str = ""
    description_en: str = ""


@dataclass(frozen=True)
class DistractorKind:
    """Something that looks like a violation from the air but is not one."""

    name: str
    name_zh: str
    name_en: str


def _load() -> dict[str, Any]:
    text = resources.files("vision").joinpath("data/classes.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _build() -> tuple[list[ViolationClass], list[DistractorKind]]:
    data = _load()
    classes = [ViolationClass(**c) for c in data["violation_classes"]]
    # The model's output index is the class id: they must be 0..n-1 in order.
    if [c.id for c in classes] != list(range(len(classes))):
        raise VisionError("vision/data/classes.json: class ids must be 0..n-1 in file order")
    distractors = [DistractorKind(**d) for d in data["distractor_kinds"]]
    return classes, distractors


VIOLATION_CLASSES, _DISTRACTORS = _build()
DISTRACTOR_KINDS: list[str] = [d.name for d in _DISTRACTORS]
DISTRACTORS: list[DistractorKind] = _DISTRACTORS


def class_names() -> list[str]:
    """Class names in model output order (the ``names`` of a YOLO data.yaml)."""
    return [c.name for c in VIOLATION_CLASSES]


def class_by_name(name: str) -> ViolationClass:
    """The class called ``name``; raises :class:`UnknownClassError` for anything else."""
    for c in VIOLATION_CLASSES:
        if c.name == name:
            return c
    raise UnknownClassError(
        f"class_name: unknown violation class {name!r}; use one of {', '.join(class_names())}"
    )


def class_by_code(code: str) -> ViolationClass:
    """The class whose violation code is ``code`` (e.g. ``CG-ILLEGAL-CONSTRUCTION``)."""
    for c in VIOLATION_CLASSES:
        if c.violation_code == code:
            return c
    codes = ", ".join(c.violation_code for c in VIOLATION_CLASSES)
    raise UnknownClassError(f"violation_code: unknown code {code!r}; use one of {codes}")
