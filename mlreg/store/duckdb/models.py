"""Models on a DuckDB registry file: a name and its versions, with the model-level
attributes (description, tags, default version, aliases) of ``model_attributes``,
written with the event that sets each (see ``migrations.m004_models_aliases``).

Mixed into :class:`~mlreg.store.duckdb.operations.DuckDBReader` / ``DuckDBWriter``: the
writer holds the registry's lock, so one row per (model, attribute, key) is kept by
reading before writing, as for ``attributes``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Sequence

from mlreg.errors import AlreadyExists, NotFound
from mlreg.records import ALIAS, DEFAULT_VERSION, DROP, MODEL_NAME, SET, Change, ModelEnds, ModelInfo, ModelRow

_EVENT = ("INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
          " attribute_name, key, old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id")


class ModelReads:
    _con: Any

    def models(self, name: str | None = None) -> list[ModelInfo]:
        where, params = (" WHERE name = ?", [name]) if name is not None else ("", [])
        rows = self._con.execute(
            "SELECT name, min(creation_time), list(version ORDER BY rowid) FROM listing"
            f"{where} GROUP BY name ORDER BY min(rowid)", params).fetchall()
        attributes: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
        where = " WHERE model_name = ?" if name is not None else ""
        for model, attribute, key, value in self._con.execute(
                "SELECT model_name, attribute_name, key, value FROM model_attributes"
                f"{where} ORDER BY model_name, attribute_name, key", params).fetchall():
            attributes[model][attribute][key] = value
        return [ModelInfo(r[0], r[1], tuple(r[2]), {a: dict(v) for a, v in attributes.get(r[0], {}).items()})
                for r in rows]

    def model_ends(self, names: Sequence[str]) -> list[ModelEnds]:
        wanted = list(dict.fromkeys(names))
        rows = self._con.execute("SELECT name, arg_min(version, rowid), arg_max(version, rowid) FROM listing"
                                 " WHERE list_contains(?, name) GROUP BY name", [wanted]).fetchall()
        attributes: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
        for model, attribute, key, value in self._con.execute(
                "SELECT model_name, attribute_name, key, value FROM model_attributes"
                " WHERE attribute_name IN (?, ?) AND list_contains(?, model_name)",
                [ALIAS, DEFAULT_VERSION, wanted]).fetchall():
            attributes[model][attribute][key] = value
        return [ModelEnds(r[0], r[1], r[2], {a: dict(v) for a, v in attributes.get(r[0], {}).items()}) for r in rows]


class ModelWrites(ModelReads):
    _now: Any
    _role: str
    _memo: "dict[tuple, Any] | None" = None  # a batch's (see ``operations``)

    def _forget(self) -> None:
        """Forget the batch's memo: this unit of work renames or deletes versions (the only
        changes to a remembered row or value that are not a value's write, which keeps
        the memo up to date)."""
        if self._memo is not None:
            self._memo.clear()

    def _model_event(self, name: str, about: ModelRow | None, change: Change) -> int:
        return self._con.execute(
            _EVENT, [self._now, about.id if about else None, name, about.version if about else None, self._role,
                     change.operation, change.attribute, change.key, change.old_value, change.new_value],
        ).fetchall()[0][0]

    def _model_values(self, name: str, attribute: str) -> dict[str, str]:
        return dict(self._con.execute(
            "SELECT key, value FROM model_attributes WHERE model_name = ? AND attribute_name = ?",
            [name, attribute]).fetchall())

    def set_model_attribute(self, name: str, attribute: str, key: str, value: str,
                            about: ModelRow | None = None) -> None:
        values = self._model_values(name, attribute)
        event_id = self._model_event(name, about, Change(SET, attribute, key, values.get(key), value))
        if key in values:
            self._con.execute("UPDATE model_attributes SET value = ?, event_id = ?"
                              " WHERE model_name = ? AND attribute_name = ? AND key = ?",
                              [value, event_id, name, attribute, key])
        else:
            self._con.execute("INSERT INTO model_attributes VALUES (?, ?, ?, ?, ?)",
                              [name, attribute, key, value, event_id])

    def remove_model_attribute(self, name: str, attribute: str, key: str, about: ModelRow | None = None) -> bool:
        values = self._model_values(name, attribute)
        if key not in values:
            return False
        self._model_event(name, about, Change(DROP, attribute, key, values[key], None))
        self._con.execute("DELETE FROM model_attributes WHERE model_name = ? AND attribute_name = ? AND key = ?",
                          [name, attribute, key])
        return True

    def rename_model(self, name: str, new_name: str) -> None:
        if self._con.execute("SELECT 1 FROM models WHERE name = ? LIMIT 1", [new_name]).fetchone() is not None:
            raise AlreadyExists(f"Model {new_name} already exists.")
        if self._con.execute("SELECT 1 FROM models WHERE name = ? LIMIT 1", [name]).fetchone() is None:
            raise NotFound(f"Unable to find model {name}")
        self._forget()
        for table, column in (("models", "name"), ("listing", "name"), ("deployments", "model_name"),
                              ("model_attributes", "model_name")):
            self._con.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [new_name, name])
        self._model_event(name, None, Change(SET, MODEL_NAME, None, json.dumps(name), json.dumps(new_name)))

    def import_model_attributes(self, name: str, attributes: Any) -> None:
        for attribute, values in attributes.items():
            for key, value in values.items():
                self._con.execute("DELETE FROM model_attributes WHERE model_name = ? AND attribute_name = ? AND key = ?",
                                  [name, attribute, key])
                self._con.execute("INSERT INTO model_attributes VALUES (?, ?, ?, ?, 0)", [name, attribute, key, value])

    def drop_references(self, row: ModelRow) -> None:
        """Before a version goes: the aliases and default naming it (and, for the last
        version of its model, every model-level attribute), each with its DROP event."""
        for attribute in (ALIAS, DEFAULT_VERSION):
            for key, value in sorted(self._model_values(row.name, attribute).items()):
                if json.loads(value) == row.version:
                    self.remove_model_attribute(row.name, attribute, key, row)
        others = self._con.execute("SELECT 1 FROM models WHERE name = ? AND id <> ? LIMIT 1",
                                   [row.name, row.id]).fetchone()
        if others is None:
            rows = self._con.execute("SELECT attribute_name, key FROM model_attributes WHERE model_name = ?"
                                     " ORDER BY attribute_name, key", [row.name]).fetchall()
            for attribute, key in rows:
                self.remove_model_attribute(row.name, attribute, key)
