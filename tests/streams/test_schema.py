"""The published JSON Schemas are the ones the models generate, frozen per version, and they agree on real documents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import EmotionEvent, build_event
from emostream.streams.keys import SCHEMA_VERSION
from emostream.streams.numbers import TEN_YEARS_S
from emostream.streams.schema import DOCUMENTS, event_errors, generated_schema, schema_file, schema_text, shipped_schema_path
from tests.helpers import face_job

# One digest per published schema file, changed only deliberately (docs/events.md, "Schemas and versions").
DIGESTS = Path(__file__).with_name("schema_digests.json")


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_the_shipped_schema_is_generated_from_the_model(kind: str) -> None:
    shipped = shipped_schema_path(kind).read_text()
    assert json.loads(shipped) == json.loads(schema_text(kind)), (
        f"src/emostream/schemas/{schema_file(kind)} differs from the {DOCUMENTS[kind].__name__} model: "
        "run `python -m emostream.streams.schema` and review the change"
    )


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_a_schema_changes_only_with_a_new_version(kind: str) -> None:
    """The version bump rule: what the model generates for version N hashes to version N's committed digest."""
    canonical = json.dumps(generated_schema(kind), sort_keys=True, separators=(",", ":")).encode()
    digests = json.loads(DIGESTS.read_text())
    name = schema_file(kind)
    assert name in digests, f"no digest for {name}: add sha256 {hashlib.sha256(canonical).hexdigest()} to {DIGESTS.name}"
    assert hashlib.sha256(canonical).hexdigest() == digests[name], (
        f"the {kind} schema changed but SCHEMA_VERSION is still {SCHEMA_VERSION!r}: readers of version {SCHEMA_VERSION} "
        f"rely on {name} as published. A field removed, renamed, retyped or made required needs a new version: bump "
        f"SCHEMA_VERSION (streams/keys.py), regenerate the schemas and add the new files' digests to {DIGESTS.name}. "
        f"Only an addition (an optional field, an enum value) may stay in version {SCHEMA_VERSION}: then update its digest "
        "in the same commit and say so in docs/events.md."
    )



@settings(max_examples=100, deadline=None)
@given(
    probabilities=st.lists(st.floats(0, 1, width=32), min_size=7, max_size=7),
    seq=st.integers(0, 2**40),
    track=st.integers(0, 2**31),
    captured=st.floats(0, 4e9),
    delay=st.floats(-5, 60),
    offset=st.floats(0, TEN_YEARS_S),  # drawn on their own: the helper's seq / 10 passes ten years past seq 3.2e9
)
def test_every_built_event_is_valid_for_the_model_and_the_schema(
    probabilities: list[float], seq: int, track: int, captured: float, delay: float, offset: float
) -> None:
    job = face_job(seq=seq, track=track, captured_ts=captured, pts=offset - TEN_YEARS_S / 2, offset=offset)
    event = build_event(job, np.array(probabilities, np.float32), "m", "1", 1.0, 2.0, captured + delay)
    assert event_errors(event) == []
    assert EmotionEvent.model_validate_json(json.dumps(event.to_dict()), strict=True) == event


@pytest.mark.parametrize(
    ("path", "value"),
    [(("emotion", "label"), "bored"), (("source",), "../x"), (("session",), ".."), (("face", "score"), 1.5), (("frame", "seq"), -1)],
)
def test_model_and_schema_refuse_the_same_broken_documents(path: tuple[str, ...], value: object) -> None:
    document = build_event(face_job(), np.full(len(EMOTIONS), 1 / 7, np.float32), "m", "1", 0, 0, 1.7e9).to_dict()
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert event_errors(document), f"the schema accepts {path}={value!r}"
    with pytest.raises(ValidationError):
        EmotionEvent.model_validate_json(json.dumps(document), strict=True)
