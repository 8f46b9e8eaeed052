"""JSON Schema of each wire message, as published in ``docs/schemas/``.

Regenerate with ``python -m telemetry.contract.schema docs/schemas``; a test checks that
the committed files match the models.
"""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from telemetry.contract.messages import (
    CONTRACT_VERSION,
    EventMessage,
    EvidenceMessage,
    StatusMessage,
    TelemetryMessage,
)
from telemetry.contract.pose import CameraPose

#: file stem -> (model, topic kind)
MESSAGES: dict[str, tuple[type[BaseModel], str]] = {
    "evidence": (EvidenceMessage, "evidence"),
    "telemetry": (TelemetryMessage, "telemetry"),
    "event": (EventMessage, "event"),
    "status": (StatusMessage, "status"),
    "camera_pose": (CameraPose, "(part of evidence)"),
}


def schema_for(name: str) -> dict[str, object]:
    """The JSON Schema document of message ``name``."""
    model, kind = MESSAGES[name]
    doc: dict[str, object] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://fieldpatrol.example/schemas/v{CONTRACT_VERSION}/{name}.json",
        **model.model_json_schema(mode="serialization"),
    }
    doc["x-fieldpatrol-topic"] = (
        f"fieldpatrol/v{CONTRACT_VERSION}/{{site_id}}/{{vehicle_id}}/{kind}"
    )
    return doc


def render(name: str) -> str:
    """The schema file text (stable: sorted keys, two-space indent, final newline)."""
    return json.dumps(schema_for(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas(directory: str | Path) -> list[Path]:
    """Write ``<name>.schema.json`` for every message into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in MESSAGES:
        path = out / f"{name}.schema.json"
        path.write_text(render(name), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in export_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"):
        print(p)
