"""Export the contract as JSON Schema files (one per input and output envelope).

Input envelopes are exported in validation mode (what producers may send),
output envelopes in serialization mode (what claimdesk publishes). Files are
named after the CloudEvents type, e.g. ``case.reported.schema.json``; output is
deterministic so the checked-in copies in ``schemas/jsonschema/`` can be diffed.

Run ``python -m schemas [DIR]`` to regenerate (default: ``schemas/jsonschema``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from schemas.events import INPUT_EVENTS
from schemas.outputs import OUTPUT_EVENTS

__all__ = ["DEFAULT_DIR", "export_json_schemas", "json_schemas"]

#: Where the checked-in schema files live.
DEFAULT_DIR = Path(__file__).resolve().parent / "jsonschema"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _event_type(model: type[BaseModel]) -> str:
    annotation: Any = model.model_fields["type"].annotation
    (value,) = annotation.__args__  # Literal["case.reported"]
    return str(value)


def _schema(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    event_type = _event_type(model)
    body = model.model_json_schema(mode=mode)
    return {
        "$schema": _DIALECT,
        "$id": f"urn:claimdesk:contract:v2:{event_type}",
        **body,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document for every input and output envelope."""
    docs: dict[str, dict[str, Any]] = {}
    for in_model in INPUT_EVENTS.values():
        docs[f"{_event_type(in_model)}.schema.json"] = _schema(in_model, "validation")
    for out_model in OUTPUT_EVENTS.values():
        docs[f"{_event_type(out_model)}.schema.json"] = _schema(out_model, "serialization")
    return docs


def export_json_schemas(dir: Path) -> list[Path]:
    """Write every envelope's JSON Schema into ``dir`` (created if needed); return the paths."""
    dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, doc in sorted(json_schemas().items()):
        path = dir / name
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
