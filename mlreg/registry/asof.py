"""Time travel: what the registry said at a moment, answered from its history alone.

The events are the one source of truth (the current tables are what they add up to),
so replaying the events up to a moment gives the versions registered and not yet
deleted then, with the description, tags and metrics they had. A version deleted
since is answered too: its history outlives it (its signatures, environment and
files went with its row, so only what the events carry is known).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from mlreg.errors import MlregError, NotFound, UsageError
from mlreg.records import DESCRIPTION, METRIC, TAG
from mlreg.registry.snapshot import VersionSnapshot

if TYPE_CHECKING:
    from mlreg.registry.core import RegistryCore
    from mlreg.store.base import Relation

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

#: the columns of a listing as of a moment
COLUMNS = ("ID", "NAME", "VERSION", "TYPE", "URI", "CREATION_TIME", "CREATION_ROLE", "DESCRIPTION", "TAGS",
           "METRICS", "DELETED")


def moment(value: datetime | str, now: datetime) -> datetime:
    """A moment, in UTC: a datetime (naive ones are UTC), ISO 8601 text (a date alone is its
    midnight UTC), or a time before ``now``: ``30s``, ``15m``, ``12h``, ``3d``, ``2w``."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    text = str(value).strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now.astimezone(timezone.utc) - timedelta(**{_UNITS[relative.group(2)]: float(relative.group(1))})
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise UsageError(f"invalid --as-of {value!r}: use ISO 8601 (2026-11-01, 2026-11-01T12:00:00Z) "
                         "or a time ago such as 3d, 12h, 30m") from None
    return moment(parsed, now)


def _literal(at: datetime) -> str:
    """The moment as a SQL literal (built from a datetime, never from user text)."""
    return f"TIMESTAMPTZ '{at.astimezone(timezone.utc).isoformat()}'"


def listing_sql(at: datetime) -> str:
    """SQL over a history relation named ``h``: the versions alive at ``at``, with the
    values they had (rows of :data:`COLUMNS`), in registration order."""
    t = _literal(at)
    return f"""
        WITH life AS (
            SELECT MODEL_ID AS ID,
                   arg_max(MODEL_NAME, EVENT_ID) AS NAME, arg_max(MODEL_VERSION, EVENT_ID) AS VERSION,
                   max(EVENT_ID) FILTER (WHERE ATTRIBUTE_NAME = 'REGISTRATION' AND EVENT_TIMESTAMP <= {t}) AS reg,
                   max(EVENT_ID) FILTER (WHERE ATTRIBUTE_NAME = 'DELETION' AND EVENT_TIMESTAMP <= {t}) AS del_then,
                   max(EVENT_ID) FILTER (WHERE ATTRIBUTE_NAME = 'DELETION') AS del_now,
                   arg_max(NEW_VALUE::VARCHAR, EVENT_ID) FILTER (WHERE ATTRIBUTE_NAME = 'REGISTRATION') AS reg_value,
                   min(EVENT_TIMESTAMP) FILTER (WHERE ATTRIBUTE_NAME = 'REGISTRATION') AS created,
                   arg_min(ROLE, EVENT_ID) FILTER (WHERE ATTRIBUTE_NAME = 'REGISTRATION') AS role
            FROM h WHERE MODEL_ID IS NOT NULL GROUP BY MODEL_ID
        ), cur AS (
            -- each value as of then: NULL when its last event then was a DROP
            SELECT MODEL_ID, ATTRIBUTE_NAME, coalesce(KEY, '') AS KEY,
                   arg_max_null(CASE WHEN OPERATION = 'SET' THEN NEW_VALUE::VARCHAR END, EVENT_ID) AS value
            FROM h
            WHERE EVENT_TIMESTAMP <= {t} AND ATTRIBUTE_NAME IN ('DESCRIPTION', 'TAG', 'METRIC')
            GROUP BY ALL
        ), vals AS (
            -- one row per version; the objects' keys in order (an ORDER BY in a subquery
            -- does not survive a parallel aggregate: the aggregate orders them itself)
            SELECT MODEL_ID,
                   json_extract_string((any_value(value) FILTER (WHERE ATTRIBUTE_NAME = 'DESCRIPTION'))::JSON, '$') AS d,
                   ('{{' || string_agg(to_json(KEY) || ':' || value, ',' ORDER BY KEY)
                            FILTER (WHERE ATTRIBUTE_NAME = 'TAG') || '}}')::JSON AS tags,
                   ('{{' || string_agg(to_json(KEY) || ':' || value, ',' ORDER BY KEY)
                            FILTER (WHERE ATTRIBUTE_NAME = 'METRIC') || '}}')::JSON AS metrics
            FROM cur WHERE value IS NOT NULL GROUP BY MODEL_ID
        )
        SELECT a.ID, a.NAME, a.VERSION,
               json_extract_string(a.reg_value::JSON, '$.type') AS TYPE,
               json_extract_string(a.reg_value::JSON, '$.uri') AS URI,
               a.created AS CREATION_TIME, a.role AS CREATION_ROLE, v.d AS DESCRIPTION,
               v.tags AS TAGS, v.metrics AS METRICS, a.del_now IS NOT NULL AS DELETED
        FROM life a LEFT JOIN vals v ON v.MODEL_ID = a.ID
        WHERE a.reg IS NOT NULL AND a.del_then IS NULL
        ORDER BY a.created, a.ID
    """


