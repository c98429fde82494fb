"""Schema migrations of a DuckDB registry file: an ordered list of small named functions.

Each is applied once, in one explicit transaction together with its row in
``schema_migrations``. Never edit a released migration, and never let one call live
code that may change later (it keeps its own copy of what it needs): add a new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import duckdb

from mlreg._version import __version__
from mlreg.errors import IntegrityError, MlregError


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE models (
            id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            type VARCHAR NOT NULL,
            uri VARCHAR NOT NULL,
            creation_time TIMESTAMPTZ NOT NULL,
            creation_role VARCHAR NOT NULL,
            creation_context JSON,
            creation_environment_spec JSON,
            input_spec JSON,
            output_spec JSON,
            manifest JSON NOT NULL,
            files JSON NOT NULL,
            UNIQUE (name, version)
        )
        """
    )
    con.execute("CREATE SEQUENCE event_seq START 1")
    con.execute(
        """
        CREATE TABLE events (
            event_id BIGINT PRIMARY KEY DEFAULT nextval('event_seq'),
            event_timestamp TIMESTAMPTZ NOT NULL,
            model_id VARCHAR,
            model_name VARCHAR,
            model_version VARCHAR,
            role VARCHAR NOT NULL,
            operation VARCHAR NOT NULL,
            attribute_name VARCHAR NOT NULL,
            key VARCHAR,
            old_value JSON,
            new_value JSON
        )
        """
    )
    con.execute(
        """
        CREATE TABLE deployments (
            name VARCHAR PRIMARY KEY,
            model_id VARCHAR NOT NULL,
            model_name VARCHAR NOT NULL,
            model_version VARCHAR NOT NULL,
            platform VARCHAR NOT NULL,
            target_method VARCHAR NOT NULL,
            signature JSON,
            options JSON,
            details JSON,
            created_time TIMESTAMPTZ NOT NULL,
            role VARCHAR NOT NULL
        )
        """
    )
    # the current description, tags and metrics are derived from the events
    con.execute(
        """
        CREATE VIEW current_attributes AS
        SELECT model_id, attribute_name, key, value FROM (
            SELECT model_id, attribute_name, key,
                   arg_max(operation, event_id) AS op,
                   arg_max(new_value, event_id) AS value
            FROM events
            WHERE attribute_name IN ('DESCRIPTION', 'TAG', 'METRIC') AND model_id IS NOT NULL
            GROUP BY model_id, attribute_name, key
        ) WHERE op = 'SET'
        """
    )
    con.execute(
        """
        CREATE VIEW model_list AS
        WITH tags AS (
            SELECT model_id, json_group_object(key, value) AS tags
            FROM current_attributes WHERE attribute_name = 'TAG' GROUP BY model_id
        ), metrics AS (
            SELECT model_id, json_group_object(key, value) AS metrics
            FROM current_attributes WHERE attribute_name = 'METRIC' GROUP BY model_id
        ), descr AS (
            SELECT model_id, json_extract_string(value, '$') AS description
            FROM current_attributes WHERE attribute_name = 'DESCRIPTION'
        )
        SELECT m.id AS ID, m.name AS NAME, m.version AS VERSION, m.type AS TYPE, m.uri AS URI,
               m.creation_time AS CREATION_TIME, m.creation_role AS CREATION_ROLE,
               m.creation_context AS CREATION_CONTEXT,
               m.creation_environment_spec AS CREATION_ENVIRONMENT_SPEC,
               d.description AS DESCRIPTION,
               coalesce(t.tags, '{}'::JSON) AS TAGS,
               coalesce(x.metrics, '{}'::JSON) AS METRICS,
               m.input_spec AS INPUT_SPEC, m.output_spec AS OUTPUT_SPEC
        FROM models m
        LEFT JOIN descr d ON d.model_id = m.id
        LEFT JOIN tags t ON t.model_id = m.id
        LEFT JOIN metrics x ON x.model_id = m.id
        """
    )
    con.execute(
        """
        CREATE VIEW history AS
        SELECT event_timestamp AS EVENT_TIMESTAMP, event_id AS EVENT_ID, model_id AS MODEL_ID,
               model_name AS MODEL_NAME, model_version AS MODEL_VERSION, role AS ROLE,
               operation AS OPERATION, attribute_name AS ATTRIBUTE_NAME, key AS KEY,
               old_value AS OLD_VALUE, new_value AS NEW_VALUE
        FROM events
        """
    )


