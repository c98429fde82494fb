"""Models on a PostgreSQL registry: a name and its versions, with the model-level
attributes (description, tags, default version, aliases) of ``model_attributes``,
written with the event that sets each (see ``migrations.m002_models_aliases``).

Mixed into :class:`~mlreg.store.postgres.operations.PgReader` / ``PgWriter``. Writers of
one model take turns: each takes a transaction-level advisory lock of the model name
before it reads a current value, so the events of a key form a chain and an alias
names one version whatever the number of writers.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any, Callable, Sequence

from mlreg.errors import AlreadyExists, NotFound
from mlreg.records import ALIAS, DEFAULT_VERSION, DROP, MODEL_NAME, SET, Change, ModelEnds, ModelInfo, ModelRow

_EVENT = ("INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
          " attribute_name, key, old_value, new_value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
          " RETURNING event_id")


def _model_lock_key(name: str) -> int:
    digest = hashlib.sha256(f"mlreg-model\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgModelReads:
    _cur: Any
    _all: Callable[..., list[tuple]]  # PgReader's

    def models(self, name: str | None = None) -> list[ModelInfo]:
        where, params = (" WHERE name = %s", [name]) if name is not None else ("", [])
        rows = self._all("SELECT name, min(creation_time), array_agg(version ORDER BY seq) FROM listing"
                         f"{where} GROUP BY name ORDER BY min(seq)", params)
        attributes: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
        where = " WHERE model_name = %s" if name is not None else ""
        for model, attribute, key, value in self._all(
                "SELECT model_name, attribute_name, key, value FROM model_attributes"
                f'{where} ORDER BY model_name COLLATE "C", attribute_name, key COLLATE "C"', params):
            attributes[model][attribute][key] = value
        return [ModelInfo(r[0], r[1], tuple(r[2]), {a: dict(v) for a, v in attributes.get(r[0], {}).items()})
                for r in rows]

    def model_ends(self, names: Sequence[str]) -> list[ModelEnds]:
        wanted = list(dict.fromkeys(names))
        rows = self._all("SELECT n.name, f.version, l.version FROM unnest(%s::text[]) AS n(name)"
                         " CROSS JOIN LATERAL (SELECT version FROM listing WHERE name = n.name ORDER BY seq LIMIT 1) f"
                         " CROSS JOIN LATERAL (SELECT version FROM listing WHERE name = n.name ORDER BY seq DESC"
                         " LIMIT 1) l", [wanted])
        attributes: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
        for model, attribute, key, value in self._all(
                "SELECT model_name, attribute_name, key, value FROM model_attributes"
                " WHERE attribute_name IN (%s, %s) AND model_name = ANY(%s)", [ALIAS, DEFAULT_VERSION, wanted]):
            attributes[model][attribute][key] = value
        return [ModelEnds(r[0], r[1], r[2], {a: dict(v) for a, v in attributes.get(r[0], {}).items()}) for r in rows]


class PgModelWrites(PgModelReads):
    _now: Any
    _role: str

    def _lock_model(self, name: str) -> None:
        self._cur.execute("SELECT pg_advisory_xact_lock(%s)", [_model_lock_key(name)])

    def _model_event(self, name: str, about: ModelRow | None, change: Change) -> int:
        found = self._all(_EVENT, [self._now, about.id if about else None, name, about.version if about else None,
                                   self._role, change.operation, change.attribute, change.key, change.old_value,
                                   change.new_value])
        return int(found[0][0])

    def _model_values(self, name: str, attribute: str) -> dict[str, str]:
        return dict(self._all("SELECT key, value FROM model_attributes WHERE model_name = %s AND attribute_name = %s",
                              [name, attribute]))

    def set_model_attribute(self, name: str, attribute: str, key: str, value: str,
                            about: ModelRow | None = None) -> None:
        self._lock_model(name)
        values = self._model_values(name, attribute)
        event_id = self._model_event(name, about, Change(SET, attribute, key, values.get(key), value))
        self._cur.execute(
            "INSERT INTO model_attributes (model_name, attribute_name, key, value, event_id)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (model_name, attribute_name, key)"
            " DO UPDATE SET value = excluded.value, event_id = excluded.event_id",
            [name, attribute, key, value, event_id])

    def remove_model_attribute(self, name: str, attribute: str, key: str, about: ModelRow | None = None) -> bool:
        self._lock_model(name)
        values = self._model_values(name, attribute)
        if key not in values:
            return False
        self._model_event(name, about, Change(DROP, attribute, key, values[key], None))
        self._cur.execute("DELETE FROM model_attributes WHERE model_name = %s AND attribute_name = %s AND key = %s",
                          [name, attribute, key])
        return True

    def rename_model(self, name: str, new_name: str) -> None:
        for each in sorted({name, new_name}):
            self._lock_model(each)
        if self._all("SELECT 1 FROM models WHERE name = %s LIMIT 1", [new_name]):
            raise AlreadyExists(f"Model {new_name} already exists.")
        if not self._all("SELECT id FROM models WHERE name = %s FOR UPDATE", [name]):
            raise NotFound(f"Unable to find model {name}")
        for table, column in (("models", "name"), ("listing", "name"), ("deployments", "model_name"),
                              ("model_attributes", "model_name")):
            self._cur.execute(f"UPDATE {table} SET {column} = %s WHERE {column} = %s", [new_name, name])
        self._model_event(name, None, Change(SET, MODEL_NAME, None, json.dumps(name), json.dumps(new_name)))

    def import_model_attributes(self, name: str, attributes: Any) -> None:
        self._lock_model(name)
        for attribute, values in attributes.items():
            for key, value in values.items():
                self._cur.execute(
                    "INSERT INTO model_attributes (model_name, attribute_name, key, value, event_id)"
                    " VALUES (%s, %s, %s, %s, 0) ON CONFLICT (model_name, attribute_name, key)"
                    " DO UPDATE SET value = excluded.value", [name, attribute, key, value])

    def drop_references(self, row: ModelRow) -> None:
        """Before a version goes: the aliases and default naming it (and, for the last
        version of its model, every model-level attribute), each with its DROP event."""
        self._lock_model(row.name)
        for attribute in (ALIAS, DEFAULT_VERSION):
            for key, value in sorted(self._model_values(row.name, attribute).items()):
                if json.loads(value) == row.version:
                    self.remove_model_attribute(row.name, attribute, key, row)
        if not self._all("SELECT 1 FROM models WHERE name = %s AND id <> %s LIMIT 1", [row.name, row.id]):
            for attribute, key in self._all("SELECT attribute_name, key FROM model_attributes WHERE model_name = %s"
                                            ' ORDER BY attribute_name, key COLLATE "C"', [row.name]):
                self.remove_model_attribute(row.name, attribute, key)
