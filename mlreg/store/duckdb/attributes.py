"""The current description, tags and metrics, kept beside the events that define them.

The events are the one source of truth; what they add up to is also stored, written in
the same transaction as each event (``apply``), so that reading a model's tags, or
listing 100,000 versions filtered on a tag, does not aggregate the whole history:

    attributes   one row per (model, DESCRIPTION|TAG|METRIC, key) set now
    listing      one row per registered model: the columns of ``list_models()``, in
                 registration order, updated in place: a scan of it is the listing, in
                 order, with no join and no sort, and a small write does not rewrite
                 the indexes of ``models``.

``rebuild`` recomputes both from ``models`` and the events (the migration that
introduced them, and anything that writes models or events in bulk, e.g. the
benchmarks' loader).

Since m005 ``attributes.model_id`` and ``listing.id`` are indexed, and every lookup here
names a model by one equality on that column alone: DuckDB looks a single equality up
in the index, but scans the whole table as soon as a second condition joins it (at
100,000 versions, 13 ms instead of 0.6 ms for a model's tags). A row found is then
changed by its ``rowid``, which stays valid for the rest of the transaction.
"""

from __future__ import annotations

import json
from typing import Any, cast

ATTRIBUTES = ("DESCRIPTION", "TAG", "METRIC")

LISTING_COLUMNS = (
    "id, name, version, type, uri, creation_time, creation_role, creation_context, "
    "creation_environment_spec, input_spec, output_spec"
)


class Values(dict[str, str]):
    """A model's current values of one attribute, key -> JSON text, and where each is
    stored (``rowids``: key -> rowid) for the writes that change them."""

    def __init__(self, rows: Any = ()):
        super().__init__()
        self.rowids: dict[str, int] = {}
        for key, value, rowid in rows:
            self[key] = value
            self.rowids[key] = rowid


def current(con: Any, model_id: str, attribute: str) -> Values:
    """The model's current values of one attribute (looked up in the index on model_id)."""
    rows = con.execute("SELECT attribute_name, key, value, rowid FROM attributes WHERE model_id = ?",
                       [model_id]).fetchall()
    return Values((key, value, rowid) for name, key, value, rowid in rows if name == attribute)


def _json_object(values: dict[str, str]) -> str | None:
    """A JSON object from keys and JSON texts, keys sorted (NULL when empty, like DuckDB's
    json_group_object over no rows)."""
    if not values:
        return None
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{values[k]}" for k in sorted(values)) + "}"


def apply(con: Any, model_id: str, operation: str, attribute: str, key: str | None, value: str | None,
          event_id: int, values: Values | None = None) -> None:
    """Bring the current values up to date with one event (already inserted as ``event_id``)
    of a registered model (a registration itself goes through :func:`register`).
    ``values``: the model's current values of that attribute before the event, if the
    caller has read them already (see :func:`current`)."""
    if attribute == "DELETION":
        con.execute("DELETE FROM attributes WHERE model_id = ?", [model_id])
        con.execute("DELETE FROM listing WHERE id = ?", [model_id])
        return
    if attribute not in ATTRIBUTES:
        return
    key = key or ""
    found = current(con, model_id, attribute) if values is None else values
    now = dict(found)
    value = cast(str, value)  # a SET event always carries its value (JSON text)
    if operation != "SET":
        if key in found:
            con.execute("DELETE FROM attributes WHERE rowid = ?", [found.rowids[key]])
        now.pop(key, None)
    elif key in found:
        con.execute("UPDATE attributes SET value = ?, event_id = ? WHERE rowid = ?", [value, event_id, found.rowids[key]])
        now[key] = value
    else:
        con.execute("INSERT INTO attributes VALUES (?, ?, ?, ?, ?)", [model_id, attribute, key, value, event_id])
        now[key] = value
    if attribute == "DESCRIPTION":
        con.execute("UPDATE listing SET description = json_extract_string(?::JSON, '$') WHERE id = ?",
                    [now.get(""), model_id])
    else:
        column = "tags" if attribute == "TAG" else "metrics"
        con.execute(f"UPDATE listing SET {column} = ? WHERE id = ?", [_json_object(now), model_id])


