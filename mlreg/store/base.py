"""The metadata-store interface: what the registry may ask of where its metadata lives.

A store holds one registry: its model versions, the append-only history of every change,
the current description/tags/metrics those events add up to, and deployment records.
The registry talks to it only through these named operations and the records of
``mlreg.records``: no SQL text and no connection object above this layer.

- :meth:`MetadataStore.read` gives a :class:`StoreReader` for a consistent read;
- :meth:`MetadataStore.write` gives a :class:`StoreWriter`: one unit of work, committed
  when the block ends normally and rolled back otherwise, every event stamped with the
  role and time the unit of work was opened with;
- :meth:`MetadataStore.list_versions` and :meth:`MetadataStore.history` give lazy DuckDB
  relations over a private copy of the data (they hold nothing open on the store);
  :meth:`MetadataStore.scan_versions` / :meth:`MetadataStore.scan_history` read in place
  for one query (what the command line does), with the simple filters pushed down;
- in-flight markers tell ``gc`` which packages are still being published, whichever
  machine publishes them.

Backends: ``mlreg.store.duckdb`` (a DuckDB file per registry, the default).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlreg.errors import MlregError
from mlreg.records import Change, Deployment, Event, ModelEnds, ModelInfo, ModelRow, NewVersion

if TYPE_CHECKING:
    import duckdb

    #: what frame results are: a lazy DuckDB relation
    Relation = duckdb.DuckDBPyRelation

#: the columns of ``list_models()``, in order
VERSION_COLUMNS = (
    "ID", "NAME", "VERSION", "TYPE", "URI", "CREATION_TIME", "CREATION_ROLE", "CREATION_CONTEXT",
    "CREATION_ENVIRONMENT_SPEC", "DESCRIPTION", "TAGS", "METRICS", "INPUT_SPEC", "OUTPUT_SPEC",
)
#: the columns of ``get_history()``, in order
HISTORY_COLUMNS = (
    "EVENT_TIMESTAMP", "EVENT_ID", "MODEL_ID", "MODEL_NAME", "MODEL_VERSION", "ROLE", "OPERATION",
    "ATTRIBUTE_NAME", "KEY", "OLD_VALUE", "NEW_VALUE",
)

DEFAULT_LOCK_TIMEOUT = 30.0
MAX_LOCK_TIMEOUT = 86400.0 * 365  # a year: larger values overflow the OS's timeouts


def lock_timeout() -> float:
    """How long a store waits for its lock (or a busy database) before giving up:
    MLREG_LOCK_TIMEOUT seconds, default 30."""
    raw = os.environ.get("MLREG_LOCK_TIMEOUT")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise MlregError(f"MLREG_LOCK_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value > MAX_LOCK_TIMEOUT:
        raise MlregError(
            f"MLREG_LOCK_TIMEOUT must be a finite number of seconds (at most {MAX_LOCK_TIMEOUT:g}), not {raw!r}")
    return max(value, 0.0)


def exported_version(row: Any) -> NewVersion:
    """A version as every backend exports it: the ``models`` columns id, name, version, type,
    uri, creation_time, creation_role, then the JSON texts creation_context,
    creation_environment_spec, input_spec, output_spec, manifest and files."""
    context, environment, inputs, outputs = (json.loads(x) if x else {} for x in row[7:11])
    return NewVersion(row[0], row[1], row[2], row[3], row[4], row[5], row[6], context, environment, inputs, outputs,
                      json.loads(row[11]), json.loads(row[12]))


@dataclass(frozen=True)
class VersionFilter:
    """Filters a store applies itself when it lists versions: equality on the name and
    on tag values (the key-value pairs must all match)."""

    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TextRows:
    """Rows of a listing as the command line prints them, read without a relation: cells are
    text or None, JSON cells in the form DuckDB's ``json()`` writes (``jsonvalue.canonical``),
    timestamps as UTC text ``YYYY-MM-DDTHH:MM:SS.ffffff``."""

    columns: tuple[str, ...]
    rows: list[tuple[str | None, ...]]
    json_columns: frozenset[str]
    utc_columns: frozenset[str]


class StoreReader(ABC):
    """Reads within one consistent view of the store."""

    @abstractmethod
    def version(self, name: str, version: str) -> ModelRow | None:
        """The model version of that name and version, or None."""

    @abstractmethod
    def version_ids(self) -> set[str]:
        """The IDs of every registered model version."""

    @abstractmethod
    def versions(self) -> list[ModelRow]:
        """Every registered model version, ordered by name and version (their manifests
        left empty: a cheap listing for checks such as ``verify``)."""

    @abstractmethod
    def listing_row(self, model_id: str) -> dict[str, Any]:
        """The ``list_models()`` row of one model version: column name -> value, JSON
        columns as JSON text."""

    @abstractmethod
    def attributes(self, model_id: str, attribute: str) -> dict[str, str]:
        """Current values of one attribute (DESCRIPTION, TAG or METRIC) of a version:
        key -> JSON text, sorted by key."""

    @abstractmethod
    def deployment(self, name: str) -> Deployment | None:
        """The recorded deployment of that name, or None."""

    @abstractmethod
    def deployments(self, model_id: str | None = None, platform: str | None = None) -> list[Deployment]:
        """Recorded deployments (of one model version, of one platform), ordered by name."""

    # -- models: a name and its versions, with model-level attributes ------------------------
    @abstractmethod
    def models(self, name: str | None = None) -> list[ModelInfo]:
        """Every model (or the one of that name; [] when it has no version), in the order of
        their first registration, each with its versions in registration order and its
        model-level attributes (MODEL_DESCRIPTION, MODEL_TAG, DEFAULT_VERSION, ALIAS)."""

    @abstractmethod
    def model_ends(self, names: Sequence[str]) -> list[ModelEnds]:
        """The first and last versions, aliases and default version of each model named
        that has a version (in no particular order): what the aliases of a listing's rows
        need, without reading every version of every model."""

    def model(self, name: str) -> ModelInfo | None:
        """The model of that name, or None when no version is registered under it."""
        found = self.models(name)
        return found[0] if found else None

    # -- whole-registry reads (what `mlreg copy` reads) --------------------------------------
    @abstractmethod
    def export_versions(self) -> list[NewVersion]:
        """Every registered version with every field as registered, in registration order."""

    @abstractmethod
    def events(self) -> list[Event]:
        """Every event of the history, in order."""


class StoreWriter(StoreReader):
    """One unit of work. Reads see its own writes; nothing is visible to others (and
    nothing is kept) unless the block that opened it ends normally."""

    @abstractmethod
    def register(self, version: NewVersion, changes: list[Change]) -> None:
        """Register a model version with the events of its registration: a REGISTRATION
        change first, then its description, tags and metrics (SET changes). Raises
        :class:`mlreg.errors.AlreadyExists` when that name and version are registered."""

    @abstractmethod
    def set_attribute(self, row: ModelRow, attribute: str, key: str, value: str) -> None:
        """Set one description, tag or metric (JSON text), recording the event with the
        value it replaces."""

    @abstractmethod
    def set_attributes(self, row: ModelRow, attribute: str, pairs: Mapping[str, str]) -> None:
        """Set several keys of one attribute (TAG or METRIC; key -> JSON text) in this
        unit of work: one event per key, in the order given, each with the value it
        replaces, as that many ``set_attribute`` calls would record them."""

    @abstractmethod
    def remove_attribute(self, row: ModelRow, attribute: str, key: str) -> bool:
        """Remove one tag or metric, recording the event; False (nothing written) when
        the version has no such key."""

    @abstractmethod
    def record(self, row: ModelRow, change: Change) -> None:
        """Append one event about a model version that changes no current attribute
        (deployments and their options)."""

    @abstractmethod
    def delete_version(self, row: ModelRow, delete_artifact: bool) -> list[str]:
        """Remove a model version and its deployment records, recording a DROP event per
        deployment and the DELETION; its history stays. The aliases and the default
        version that named it go too (a DROP event each); with the last version of a
        model, its model-level attributes go (a DROP event each). Returns the deployments
        removed."""

    @abstractmethod
    def add_deployment(self, deployment: Deployment, changes: list[Change]) -> None:
        """Record a deployment (its name must be free) and the events that go with it."""

    @abstractmethod
    def remove_deployment(self, name: str, changes: list[Change]) -> None:
        """Remove a deployment record, with the events that go with it (about the model
        version it belonged to, when that still exists)."""

    # -- model-level attributes -------------------------------------------------------------
    @abstractmethod
    def set_model_attribute(self, name: str, attribute: str, key: str, value: str,
                            about: ModelRow | None = None) -> None:
        """Set one model-level attribute (JSON text) of the model ``name``, recording the
        event with the value it replaces (model ID and version of the event: those of
        ``about``, the version an alias or default now names, else none). The caller
        checks the model exists and what the value may be (an alias names one version)."""

    @abstractmethod
    def remove_model_attribute(self, name: str, attribute: str, key: str, about: ModelRow | None = None) -> bool:
        """Remove one model-level attribute, recording the event; False (nothing written)
        when the model has no such key."""

    @abstractmethod
    def rename_model(self, name: str, new_name: str) -> None:
        """Rename a model: every version, its deployment records and model-level
        attributes move to ``new_name``, with one MODEL_NAME event (old and new name); the
        events already recorded keep the name they were written with. AlreadyExists when
        a version is registered under ``new_name``; NotFound when none is under ``name``."""

    def lock_model(self, name: str) -> None:
        """Hold, until this unit of work ends, the lock that makes writers of the model
        ``name``'s aliases take turns: what makes a promotion's read-check-write a
        compare-and-set. Nothing to do for a store whose writer is exclusive already
        (the DuckDB file); PostgreSQL takes a transaction-scoped advisory lock."""

    # -- whole-registry writes (what `mlreg copy` writes) ------------------------------------
    @abstractmethod
    def import_version(self, version: NewVersion | None, events: list[Event], deployments: list[Deployment],
                       keep_event_ids: bool) -> None:
        """Add a version copied from another registry, as it was there: its row (None for a
        version deleted there, of which only the history is copied), its events (with
        their sequence numbers when ``keep_event_ids``, else numbered after the last event
        here, in order), the current values they add up to, and its deployment records."""

    @abstractmethod
    def import_model_attributes(self, name: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        """Set model-level attributes copied from another registry (attribute -> key ->
        JSON text), as they are there, recording no event: the events that set them are
        copied with the history. Keys not given keep their values."""

    @abstractmethod
    def sync_event_ids(self) -> None:
        """Make the next event number follow the highest one present (after imports that
        kept their numbers)."""


class MetadataStore(ABC):
    """Where one registry's metadata lives."""

    #: what names this registry in messages, caches and deployment records; never holds a secret
    url: str

    @abstractmethod
    def exists(self) -> bool:
        """Whether the registry has been created."""

    @abstractmethod
    def create_or_upgrade(self) -> tuple[bool, list[str]]:
        """Create the registry, or apply the migrations an older one lacks.
        Returns (created, names of the migrations applied)."""

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the registry."""

    @abstractmethod
    def registry_id(self) -> str:
        """The registry's identity: a random ID (UUID text) made when it was created, never
        changed, never shared by a copy. Each package the registry logs records it in its
        manifest; ``gc`` removes only packages that carry it."""

    @abstractmethod
    def read(self) -> AbstractContextManager[StoreReader]:
        """A consistent read."""

    @abstractmethod
    def write(self, role: str, now: datetime) -> AbstractContextManager[StoreWriter]:
        """One unit of work; its events are stamped with ``role`` and ``now``."""

    @abstractmethod
    def batch(self) -> AbstractContextManager[None]:
        """For the length of the block, keep between this process's units of work what can
        be kept (a DuckDB file stays attached; see ``mlreg.store.duckdb.file``), without
        holding the registry's lock between them. Each unit of work still commits alone."""

    def reading(self) -> AbstractContextManager[None]:
        """For the length of the block, this thread's reads share what can be shared: on a
        DuckDB file one shared lock and one attachment, so they also see one state of the
        registry (a server store reads each in its own transaction). No writes inside."""
        return nullcontext()

    @abstractmethod
    def list_versions(self) -> "duckdb.DuckDBPyRelation":
        """Every model version, in registration order, as a lazy relation over a private
        copy of the data (holding nothing open on the store)."""

    @abstractmethod
    def history(self, model_id: str | None = None) -> "duckdb.DuckDBPyRelation":
        """Every event (of one model version), in order, as a lazy relation over a private copy."""

    @abstractmethod
    def scan_versions(self, where: VersionFilter | None = None) -> AbstractContextManager["duckdb.DuckDBPyRelation"]:
        """``list_versions()`` filtered by the store itself and read in place, for one
        query fetched inside the block: no copy; the relation is unusable after it."""

    @abstractmethod
    def listing_text(self, where: VersionFilter, columns: Sequence[str], limit: int | None) -> TextRows:
        """The ``columns`` (of VERSION_COLUMNS) of the versions ``where`` selects, in
        registration order, at most ``limit``, as text: what ``scan_versions`` fetched for
        printing gives, in one query, without a relation (a server store: without
        starting DuckDB)."""

    @abstractmethod
    def scan_history(self, ordered: bool = True) -> AbstractContextManager["duckdb.DuckDBPyRelation"]:
        """``history()`` read in place for one query fetched inside the block; with
        ``ordered=False`` in whatever order is cheapest (for a query that aggregates it:
        sorting a million events costs a sixth of such a query)."""

    @abstractmethod
    def inflight(self, package_id: str) -> AbstractContextManager[None]:
        """Mark a package as being published for the length of the block, so that ``gc``
        (in any process, on any machine using this store) leaves it alone."""

    @abstractmethod
    def is_inflight(self, package_id: str) -> bool:
        """Whether a publication of that package is under way."""

    @abstractmethod
    def clear_stale_inflight(self) -> None:
        """Forget the markers of publications whose process died."""
