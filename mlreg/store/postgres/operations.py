"""The store's named operations on a PostgreSQL registry schema: every SQL statement the
registry needs, written once (tables: ``migrations``).

What the DuckDB file gets from its lock, the database enforces here:

- a model version is registered once: the unique constraint on (name, version) (an
  ``INSERT ... ON CONFLICT DO NOTHING`` that inserted nothing is AlreadyExists);
- every change is one transaction with its events (READ COMMITTED, explicit BEGIN/COMMIT);
- the events of one key form a chain whatever the number of writers: a writer locks the
  version's row (``SELECT ... FOR UPDATE``) when it looks the version up, before it reads
  any current value, so two writers of one version take turns, and the second reads what
  the first committed.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any, Mapping

from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import AlreadyExists, NotFound
from mlreg.records import (
    ATTRIBUTES, DELETION, DEPLOYMENT, DESCRIPTION, DROP, Change, Deployment, Event, ModelRow, NewVersion,
)
from mlreg.store.base import StoreReader, StoreWriter, exported_version
from mlreg.store.postgres.models import PgModelReads, PgModelWrites

_VERSION = "SELECT id, name, version, type, uri, manifest, files FROM models"
_DEPLOYMENT = ("SELECT name, model_id, model_name, model_version, platform, target_method, signature,"
               " options, details, created_time, role FROM deployments")
_EVENT_COLUMNS = ("event_timestamp, model_id, model_name, model_version, role, operation, attribute_name, key,"
                  " old_value, new_value")
_LISTING_COLUMNS = ("id, name, version, type, uri, creation_time, creation_role, creation_context,"
                    " creation_environment_spec, input_spec, output_spec")


def _version(r: tuple) -> ModelRow:
    return ModelRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]))


def _deployment(r: tuple) -> Deployment:
    return Deployment(
        name=r[0], model_id=r[1], model_name=r[2], model_version=r[3],
        platform=TargetPlatform(r[4]), target_method=r[5],
        signature=json.loads(r[6]) if r[6] else {}, options=json.loads(r[7]) if r[7] else {},
        details=json.loads(r[8]) if r[8] else {}, created_time=r[9], role=r[10], permanent=True,
    )


def json_object(values: dict[str, str]) -> str | None:
    """A JSON object from keys and JSON texts, keys sorted, compact (NULL when empty): the
    text a file registry's listing holds."""
    if not values:
        return None
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{values[k]}" for k in sorted(values)) + "}"


def description_text(value: str | None) -> str | None:
    """The DESCRIPTION column from the attribute's JSON text."""
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


