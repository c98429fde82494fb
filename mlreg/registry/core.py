"""What the parts of a registry share: its session, name, store, stage and clock, and
the lookup of a model version by name."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from mlreg.errors import NotFound
from mlreg.names import validate_name
from mlreg.records import ModelRow
from mlreg.session import Session
from mlreg.store import MetadataStore, StoreReader, StoreWriter

if TYPE_CHECKING:
    from mlreg.deploy.base import PlatformContext
    from mlreg.runtime.spec import PackageSpec
    from mlreg.stage import Stage


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def not_found(model_name: str, model_version: str) -> NotFound:
    return NotFound(f"The model {model_name}/{model_version} does not exist in the current registry.")


class RegistryCore:
    """One registry's shared state. Holds no connection: the store opens one per operation."""

    def __init__(self, session: Session, database: str, store: MetadataStore,
                 clock: Callable[[], datetime] | None = None, schema: str | None = None):
        from mlreg.store.location import PUBLIC, registry_name

        self.session = session
        self.database = database
        self.schema = schema or PUBLIC
        #: ``DATABASE`` or ``DATABASE/SCHEMA``: what keys the registry's stage folder and local state
        self.registry_name = registry_name(database, self.schema)
        self.store = store
        self.clock = clock or utc_now
        self._stage: "Stage | None" = None

    @property
    def url(self) -> str:
        """The registry's store URL: what names it in messages and caches."""
        return self.store.url

    @property
    def stage(self) -> "Stage":
        if self._stage is None:
            from mlreg.stage import open_stage

            self._stage = open_stage(self.session.stage, self.registry_name, self.session.stage_options)
        return self._stage

    def read(self) -> AbstractContextManager[StoreReader]:
        return self.store.read()

    def write(self) -> AbstractContextManager[StoreWriter]:
        """One unit of work, its events stamped with the session's role and the time now."""
        return self.store.write(self.session.role, self.clock())

    def row(self, reader: StoreReader, model_name: str, model_version: str) -> ModelRow:
        """The version of that name, or the version an alias of the model names (its own,
        or DEFAULT, FIRST, LAST: see :func:`mlreg.registry.aliases.resolve`); NotFound,
        in the seed's words, when neither."""
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        row = reader.version(model_name, model_version)
        if row is None:
            from mlreg.registry.aliases import resolve

            info = reader.model(model_name)
            named = resolve(info, model_version) if info is not None else None
            row = reader.version(model_name, named) if named is not None else None
        if row is None:
            raise not_found(model_name, model_version)
        return row

    def resolve(self, model_name: str, model_version: str) -> ModelRow:
        """Validate the names, then read the version (NotFound when absent)."""
        validate_name(model_name, "model name")  # before opening anything
        validate_name(model_version, "model version")
        with self.read() as reader:
            return self.row(reader, model_name, model_version)

    def package(self, row: ModelRow) -> "PackageSpec":
        from mlreg.runtime.spec import PackageSpec

        return PackageSpec.of(row, self.session.stage, self.registry_name, self.session.stage_options)

    def platform_context(self) -> "PlatformContext":
        from mlreg.deploy.base import PlatformContext

        return PlatformContext(registry=self.url, database=self.registry_name, stage=self.session.stage,
                               home=self.session.state_dir, stage_options=self.session.stage_options)
