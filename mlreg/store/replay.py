"""What a version's events add up to: its current description, tags and metrics, by
replaying them in order. The stores keep these values beside the events as each event
is written; a version copied from another registry gets them from here."""

from __future__ import annotations

from typing import Iterable

from mlreg.records import ATTRIBUTES, DELETION, SET, Event


def current_values(events: Iterable[Event]) -> list[tuple[str, str, str, int]]:
    """(attribute, key, JSON text, event_id) of every value set now, from a version's
    events in order."""
    values: dict[tuple[str, str], tuple[str, int]] = {}
    for e in events:
        if e.attribute == DELETION:
            values.clear()
        elif e.attribute in ATTRIBUTES:
            key = (e.attribute, e.key or "")
            if e.operation == SET and e.new_value is not None:
                values[key] = (e.new_value, e.event_id)
            else:
                values.pop(key, None)
    return [(attribute, key, value, event_id) for (attribute, key), (value, event_id) in values.items()]
