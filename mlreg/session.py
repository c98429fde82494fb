"""The Session: where registries live (home), where packages go (stage), who acts (role).

Mirrors the seed: ``Session.builder.configs(login_options()).create()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mlreg import config
from mlreg.names import validate_name


def login_options(connection_name: str | None = None) -> dict[str, Any]:
    """Settings of the default (or a named) connection, resolved from every source.

    The counterpart of the seed's ``SnowflakeLoginOptions``.
    """
    return config.resolve(connection=connection_name).as_options()


class Session:
    """Resolved connection settings. ``stage_options`` may hold secrets and is never shown."""

    def __init__(self, settings: config.Settings):
        validate_name(settings.database, "database name")
        self._settings = settings

    @property
    def settings(self) -> config.Settings:
        return self._settings

    @property
    def home(self) -> Path:
        return self._settings.home

    @property
    def stage(self) -> str:
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

    def store_url(self, database_name: str | None = None) -> str:
        """Where the registry ``database_name`` keeps its metadata (see ``mlreg.store.open_store``)."""
        from mlreg.store import store_url

        return store_url(self.home, validate_name(database_name or self.database, "database name"))

    def __repr__(self) -> str:
        return f"Session(home={str(self.home)!r}, stage={self.stage!r}, role={self.role!r})"

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
            unknown = set(opts) - {"home", "stage", "database", "role", "stage_options"}
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
) -> Session:
    """Shortcut: a session from explicit settings, the rest resolved as usual."""
    overrides: dict[str, Any] = {
        "home": str(home) if home is not None else None,
        "stage": str(stage) if stage is not None else None,
        "database": database,
        "role": role,
    }
    if stage_options:
        overrides["stage_options"] = dict(stage_options)
    return Session(config.resolve(overrides=overrides, connection=connection))
