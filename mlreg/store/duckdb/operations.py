"""The store's named operations on an attached DuckDB registry file: every SQL statement
the registry needs, written once.

Tables (see ``migrations``): ``models`` (one row per version), ``events`` (the
append-only history), ``listing`` (the current values, kept with each event by
:mod:`mlreg.store.duckdb.attributes`), ``deployments``.

A writer on a batch's kept attachment gets the batch's *memo* (see
``mlreg.store.duckdb.engine``): the version rows it looked up and the current values
it read or wrote, valid because nothing else can write the file while it stays
attached. A write then skips those lookups; every operation that changes versions in
another way forgets the memo (``_forget``), and so does a unit of work that fails.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any, Mapping

import duckdb

from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import AlreadyExists
from mlreg.records import DELETION, DEPLOYMENT, DROP, Change, Deployment, Event, ModelRow, NewVersion
from mlreg.store.base import StoreReader, StoreWriter, exported_version
from mlreg.store.duckdb import attributes
from mlreg.store.duckdb.attributes import Values
from mlreg.store.duckdb.models import ModelReads, ModelWrites

_VERSION = "SELECT id, name, version, type, uri, manifest, files FROM models"
_DEPLOYMENT = ("SELECT name, model_id, model_name, model_version, platform, target_method, signature,"
               " options, details, created_time, role FROM deployments")
_APPEND = ("INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
           " attribute_name, key, old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_EVENT = _APPEND + " RETURNING event_id"


def _version(r: tuple) -> ModelRow:
    return ModelRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]))


def _deployment(r: tuple) -> Deployment:
    return Deployment(
        name=r[0], model_id=r[1], model_name=r[2], model_version=r[3],
        platform=TargetPlatform(r[4]), target_method=r[5],
        signature=json.loads(r[6]) if r[6] else {}, options=json.loads(r[7]) if r[7] else {},
        details=json.loads(r[8]) if r[8] else {}, created_time=r[9], role=r[10], permanent=True,
    )


class DuckDBReader(ModelReads, StoreReader):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def version(self, name: str, version: str) -> ModelRow | None:
        row = self._con.execute(_VERSION + " WHERE name = ? AND version = ?", [name, version]).fetchone()
        return _version(row) if row is not None else None

    def version_ids(self) -> set[str]:
        return {r[0] for r in self._con.execute("SELECT id FROM models").fetchall()}

    def versions(self) -> list[ModelRow]:
        rows = self._con.execute("SELECT id, name, version, type, uri, files FROM models ORDER BY name, version")
        return [ModelRow(r[0], r[1], r[2], r[3], r[4], {}, json.loads(r[5])) for r in rows.fetchall()]

    def listing_row(self, model_id: str) -> dict[str, Any]:
        cur = self._con.execute("SELECT * FROM model_list WHERE ID = ?", [model_id])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchall()[0]))

    def attributes(self, model_id: str, attribute: str) -> dict[str, str]:
        return dict(sorted(self._values(model_id)[attribute].items()))

    def _values(self, model_id: str) -> Values:
        return attributes.current(self._con, model_id) or attributes.from_row(None, None, None)

    def deployment(self, name: str) -> Deployment | None:
        row = self._con.execute(_DEPLOYMENT + " WHERE name = ?", [name]).fetchone()
        return _deployment(row) if row is not None else None

    def deployments(self, model_id: str | None = None, platform: str | None = None) -> list[Deployment]:
        where, params = [], []
        if model_id is not None:
            where.append("model_id = ?")
            params.append(model_id)
        if platform is not None:
            where.append("platform = ?")
            params.append(platform)
        sql = _DEPLOYMENT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY name"
        return [_deployment(r) for r in self._con.execute(sql, params).fetchall()]


    def export_versions(self) -> list[NewVersion]:
        rows = self._con.execute(
            "SELECT m.id, m.name, m.version, m.type, m.uri, m.creation_time, m.creation_role, m.creation_context,"
            " m.creation_environment_spec, m.input_spec, m.output_spec, m.manifest, m.files"
            " FROM listing l JOIN models m ON m.id = l.id ORDER BY l.rowid").fetchall()
        return [exported_version(r) for r in rows]

    def events(self) -> list[Event]:
        rows = self._con.execute(
            "SELECT event_id, event_timestamp, model_id, model_name, model_version, role, operation,"
            " attribute_name, key, old_value, new_value FROM events ORDER BY event_id").fetchall()
        return [Event(*r) for r in rows]


class DuckDBWriter(ModelWrites, DuckDBReader, StoreWriter):
    def __init__(self, con: duckdb.DuckDBPyConnection, role: str, now: datetime,
                 memo: dict[tuple, Any] | None = None):
        super().__init__(con)
        self._role = role
        self._now = now
        self._memo = memo  # a batch's, on a kept attachment (see the module doc)

    def version(self, name: str, version: str) -> ModelRow | None:
        if self._memo is None:
            return super().version(name, version)
        key = ("row", name, version)
        row = self._memo.get(key)
        if row is None:
            row = super().version(name, version)
            if row is not None:
                self._memo[key] = row
        return row

    def _values(self, model_id: str) -> Values:
        """The model's current values (the memo's, kept up to date by the writes here)."""
        if self._memo is None:
            return super()._values(model_id)
        key = ("values", model_id)
        values = self._memo.get(key)
        if values is None:
            values = self._memo[key] = super()._values(model_id)
        return values

    def _append(self, row: ModelRow, change: Change) -> None:
        self._con.execute(
            _APPEND,  # no RETURNING: nothing needs the event's id (≈ 0.05 ms of a write)
            [self._now, row.id, row.name, row.version, self._role, change.operation, change.attribute,
             change.key, change.old_value, change.new_value],
        )

    def register(self, version: NewVersion, changes: list[Change]) -> None:
        if self._con.execute("SELECT 1 FROM models WHERE name = ? AND version = ?",
                             [version.name, version.version]).fetchone() is not None:
            raise AlreadyExists(f"Model {version.name}/{version.version} already exists.")
        self._con.execute(
            "INSERT INTO models (id, name, version, type, uri, creation_time, creation_role, creation_context,"
            " creation_environment_spec, input_spec, output_spec, manifest, files)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [version.id, version.name, version.version, version.type, version.uri, version.creation_time,
             version.creation_role, *version.json_columns()],
        )
        # the registration and its description, tags and metrics: one statement
        placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(changes))
        values = [x for c in changes
                  for x in (self._now, version.id, version.name, version.version, self._role, c.operation,
                            c.attribute, c.key, c.old_value, c.new_value)]
        self._con.execute(
            "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
            f" attribute_name, key, old_value, new_value) VALUES {placeholders}",
            values,
        )
        attributes.register(self._con, version.id, [
            (c.attribute, c.key or "", c.new_value)
            for c in changes if c.attribute in attributes.ATTRIBUTES and c.new_value is not None
        ])

    def set_attribute(self, row: ModelRow, attribute: str, key: str, value: str) -> None:
        values = self._values(row.id)
        self._append(row, Change("SET", attribute, key, values[attribute].get(key), value))
        attributes.apply(self._con, row.id, "SET", attribute, key, value, values)

    def set_attributes(self, row: ModelRow, attribute: str, pairs: Mapping[str, str]) -> None:
        pairs = dict(pairs)
        if len(pairs) <= 1 or attribute not in ("TAG", "METRIC"):
            for key, value in pairs.items():
                self.set_attribute(row, attribute, key, value)
            return
        values = self._values(row.id)
        # every event in one statement, in the order given, each with the value it replaces
        placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(pairs))
        params = [x for key, value in pairs.items()
                  for x in (self._now, row.id, row.name, row.version, self._role, "SET", attribute, key,
                            values[attribute].get(key), value)]
        self._con.execute(
            "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
            f" attribute_name, key, old_value, new_value) VALUES {placeholders}",
            params,
        )
        attributes.set_many(self._con, row.id, attribute, pairs, values)

    def remove_attribute(self, row: ModelRow, attribute: str, key: str) -> bool:
        values = self._values(row.id)
        if key not in values[attribute]:
            return False
        self._append(row, Change(DROP, attribute, key, values[attribute][key], None))
        attributes.apply(self._con, row.id, DROP, attribute, key, None, values)
        return True

    def record(self, row: ModelRow, change: Change) -> None:
        self._append(row, change)

    def delete_version(self, row: ModelRow, delete_artifact: bool) -> list[str]:
        self._forget()
        names = [r[0] for r in self._con.execute(
            "SELECT name FROM deployments WHERE model_id = ? ORDER BY name", [row.id]).fetchall()]
        for name in names:
            self._append(row, Change(DROP, DEPLOYMENT, name))
        self.drop_references(row)
        self._con.execute("DELETE FROM deployments WHERE model_id = ?", [row.id])
        self._con.execute("DELETE FROM models WHERE id = ?", [row.id])
        self._append(row, Change(DROP, DELETION, None, json.dumps({"type": row.type, "uri": row.uri}),
                                 json.dumps({"delete_artifact": delete_artifact})))
        attributes.remove(self._con, row.id)
        return names

    def add_deployment(self, deployment: Deployment, changes: list[Change]) -> None:
        d = deployment
        self._con.execute(
            "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [d.name, d.model_id, d.model_name, d.model_version, d.platform.value, d.target_method,
             json.dumps(d.signature), json.dumps(d.options), json.dumps(d.details), d.created_time, d.role],
        )
        self._record_for(d, changes)

    def remove_deployment(self, name: str, changes: list[Change]) -> None:
        d = self.deployment(name)
        self._con.execute("DELETE FROM deployments WHERE name = ?", [name])
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
            self._con.execute(
                "INSERT INTO models (id, name, version, type, uri, creation_time, creation_role, creation_context,"
                " creation_environment_spec, input_spec, output_spec, manifest, files)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [v.id, v.name, v.version, v.type, v.uri, v.creation_time, v.creation_role,
                 *v.json_columns()])
        imported = []
        for e in events:
            values = [e.timestamp, e.model_id, e.model_name, e.model_version, e.role, e.operation, e.attribute,
                      e.key, e.old_value, e.new_value]
            if keep_event_ids:
                self._con.execute(
                    "INSERT INTO events (event_id, event_timestamp, model_id, model_name, model_version, role,"
                    " operation, attribute_name, key, old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [e.event_id, *values])
                imported.append(e)
            else:
                new_id = self._con.execute(_EVENT, values).fetchall()[0][0]
                imported.append(dataclasses.replace(e, event_id=new_id))
        if v is not None:
            attributes.register(self._con, v.id, [(a, k, value) for a, k, value, _ in current_values(imported)])
        for d in deployments:
            self._con.execute(
                "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [d.name, d.model_id, d.model_name, d.model_version, d.platform.value, d.target_method,
                 json.dumps(d.signature), json.dumps(d.options), json.dumps(d.details), d.created_time, d.role])

    def sync_event_ids(self) -> None:
        top = self._con.execute("SELECT coalesce(max(event_id), 0) FROM events").fetchall()[0][0]
        current = self._con.execute("SELECT nextval('event_seq')").fetchall()[0][0]
        if current < top:  # DuckDB has no setval: draw the numbers in between
            self._con.execute("SELECT max(nextval('event_seq')) FROM range(?)", [top - current])