class PgReader(PgModelReads, StoreReader):
    def __init__(self, cur: Any):
        self._cur = cur

    def _all(self, sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
        self._cur.execute(sql, params)
        return self._cur.fetchall()

    def _one(self, sql: str, params: list[Any] | tuple = ()) -> tuple | None:
        self._cur.execute(sql, params)
        return self._cur.fetchone()

    def version(self, name: str, version: str) -> ModelRow | None:
        row = self._one(_VERSION + " WHERE name = %s AND version = %s", [name, version])
        return _version(row) if row is not None else None

    def version_ids(self) -> set[str]:
        return {r[0] for r in self._all("SELECT id FROM models")}

    def versions(self) -> list[ModelRow]:
        rows = self._all('SELECT id, name, version, type, uri, files FROM models'
                         ' ORDER BY name COLLATE "C", version COLLATE "C"')
        return [ModelRow(r[0], r[1], r[2], r[3], r[4], {}, json.loads(r[5])) for r in rows]

    def listing_row(self, model_id: str) -> dict[str, Any]:
        self._cur.execute('SELECT * FROM model_list WHERE "ID" = %s', [model_id])
        names = [d.name for d in self._cur.description]
        return dict(zip(names, self._cur.fetchall()[0]))

    def attributes(self, model_id: str, attribute: str) -> dict[str, str]:
        return dict(self._all("SELECT key, value FROM attributes WHERE model_id = %s AND attribute_name = %s"
                              " ORDER BY key COLLATE \"C\"", [model_id, attribute]))

    def deployment(self, name: str) -> Deployment | None:
        row = self._one(_DEPLOYMENT + " WHERE name = %s", [name])
        return _deployment(row) if row is not None else None

    def deployments(self, model_id: str | None = None, platform: str | None = None) -> list[Deployment]:
        where, params = [], []
        if model_id is not None:
            where.append("model_id = %s")
            params.append(model_id)
        if platform is not None:
            where.append("platform = %s")
            params.append(platform)
        sql = _DEPLOYMENT + (" WHERE " + " AND ".join(where) if where else "") + ' ORDER BY name COLLATE "C"'
        return [_deployment(r) for r in self._all(sql, params)]


    def export_versions(self) -> list[NewVersion]:
        rows = self._all(
            "SELECT m.id, m.name, m.version, m.type, m.uri, m.creation_time, m.creation_role, m.creation_context,"
            " m.creation_environment_spec, m.input_spec, m.output_spec, m.manifest, m.files"
            " FROM listing l JOIN models m ON m.id = l.id ORDER BY l.seq")
        return [exported_version(r) for r in rows]

    def events(self) -> list[Event]:
        rows = self._all(f"SELECT event_id, {_EVENT_COLUMNS} FROM events ORDER BY event_id")
        return [Event(*r) for r in rows]


class PgWriter(PgModelWrites, PgReader, StoreWriter):
    def __init__(self, cur: Any, role: str, now: datetime):
        super().__init__(cur)
        self._role = role
        self._now = now

    def version(self, name: str, version: str) -> ModelRow | None:
        # the row lock that keeps every writer of this version in turn (see the module doc)
        row = self._one(_VERSION + " WHERE name = %s AND version = %s FOR UPDATE", [name, version])
        return _version(row) if row is not None else None

    def lock_model(self, name: str) -> None:
        # transaction-scoped: released by the COMMIT or ROLLBACK that ends this unit of work
        self._cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/model/' || %s, 0))",
                          [name])

    def _lock(self, row: ModelRow) -> None:
        if self._one("SELECT 1 FROM models WHERE id = %s FOR UPDATE", [row.id]) is None:
            raise NotFound(f"The model {row.name}/{row.version} does not exist in the current registry.")

    def _append(self, row: ModelRow, change: Change) -> int:
        found = self._one(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING event_id",
            [self._now, row.id, row.name, row.version, self._role, change.operation, change.attribute,
             change.key, change.old_value, change.new_value])
        assert found is not None
        return int(found[0])

    def register(self, version: NewVersion, changes: list[Change]) -> None:
        v = version
        inserted = self._one(
            "INSERT INTO models (id, name, version, type, uri, creation_time, creation_role, creation_context,"
            " creation_environment_spec, input_spec, output_spec, manifest, files)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            [v.id, v.name, v.version, v.type, v.uri, v.creation_time, v.creation_role,
             *v.json_columns()])
        if inserted is None:
            raise AlreadyExists(f"Model {v.name}/{v.version} already exists.")
        self.insert_events(v.id, v.name, v.version, self._now, self._role, changes)

    def insert_events(self, model_id: str, name: str, version: str, at: datetime, role: str,
                      changes: list[Change]) -> None:
        """The events of a registration, the version's current values and its listing row."""
        ids: list[tuple] = []
        if changes:
            placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(changes))
            ids = self._all(
                f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES {placeholders} RETURNING event_id, attribute_name, key",
                [x for c in changes for x in (at, model_id, name, version, role, c.operation, c.attribute,
                                              c.key, c.old_value, c.new_value)])
        event_ids = {(attribute, key): event_id for event_id, attribute, key in ids}
        self._current_and_listed(model_id, [(c.attribute, c.key or "", c.new_value, event_ids[(c.attribute, c.key)])
                                            for c in changes if c.attribute in ATTRIBUTES and c.new_value is not None])

    def _current_and_listed(self, model_id: str, values: list[tuple[str, str, str, int]]) -> None:
        """The current values of a version just inserted, and its listing row."""
        if values:
            placeholders = ", ".join(["(%s, %s, %s, %s, %s)"] * len(values))
            self._cur.execute(
                f"INSERT INTO attributes (model_id, attribute_name, key, value, event_id) VALUES {placeholders}",
                [x for attribute, key, value, event_id in values for x in (model_id, attribute, key, value, event_id)])
        by_attribute: dict[str, dict[str, str]] = {a: {} for a in ATTRIBUTES}
        for attribute, key, value, _ in values:
            by_attribute[attribute][key] = value
        self._cur.execute(
            f"INSERT INTO listing ({_LISTING_COLUMNS}, description, tags, metrics)"
            f" SELECT {_LISTING_COLUMNS}, %s, %s, %s FROM models WHERE id = %s",
            [description_text(by_attribute[DESCRIPTION].get("")), json_object(by_attribute["TAG"]),
             json_object(by_attribute["METRIC"]), model_id])

    def _current(self, model_id: str, attribute: str) -> dict[str, str]:
        return dict(self._all("SELECT key, value FROM attributes WHERE model_id = %s AND attribute_name = %s",
                              [model_id, attribute]))

    def _relist(self, model_id: str, attribute: str, values: dict[str, str]) -> None:
        if attribute == DESCRIPTION:
            self._cur.execute("UPDATE listing SET description = %s WHERE id = %s",
                              [description_text(values.get("")), model_id])
        else:
            column = "tags" if attribute == "TAG" else "metrics"
            self._cur.execute(f"UPDATE listing SET {column} = %s WHERE id = %s", [json_object(values), model_id])

    def set_attribute(self, row: ModelRow, attribute: str, key: str, value: str) -> None:
        self._lock(row)
        values = self._current(row.id, attribute)
        event_id = self._append(row, Change("SET", attribute, key, values.get(key), value))
        self._cur.execute(
            "INSERT INTO attributes (model_id, attribute_name, key, value, event_id) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (model_id, attribute_name, key) DO UPDATE SET value = excluded.value,"
            " event_id = excluded.event_id", [row.id, attribute, key, value, event_id])
        values[key] = value
        self._relist(row.id, attribute, values)

    def set_attributes(self, row: ModelRow, attribute: str, pairs: Mapping[str, str]) -> None:
        pairs = dict(pairs)
        if not pairs:
            return
        self._lock(row)
        values = self._current(row.id, attribute)
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(pairs))
        found = self._all(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES {placeholders} RETURNING event_id, key",
            [x for key, value in pairs.items()
             for x in (self._now, row.id, row.name, row.version, self._role, "SET", attribute, key,
                       values.get(key), value)])
        event_ids = {key: int(event_id) for event_id, key in found}
        placeholders = ", ".join(["(%s, %s, %s, %s, %s)"] * len(pairs))
        self._cur.execute(
            f"INSERT INTO attributes (model_id, attribute_name, key, value, event_id) VALUES {placeholders}"
            " ON CONFLICT (model_id, attribute_name, key) DO UPDATE SET value = excluded.value,"
            " event_id = excluded.event_id",
            [x for key, value in pairs.items() for x in (row.id, attribute, key, value, event_ids[key])])
        values.update(pairs)
        self._relist(row.id, attribute, values)

    def remove_attribute(self, row: ModelRow, attribute: str, key: str) -> bool:
        self._lock(row)
        values = self._current(row.id, attribute)
        if key not in values:
            return False
        self._append(row, Change(DROP, attribute, key, values.pop(key), None))
        self._cur.execute("DELETE FROM attributes WHERE model_id = %s AND attribute_name = %s AND key = %s",
                          [row.id, attribute, key])
        self._relist(row.id, attribute, values)
        return True

    def record(self, row: ModelRow, change: Change) -> None:
        self._lock(row)
        self._append(row, change)

    def delete_version(self, row: ModelRow, delete_artifact: bool) -> list[str]:
        self._lock(row)
        names = [r[0] for r in self._all('SELECT name FROM deployments WHERE model_id = %s ORDER BY name COLLATE "C"',
                                         [row.id])]
        for name in names:
            self._append(row, Change(DROP, DEPLOYMENT, name))
        self.drop_references(row)
        self._cur.execute("DELETE FROM deployments WHERE model_id = %s", [row.id])
        self._cur.execute("DELETE FROM models WHERE id = %s", [row.id])
        self._append(row, Change(DROP, DELETION, None, json.dumps({"type": row.type, "uri": row.uri}),
                                 json.dumps({"delete_artifact": delete_artifact})))
        self._cur.execute("DELETE FROM attributes WHERE model_id = %s", [row.id])
        self._cur.execute("DELETE FROM listing WHERE id = %s", [row.id])
        return names

    def add_deployment(self, deployment: Deployment, changes: list[Change]) -> None:
        d = deployment
        inserted = self._one(
            "INSERT INTO deployments VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING name",
            [d.name, d.model_id, d.model_name, d.model_version, d.platform.value, d.target_method,
             json.dumps(d.signature), json.dumps(d.options), json.dumps(d.details), d.created_time, d.role])
        if inserted is None:
            raise AlreadyExists(f"deployment {d.name} already exists")
        self._record_for(d, changes)

    def remove_deployment(self, name: str, changes: list[Change]) -> None:
        d = self.deployment(name)
        self._cur.execute("DELETE FROM deployments WHERE name = %s", [name])
        if d is not None:
            self._record_for(d, changes)

    def _record_for(self, d: Deployment, changes: list[Change]) -> None:
        """Events about the model version of a deployment, when that version still exists."""
        row = self.version(d.model_name, d.model_version)
        if row is None or row.id != d.model_id:
            return
        for change in changes:
            self._append(row, change)

    # -- copying between registries ----------------------------------------------------------
    def import_version(self, version: NewVersion | None, events: list[Event], deployments: list[Deployment],
                       keep_event_ids: bool) -> None:
        from mlreg.store.replay import current_values

        v = version
        if v is not None:
            self._cur.execute(
                "INSERT INTO models (id, name, version, type, uri, creation_time, creation_role, creation_context,"
                " creation_environment_spec, input_spec, output_spec, manifest, files)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [v.id, v.name, v.version, v.type, v.uri, v.creation_time, v.creation_role,
                 *v.json_columns()])
        imported = []
        for e in events:
            values = [e.timestamp, e.model_id, e.model_name, e.model_version, e.role, e.operation, e.attribute,
                      e.key, e.old_value, e.new_value]
            if keep_event_ids:
                self._cur.execute(f"INSERT INTO events (event_id, {_EVENT_COLUMNS}) VALUES (%s, {_TEN})",
                                  [e.event_id, *values])
                imported.append(e)
            else:
                found = self._one(f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({_TEN}) RETURNING event_id", values)
                assert found is not None
                imported.append(dataclasses.replace(e, event_id=int(found[0])))
        if v is not None:
            self._current_and_listed(v.id, current_values(imported))
        for d in deployments:
            self._cur.execute(
                "INSERT INTO deployments VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [d.name, d.model_id, d.model_name, d.model_version, d.platform.value, d.target_method,
                 json.dumps(d.signature), json.dumps(d.options), json.dumps(d.details), d.created_time, d.role])

    def sync_event_ids(self) -> None:
        self._cur.execute("SELECT setval(pg_get_serial_sequence('events', 'event_id'),"
                          " greatest((SELECT max(event_id) FROM events), 1))")


_TEN = ", ".join(["%s"] * 10)
