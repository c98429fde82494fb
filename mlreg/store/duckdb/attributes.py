"""The current description, tags and metrics, kept beside the events that define them.

The events are the one source of truth; what they add up to is also stored, written in
the same transaction as each event (``apply``), so that reading a model's tags, or
listing 100,000 versions filtered on a tag, does not aggregate the whole history:

    listing      one row per registered model: the columns of ``list_models()``, in
                 registration order, updated in place: a scan of it is the listing, in
                 order, with no join and no sort, and a small write does not rewrite
                 the indexes of ``models``. ``tags`` and ``metrics`` are JSON objects
                 whose members are the JSON texts of the events that set them, byte for
                 byte, keys sorted; ``description`` is the description's text.

The listing row is the only copy of the current values (since m006; before, a row per
value in an ``attributes`` table as well, which made every write update two tables).
``listing.id`` is indexed: a model's row is looked up by one equality on it alone (DuckDB
scans the whole table as soon as a second condition joins the equality).

``rebuild`` recomputes the listing from ``models`` and the events (anything that writes
models or events in bulk, e.g. the benchmarks' loader).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

ATTRIBUTES = ("DESCRIPTION", "TAG", "METRIC")

LISTING_COLUMNS = (
    "id, name, version, type, uri, creation_time, creation_role, creation_context, "
    "creation_environment_spec, input_spec, output_spec"
)

#: a model's current values: attribute -> key -> JSON text
Values = dict[str, dict[str, str]]

_COLUMN = {"TAG": "tags", "METRIC": "metrics"}
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not JSON whitespace."""
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # `*` matches everywhere


def members(text: str | None) -> dict[str, str]:
    """The members of a JSON object, key -> the member's JSON text exactly as written in
    ``text`` (a value is not decoded and encoded again, which could change how a number
    is spelled). None (no object) has none."""
    out: dict[str, str] = {}
    if text is None:
        return out
    pos = _skip(text, 0)
    if text[pos:pos + 1] != "{":
        raise ValueError(f"not a JSON object: {text[:40]!r}")
    pos = _skip(text, pos + 1)
    if text[pos:pos + 1] == "}":
        return out
    while True:
        key, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(key, str):
            raise ValueError(f"a JSON object key that is not a string at {pos}")
        pos = _skip(text, pos)
        if text[pos:pos + 1] != ":":
            raise ValueError(f"expected ':' at {pos}")
        start = _skip(text, pos + 1)
        _, pos = _DECODER.raw_decode(text, start)
        out[key] = text[start:pos]
        pos = _skip(text, pos)
        if text[pos:pos + 1] == "}":
            return out
        if text[pos:pos + 1] != ",":
            raise ValueError(f"expected ',' or '}}' at {pos}")
        pos = _skip(text, pos + 1)


def from_row(description: str | None, tags: str | None, metrics: str | None) -> Values:
    """A model's current values from its listing row's three columns."""
    return {
        "DESCRIPTION": {} if description is None else {"": json.dumps(description)},
        "TAG": members(tags),
        "METRIC": members(metrics),
    }


def current(con: Any, model_id: str) -> Values | None:
    """The model's current values (its listing row, looked up in the index on id);
    None when there is no such model."""
    row = con.execute("SELECT description, tags::VARCHAR, metrics::VARCHAR FROM listing WHERE id = ?",
                      [model_id]).fetchone()
    return None if row is None else from_row(*row)


def _json_object(values: dict[str, str]) -> str | None:
    """A JSON object from keys and JSON texts, keys sorted (NULL when empty, like DuckDB's
    json_group_object over no rows)."""
    if not values:
        return None
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{values[k]}" for k in sorted(values)) + "}"


def _store(con: Any, model_id: str, attribute: str, now: dict[str, str]) -> None:
    """Write one attribute's values into the model's listing row."""
    if attribute == "DESCRIPTION":
        con.execute("UPDATE listing SET description = json_extract_string(?::JSON, '$') WHERE id = ?",
                    [now.get(""), model_id])
    else:
        con.execute(f"UPDATE listing SET {_COLUMN[attribute]} = ? WHERE id = ?", [_json_object(now), model_id])


