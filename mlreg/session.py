"""The Session: where registries live (home), where packages go (stage), who acts (role).

Mirrors the seed: ``Session.builder.configs(login_options()).create()``.

A home is a directory (a DuckDB file per registry) or a PostgreSQL URL (a schema per
registry, shared by every machine that reaches the server). The password of a
PostgreSQL home stays inside the session: ``home`` and every URL it hands out are
without it; :meth:`Session.open_store` passes it to the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from mlreg import config
from mlreg.names import validate_name

if TYPE_CHECKING:
    from mlreg.store import MetadataStore


def login_options(connection_name: str | None = None) -> dict[str, Any]:
    """Settings of the default (or a named) connection, resolved from every source.

    The counterpart of the seed's ``SnowflakeLoginOptions``.
    """
    return config.resolve(connection=connection_name).as_options()


class Session:
    """Resolved connection settings. ``stage_options`` may hold secrets and is never shown."""

    def __init__(self, settings: config.Settings):
        validate_name(settings.database, "database name")
        validate_name(settings.schema, "schema name")
        self._settings = settings

    @property
    def settings(self) -> config.Settings:
        return self._settings

    @property
    def home(self) -> Path | str:
        """A directory, or a PostgreSQL URL (without its password)."""
        return self._settings.home

    @property
    def state_dir(self) -> Path:
        """Where this machine keeps local state for the home (services' state files): the
        home itself when it is a directory, else a directory of this machine's
        (``$XDG_STATE_HOME/mlreg/postgresql/...``)."""
        return self._settings.state_dir or Path(self._settings.home)

    @property
    def stage(self) -> str:
        """Where packages go. A PostgreSQL home has no default stage: every machine must
        read what any of them logs, so the stage must be named (InvalidInput if not)."""
        if not self._settings.stage:
            from mlreg.errors import InvalidInput

            raise InvalidInput(
                f"registry home {self._settings.home} is a PostgreSQL database shared by machines, and no stage is "
                "set: packages must go where every machine can read them; set --stage, MLREG_STAGE or stage = "
                "\"...\" in the connection (e.g. s3://bucket/prefix, or a directory every machine mounts)")
        return self._settings.stage

    @property
    def stage_options(self) -> Mapping[str, Any]:
        return self._settings.stage_options

    @property
    def role(self) -> str:
        return self._settings.role

    @property
    def database(self) -> str:
        return self._settings.database

    @property
    def schema(self) -> str:
        """The schema of the database (default PUBLIC): each schema is a separate registry."""
        return self._settings.schema

    def registry_name(self, database_name: str | None = None, schema_name: str | None = None) -> str:
        """The registry of (database, schema): ``DATABASE``, or ``DATABASE/SCHEMA`` for a
        schema other than PUBLIC (see ``mlreg.store.location.registry_name``)."""
        from mlreg.store.location import registry_name

        return registry_name(database_name or self.database, schema_name or self.schema)

    def store_url(self, database_name: str | None = None, schema_name: str | None = None) -> str:
        """Where the registry (``database_name``, ``schema_name``) keeps its metadata (see
        ``mlreg.store.open_store``); the session's database and schema by default."""
        from mlreg.store import store_url

        return store_url(self.home, validate_name(database_name or self.database, "database name"),
                         validate_name(schema_name or self.schema, "schema name"))

    def open_store(self, database_name: str | None = None, schema_name: str | None = None) -> "MetadataStore":
        """The metadata store of the registry (``database_name``, ``schema_name``) (with the home's password)."""
        from mlreg.store import open_store

        return open_store(self.store_url(database_name, schema_name), password=self._settings.home_password)

    def __repr__(self) -> str:
        return f"Session(home={str(self.home)!r}, stage={self._settings.stage!r}, role={self.role!r})"

    class _Builder:
        def __init__(self) -> None:
            self._options: dict[str, Any] = {}

        def configs(self, options: Mapping[str, Any]) -> "Session._Builder":
            self._options.update(options)
            return self

        def config(self, key: str, value: Any) -> "Session._Builder":
            self._options[key] = value
            return self

        def create(self) -> "Session":
            opts = dict(self._options)
            connection = opts.pop("connection", None)
            unknown = set(opts) - {"home", "stage", "database", "schema", "role", "stage_options"}
            if unknown:
                from mlreg.errors import InvalidInput

                raise InvalidInput(f"unknown session option(s): {', '.join(sorted(unknown))}")
            return Session(config.resolve(overrides=opts, connection=connection))

    class _BuilderDescriptor:
        def __get__(self, obj: object, owner: type) -> "Session._Builder":
            return Session._Builder()

    builder = _BuilderDescriptor()


def connect(
    home: str | Path | None = None,
    stage: str | None = None,
    database: str | None = None,
    role: str | None = None,
    connection: str | None = None,
    stage_options: Mapping[str, Any] | None = None,
    schema: str | None = None,
) -> Session:
    """Shortcut: a session from explicit settings, the rest resolved as usual."""
    overrides: dict[str, Any] = {
        "home": str(home) if home is not None else None,
        "stage": str(stage) if stage is not None else None,
        "database": database,
        "schema": schema,
        "role": role,
    }
    if stage_options:
        overrides["stage_options"] = dict(stage_options)
    return Session(config.resolve(overrides=overrides, connection=connection))
