"""The published contract (JSON Schema and examples) is the one the decoder enforces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.events import EVENT_TYPES, decode_event, json_schema

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "streams" / "schema"


def test_schema_file_is_generated_from_the_decoder() -> None:
    on_disk = json.loads((SCHEMA_DIR / "event.schema.json").read_text(encoding="utf-8"))
    assert on_disk == json_schema(), "run `make schema` after changing streams/events.py"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_type_has_an_example_that_decodes(event_type: str) -> None:
    raw = (SCHEMA_DIR / "examples" / f"{event_type}.json").read_bytes()
    event = decode_event(raw)
    assert event.__struct_config__.tag == event_type


def test_schema_names_every_type() -> None:
    assert set(json_schema()["discriminator"]["mapping"]) == set(EVENT_TYPES)  # type: ignore[index]