def apply(con: Any, model_id: str, operation: str, attribute: str, key: str, value: str | None,
          values: Values) -> None:
    """Bring the current values up to date with one event (already inserted) that sets
    (``value``) or removes a key of a registered model's DESCRIPTION, TAG or METRIC.
    ``values``: the model's current values before the event (see :func:`current`),
    updated in place to the values after it."""
    now = values[attribute]
    if operation != "SET":
        now.pop(key, None)
    else:
        assert value is not None  # a SET event always carries its value (JSON text)
        # a description as the listing row gives it back (see from_row)
        now[key] = json.dumps(json.loads(value)) if attribute == "DESCRIPTION" else value
    _store(con, model_id, attribute, now)


def remove(con: Any, model_id: str) -> None:
    """The model was deleted: its listing row goes."""
    con.execute("DELETE FROM listing WHERE id = ?", [model_id])


def set_many(con: Any, model_id: str, attribute: str, pairs: dict[str, str], values: Values) -> None:
    """Bring the current values up to date with several SET events of one attribute
    (TAG or METRIC, already inserted), ``values`` being the model's current values
    before them (updated in place): one statement whatever the number of keys."""
    values[attribute].update(pairs)
    _store(con, model_id, attribute, values[attribute])


def register(con: Any, model_id: str, values: Iterable[tuple[str, str, str]]) -> None:
    """The listing row of a model just inserted into ``models``, with the values of its
    registration's events: (attribute, key, JSON text) for its description, tags and
    metrics."""
    by_attribute: Values = {"DESCRIPTION": {}, "TAG": {}, "METRIC": {}}
    for attribute, key, value in values:
        by_attribute[attribute][key] = value
    description = by_attribute["DESCRIPTION"].get("")
    con.execute(
        f"INSERT INTO listing ({LISTING_COLUMNS}, description, tags, metrics) "
        f"SELECT {LISTING_COLUMNS}, json_extract_string(?::JSON, '$'), ?, ? FROM models WHERE id = ?",
        [description, _json_object(by_attribute["TAG"]), _json_object(by_attribute["METRIC"]), model_id],
    )


def rebuild(con: Any) -> None:
    """Recompute the listing from ``models`` and the events: each value as the text of
    the last event that set it, keys sorted (as :func:`apply` writes them)."""
    con.execute("DELETE FROM listing")
    con.execute(
        f"""
        INSERT INTO listing
        WITH latest AS (
            SELECT model_id, attribute_name, coalesce(key, '') AS key,
                   arg_max(operation, event_id) AS op,
                   arg_max(new_value, event_id) AS value
            FROM events
            WHERE attribute_name IN ('DESCRIPTION', 'TAG', 'METRIC')
              AND model_id IN (SELECT id FROM models)
            GROUP BY ALL
        ), current AS (
            SELECT * FROM latest WHERE op = 'SET'
        ), objects AS (
            SELECT model_id,
                   '{{' || string_agg(CASE WHEN attribute_name = 'TAG' THEN to_json(key) || ':' || value END,
                                     ',' ORDER BY key) || '}}' AS tags,
                   '{{' || string_agg(CASE WHEN attribute_name = 'METRIC' THEN to_json(key) || ':' || value END,
                                     ',' ORDER BY key) || '}}' AS metrics,
                   any_value(CASE WHEN attribute_name = 'DESCRIPTION' THEN json_extract_string(value, '$') END)
                       AS description
            FROM current GROUP BY model_id
        )
        SELECT {', '.join('m.' + c.strip() for c in LISTING_COLUMNS.split(','))},
               o.description, o.tags, o.metrics
        FROM models m
        LEFT JOIN objects o ON o.model_id = m.id
        ORDER BY m.creation_time, m.id
        """
    )
