"""New rows for the hot paths, built without SQLModel's per-field bookkeeping.

`Model(**values)` sets every field, given or default, through both SQLAlchemy's and pydantic's `__setattr__`:
0.2 ms for an InboundMessage, 5 % of filing a protocol (bench/inbound.py). A row that is new to the session is
inserted from its `__dict__`, so its values can go there directly; later changes go through the instrumented
attributes as usual. No validation is lost: SQLModel does not validate table models.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from sqlmodel import SQLModel
from sqlmodel.main import finish_init

Row = TypeVar("Row", bound=SQLModel)


def build(model: type[Row], **values: Any) -> Row:
    """A new, transient row of `model` with `values` and every other field's default, as `model(**values)`."""
    token = finish_init.set(False)
    try:
        row = model()  # SQLAlchemy's instance state only
    finally:
        finish_init.reset(token)
    fields = row.__dict__
    for name, factory, value in _defaults(model):
        if name not in values:
            fields[name] = factory() if factory else value
    unknown = values.keys() - model.model_fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    fields.update(values)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


# Defaults of these types are shared between rows as pydantic shares them; any other is made anew for each row.
_IMMUTABLE = (str, int, float, bool, type(None), date, datetime, Enum)


@cache
def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Callable[[], Any] | None, Any], ...]:
    """(name, factory, value) of each field that has a default: pydantic's `get_default` costs 2 µs a field."""
    defaults = []
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        if field.default_factory is None and isinstance(field.default, _IMMUTABLE):
            defaults.append((name, None, field.default))
        else:
            defaults.append((name, functools.partial(field.get_default, call_default_factory=True), None))
    return tuple(defaults)
