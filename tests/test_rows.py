"""hub.rows.build: a new row as the model's constructor makes it, for the hot paths (filing, composing)."""

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from hub.models import InboundMessage, OutboundMail
from hub.rows import build

VALUES = dict(message_id="<p1@gesundheitsamt.example>", content_hash="ab" * 32, raw_path="archive/ab.eml",
              size=10_000, received_via="smtp", envelope_to=["protokolle@buendnis.example"],
              sender="j.weiss@gesundheitsamt.example", subject="Protokoll AG Gesundheit", text="TOP 1 …",
              received_at=datetime(2026, 3, 12, 9, tzinfo=UTC))


def _fields(row) -> dict:
    return {name: value for name, value in row.__dict__.items() if name != "_sa_instance_state"}


@pytest.mark.parametrize("model, values", [
    (InboundMessage, VALUES),
    (InboundMessage, {"message_id": "<x@y>", "content_hash": "c", "raw_path": "r"}),
    (OutboundMail, {"kind": "receipt", "subject": "Eingangsbestätigung", "text": "Guten Tag", "headers": {}}),
])
def test_a_built_row_is_the_constructors_row(model, values):
    made, built = model(**values), build(model, **values)
    made_fields, built_fields = _fields(made), _fields(built)
    for clock_default in ("received_at", "created_at"):  # utcnow at the moment of building
        if clock_default in made_fields and clock_default not in values:
            assert abs(made_fields.pop(clock_default) - built_fields.pop(clock_default)).total_seconds() < 5
    assert built_fields == made_fields
    assert built.model_fields_set == made.model_fields_set == set(values)
    assert (built.__pydantic_extra__, built.__pydantic_private__) == (None, None) == (
        made.__pydantic_extra__, made.__pydantic_private__)


def test_mutable_defaults_are_each_rows_own():
    first, second = build(InboundMessage, **VALUES), build(InboundMessage, **VALUES)
    first.tasks.append({"what": "Flyer drucken"})
    assert second.tasks == [] and InboundMessage(**VALUES).tasks == []


def test_an_unknown_field_is_refused():
    with pytest.raises(TypeError, match="no field subjekt"):
        build(InboundMessage, **VALUES, subjekt="Protokoll")


def test_a_built_row_is_inserted_and_read_back(session, alliance):
    row = build(InboundMessage, **VALUES)
    session.add(row)
    session.flush()
    row.status = "filed"  # a change after the insert goes through the instrumented attribute
    session.commit()
    session.expire_all()
    stored = session.exec(select(InboundMessage).where(InboundMessage.id == row.id)).one()
    assert (stored.alliance_id, stored.status, stored.kind, stored.envelope_to, stored.tasks, stored.received_at) == (
        alliance.id, "filed", "other", ["protokolle@buendnis.example"], [], VALUES["received_at"])