def m002_current_attributes(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the current description, tags and metrics, written with each event (see
    mlreg/store/attributes.py), instead of aggregating every event on each read; the
    listing becomes a scan of one table (registration order, no join, no sort)."""
    con.execute(
        """
        CREATE TABLE attributes (
            model_id VARCHAR NOT NULL,
            attribute_name VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value JSON NOT NULL,
            event_id BIGINT NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE listing (
            id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            type VARCHAR NOT NULL,
            uri VARCHAR NOT NULL,
            creation_time TIMESTAMPTZ NOT NULL,
            creation_role VARCHAR NOT NULL,
            creation_context JSON,
            creation_environment_spec JSON,
            input_spec JSON,
            output_spec JSON,
            description VARCHAR,
            tags JSON,
            metrics JSON
        )
        """
    )
    _m002_fill(con)
    con.execute(
        "CREATE OR REPLACE VIEW current_attributes AS SELECT model_id, attribute_name, key, value FROM attributes"
    )
    con.execute(
        """
        CREATE OR REPLACE VIEW model_list AS
        SELECT id AS ID, name AS NAME, version AS VERSION, type AS TYPE, uri AS URI,
               creation_time AS CREATION_TIME, creation_role AS CREATION_ROLE,
               creation_context AS CREATION_CONTEXT,
               creation_environment_spec AS CREATION_ENVIRONMENT_SPEC,
               description AS DESCRIPTION,
               coalesce(tags, '{}'::JSON) AS TAGS,
               coalesce(metrics, '{}'::JSON) AS METRICS,
               input_spec AS INPUT_SPEC, output_spec AS OUTPUT_SPEC
        FROM listing
        """
    )


def _m002_fill(con: duckdb.DuckDBPyConnection) -> None:
    """The current values and the listing as the events of a schema-1 registry add them
    up to: a frozen copy of what the live code did when this migration was released (a
    released migration never calls code that may change later)."""
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
    con.execute(
        """
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
        SELECT m.id, m.name, m.version, m.type, m.uri, m.creation_time, m.creation_role,
               m.creation_context, m.creation_environment_spec, m.input_spec, m.output_spec,
               d.description, t.tags, x.metrics
        FROM models m
        LEFT JOIN descr d ON d.model_id = m.id
        LEFT JOIN tags t ON t.model_id = m.id
        LEFT JOIN metrics x ON x.model_id = m.id
        ORDER BY m.creation_time, m.id
        """
    )


def m003_registry_identity(con: duckdb.DuckDBPyConnection) -> None:
    """A random ID made when the registry is created (or upgraded to this schema): it is
    written into the manifest of each package the registry logs, so that `gc` removes
    only packages it can prove this registry wrote (several registries may share a
    stage). ``mlreg copy`` creates a new registry: a copy has an ID of its own."""
    con.execute(
        """
        CREATE TABLE registry_info (
            id VARCHAR PRIMARY KEY,
            created_time TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            created_by VARCHAR NOT NULL
        )
        """
    )
    con.execute("INSERT INTO registry_info (id, created_by) VALUES (CAST(uuid() AS VARCHAR), ?)", [__version__])


def m004_models_aliases(con: duckdb.DuckDBPyConnection) -> None:
    """Model-level attributes (of a model name, whatever its versions): its description,
    tags, default version and aliases, current values kept beside the events that set
    them (as ``attributes`` is for versions). No index (see ``attributes``): one row per
    (model, attribute, key), kept unique by the writer under the registry's lock.
    Existing registries have none yet: nothing to fill."""
    con.execute(
        """
        CREATE TABLE model_attributes (
            model_name VARCHAR NOT NULL,
            attribute_name VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value JSON NOT NULL,
            event_id BIGINT NOT NULL
        )
        """
    )


def m005_lookup_indexes(con: duckdb.DuckDBPyConnection) -> None:
    """Index the current values by model, ``attributes.model_id`` and ``listing.id``: a tag
    write read and rewrote them by scanning both tables (at 100,000 versions ≈ 25 ms of a
    45 ms ``set_tag``). Not unique: the writer keeps one listing row per model under the
    registry's lock, and a unique index in DuckDB refuses a key deleted and inserted again
    in one transaction."""
    con.execute("CREATE INDEX attributes_model_id ON attributes (model_id)")
    con.execute("CREATE INDEX listing_id ON listing (id)")


def m006_listing_holds_current_values(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the current description, tags and metrics in the listing row alone: every
    write of a tag updated both its ``attributes`` row and the listing's JSON (the
    batched tag write's bound was one statement too many). The listing's objects are
    written again from ``attributes`` with each value's text as its event wrote it
    (m002 built them with json_group_object, which may spell a number another way),
    keys sorted; then ``attributes``, its index and its view go."""
    con.execute(
        """
        UPDATE listing SET tags = o.tags, metrics = o.metrics
        FROM (
            SELECT model_id,
                   '{' || string_agg(CASE WHEN attribute_name = 'TAG' THEN to_json(key) || ':' || value END,
                                     ',' ORDER BY key) || '}' AS tags,
                   '{' || string_agg(CASE WHEN attribute_name = 'METRIC' THEN to_json(key) || ':' || value END,
                                     ',' ORDER BY key) || '}' AS metrics
            FROM attributes GROUP BY model_id
        ) o
        WHERE listing.id = o.model_id
        """
    )
    con.execute("DROP VIEW current_attributes")
    con.execute("DROP INDEX attributes_model_id")
    con.execute("DROP TABLE attributes")


Migration = tuple[str, Callable[[duckdb.DuckDBPyConnection], None]]
MIGRATIONS: list[Migration] = [
    ("m001_initial", m001_initial),
    ("m002_current_attributes", m002_current_attributes),
    ("m003_registry_identity", m003_registry_identity),
    ("m004_models_aliases", m004_models_aliases),
    ("m005_lookup_indexes", m005_lookup_indexes),
    ("m006_listing_holds_current_values", m006_listing_holds_current_values),
]
SCHEMA_VERSION = len(MIGRATIONS)


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name VARCHAR NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            mlreg_version VARCHAR NOT NULL
        )
        """
    )


def current_version(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> tuple[int, str | None]:
    """(schema version, mlreg version that applied it); (0, None) for a blank file."""
    prefix = f"{catalog}." if catalog else ""
    try:
        rows = con.execute(
            f"SELECT version, mlreg_version FROM {prefix}schema_migrations ORDER BY version DESC LIMIT 1"
        ).fetchall()
    except duckdb.CatalogException:
        return 0, None  # no such table: a DuckDB file that is not a registry (yet)
    return (rows[0][0], rows[0][1]) if rows else (0, None)


def _refuse_newer(version: int, by: str | None, path: Path) -> None:
    raise MlregError(
        f"registry {path} has schema version {version}, written by mlreg {by or '?'}; "
        f"this mlreg {__version__} supports up to schema {SCHEMA_VERSION}: upgrade mlreg to {by or 'a newer version'} or later"
    )


def check_current(con: duckdb.DuckDBPyConnection, path: Path, catalog: str | None = None) -> None:
    try:
        version, by = current_version(con, catalog)
    except duckdb.Error as exc:
        raise IntegrityError(f"registry file {path} is corrupt: {str(exc).splitlines()[0]}") from None
    if version > SCHEMA_VERSION:
        _refuse_newer(version, by, path)
    if version == 0:
        raise IntegrityError(f"{path} is not an mlreg registry (no schema); create one with `mlreg create`")
    if version < SCHEMA_VERSION:
        raise MlregError(
            f"registry {path} has an older schema ({version} < {SCHEMA_VERSION}); "
            "upgrade it with model_registry.create_model_registry(...) or `mlreg create`"
        )


def upgrade(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Apply every pending migration, each in its own transaction."""
    con.execute("BEGIN TRANSACTION")
    _ensure_table(con)
    con.execute("COMMIT")
    version, by = current_version(con)
    if version > SCHEMA_VERSION:
        _refuse_newer(version, by, path)
    applied = []
    for number, (name, migrate) in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migrate(con)
            con.execute(
                "INSERT INTO schema_migrations (version, name, mlreg_version) VALUES (?, ?, ?)",
                [number, name, __version__],
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        applied.append(name)
    return applied