def set_many(con: Any, model_id: str, attribute: str, pairs: dict[str, str], event_ids: dict[str, int],
             values: Values) -> None:
    """Bring the current values up to date with several SET events of one attribute
    (TAG or METRIC, already inserted: key -> event_id), ``values`` being the model's
    current values before them: three statements whatever the number of keys."""
    replaced = [values.rowids[k] for k in pairs if k in values]
    if replaced:
        con.execute("DELETE FROM attributes WHERE list_contains(?, rowid)", [replaced])
    placeholders = ", ".join(["(?, ?, ?, ?, ?)"] * len(pairs))
    con.execute(f"INSERT INTO attributes VALUES {placeholders}",
                [x for k, v in pairs.items() for x in (model_id, attribute, k, v, event_ids[k])])
    merged = {**values, **pairs}
    column = "tags" if attribute == "TAG" else "metrics"
    con.execute(f"UPDATE listing SET {column} = ? WHERE id = ?", [_json_object(merged), model_id])


def register(con: Any, model_id: str, values: list[tuple[str, str, str, int]]) -> None:
    """The current values of a model just inserted into ``models``, from the events of its
    registration: (attribute, key, JSON text, event_id) for its description, tags and
    metrics. What ``apply`` would do event by event, in three statements."""
    if values:
        placeholders = ", ".join(["(?, ?, ?, ?, ?)"] * len(values))
        con.execute(f"INSERT INTO attributes VALUES {placeholders}",
                    [x for attribute, key, value, event_id in values for x in (model_id, attribute, key, value, event_id)])
    by_attribute: dict[str, dict[str, str]] = {"DESCRIPTION": {}, "TAG": {}, "METRIC": {}}
    for attribute, key, value, _ in values:
        by_attribute[attribute][key] = value
    description = by_attribute["DESCRIPTION"].get("")
    con.execute(
        f"INSERT INTO listing ({LISTING_COLUMNS}, description, tags, metrics) "
        f"SELECT {LISTING_COLUMNS}, json_extract_string(?::JSON, '$'), ?, ? FROM models WHERE id = ?",
        [description, _json_object(by_attribute["TAG"]), _json_object(by_attribute["METRIC"]), model_id],
    )


def rebuild(con: Any) -> None:
    """Recompute the current values from ``models`` and the events."""
    con.execute("DELETE FROM attributes")
    con.execute(
        """
        INSERT INTO attributes
        SELECT model_id, attribute_name, key, value, event_id FROM (
            SELECT model_id, attribute_name, coalesce(key, '') AS key,
                   arg_max(operation, event_id) AS op,
                   arg_max(new_value, event_id) AS value,
                   max(event_id) AS event_id
            FROM events
            WHERE attribute_name IN ('DESCRIPTION', 'TAG', 'METRIC')
              AND model_id IN (SELECT id FROM models)
            GROUP BY ALL
        ) WHERE op = 'SET'
        """
    )
    con.execute("DELETE FROM listing")
    con.execute(
        f"""
        INSERT INTO listing
        WITH tags AS (
            SELECT model_id, json_group_object(key, value) AS tags
            FROM (SELECT * FROM attributes WHERE attribute_name = 'TAG' ORDER BY model_id, key)
            GROUP BY model_id
        ), metrics AS (
            SELECT model_id, json_group_object(key, value) AS metrics
            FROM (SELECT * FROM attributes WHERE attribute_name = 'METRIC' ORDER BY model_id, key)
            GROUP BY model_id
        ), descr AS (
            SELECT model_id, json_extract_string(value, '$') AS description
            FROM attributes WHERE attribute_name = 'DESCRIPTION'
        )
        SELECT {', '.join('m.' + c.strip() for c in LISTING_COLUMNS.split(','))},
               d.description, t.tags, x.metrics
        FROM models m
        LEFT JOIN descr d ON d.model_id = m.id
        LEFT JOIN tags t ON t.model_id = m.id
        LEFT JOIN metrics x ON x.model_id = m.id
        ORDER BY m.creation_time, m.id
        """
    )