def _query(rel: "Relation", name: str, sql: str) -> "Relation":
    """``sql`` over ``rel`` (named ``name`` in it), as a relation."""
    out = rel.query(name, sql)
    if out is None:  # only a statement that returns nothing gives None
        raise MlregError(f"the query over {name} returned no relation")
    return out


def listing(history: "Relation", at: datetime) -> "Relation":
    """The listing at ``at`` from a relation of the whole history (lazy, over it)."""
    return _query(history, "h", listing_sql(at))


def _values(history: "Relation", model_id: str, at: datetime) -> dict[str, dict[str, str]]:
    import duckdb

    rel = history.filter((duckdb.ColumnExpression("MODEL_ID") == duckdb.ConstantExpression(model_id))
                         & (duckdb.ColumnExpression("EVENT_TIMESTAMP") <= duckdb.ConstantExpression(at)))
    rows = _query(rel, "e", "SELECT ATTRIBUTE_NAME, coalesce(KEY, ''), arg_max(OPERATION, EVENT_ID),"
                          " arg_max(NEW_VALUE::VARCHAR, EVENT_ID) FROM e"
                          " WHERE ATTRIBUTE_NAME IN ('DESCRIPTION', 'TAG', 'METRIC') GROUP BY ALL").fetchall()
    out: dict[str, dict[str, str]] = {DESCRIPTION: {}, TAG: {}, METRIC: {}}
    for attribute, key, op, value in rows:
        if op == "SET" and value is not None:
            out[attribute][key] = value
    return out


def snapshot(core: "RegistryCore", model_name: str, model_version: str, at: datetime) -> VersionSnapshot:
    """The version of that name as it was at ``at`` (NotFound when none was registered then)."""
    import duckdb

    with core.store.scan_history(ordered=False) as history:
        rel = history.filter((duckdb.ColumnExpression("MODEL_NAME") == duckdb.ConstantExpression(model_name))
                             & (duckdb.ColumnExpression("MODEL_VERSION") == duckdb.ConstantExpression(model_version)))
        rows = _query(rel, "h", listing_sql(at)).fetchall()
        if not rows:
            raise NotFound(f"The model {model_name}/{model_version} did not exist in the registry at "
                           f"{at.isoformat()}.")
        row = dict(zip(COLUMNS, rows[0]))
        values = _values(history, row["ID"], at)
    with core.read() as reader:
        current = reader.version(model_name, model_version)
        record: dict[str, Any] | None = None
        if current is not None and current.id == row["ID"]:
            record = reader.listing_row(current.id)
            record.update({"MANIFEST": current.manifest, "FILES": current.files})
    if record is None:  # deleted since: what its registration event recorded
        record = {"ID": row["ID"], "NAME": model_name, "VERSION": model_version, "TYPE": row["TYPE"],
                  "CREATION_TIME": row["CREATION_TIME"], "CREATION_ROLE": row["CREATION_ROLE"]}
    base = VersionSnapshot.of(record)
    return VersionSnapshot.from_attributes(base, values, deleted=bool(row["DELETED"]))


class RegistryAsOf:
    """A read-only view of a registry as it was at one moment (``ModelRegistry.as_of``):
    the reading methods of the registry, answered from its history."""

    def __init__(self, core: "RegistryCore", at: datetime):
        self._core = core
        self.at = at

    def __repr__(self) -> str:
        return f"RegistryAsOf({self._core.database!r}, at={self.at.isoformat()!r})"

    def list_models(self) -> "Relation":
        """The versions registered and not deleted at that moment, in registration order,
        with the description, tags and metrics they had (columns :data:`COLUMNS`;
        DELETED: whether the version was deleted since)."""
        from mlreg.store.relations import from_rows

        with self._core.store.scan_history(ordered=False) as history:
            rel = listing(history, self.at)
            types = [str(t) for t in rel.types]
            rows = rel.fetchall()
        return from_rows(list(zip(COLUMNS, types)), rows)

    @contextmanager
    def scan(self) -> Iterator["Relation"]:
        """``list_models()`` computed where the history lies, for one query fetched inside
        the with-block: no copy (what `mlreg list --as-of` reads)."""
        with self._core.store.scan_history(ordered=False) as history:
            yield listing(history, self.at)

    def snapshot(self, model_name: str, model_version: str) -> VersionSnapshot:
        return snapshot(self._core, model_name, model_version, self.at)

    def describe_model(self, model_name: str, model_version: str) -> dict[str, Any]:
        """The version's fields as they were (its row's fields as registered, when it still exists)."""
        s = self.snapshot(model_name, model_version)
        return {"ID": s.id, "NAME": s.name, "VERSION": s.version, "TYPE": s.type, "CREATION_TIME": s.created,
                "CREATION_ROLE": s.role, "CREATION_CONTEXT": s.context or None,
                "CREATION_ENVIRONMENT_SPEC": s.environment or None, "DESCRIPTION": s.description,
                "TAGS": s.tags or None, "METRICS": s.metrics or None, "SIGNATURES": s.signatures or None,
                "FILES": s.files or None, "DELETED": s.deleted, "AS_OF": self.at}

    def get_aliases(self, model_name: str) -> dict[str, str]:
        """The aliases set on the model at that moment: alias -> version."""
        from mlreg.registry.promote import Promoter

        return Promoter(self._core, None).aliases_at(model_name, self.at)  # type: ignore[arg-type]

    def get_model_description(self, model_name: str, model_version: str) -> str | None:
        return self.snapshot(model_name, model_version).description

    def get_tags(self, model_name: str, model_version: str) -> dict[str, str]:
        return dict(self.snapshot(model_name, model_version).tags)

    def get_metrics(self, model_name: str, model_version: str) -> dict[str, Any]:
        return dict(self.snapshot(model_name, model_version).metrics)

    def get_tag_value(self, model_name: str, model_version: str, tag_name: str) -> str:
        return self._value(model_name, model_version, "tag", self.get_tags(model_name, model_version), tag_name)

    def get_metric_value(self, model_name: str, model_version: str, metric_name: str) -> Any:
        return self._value(model_name, model_version, "metric", self.get_metrics(model_name, model_version),
                           metric_name)

    def _value(self, model_name: str, model_version: str, what: str, values: dict[str, Any], key: str) -> Any:
        if key not in values:
            listing_text = json.dumps(sorted(values)) if values else "none"
            raise NotFound(f"Model {model_name}/{model_version} had no {what} named {key} at "
                           f"{self.at.isoformat()}. Full list of {what}s then: {listing_text}")
        return values[key]
