"""Plain typed records that cross the metadata-store boundary.

The store hands these to the layers above and takes them back; no database type (a
DuckDB row, a driver's cursor) ever crosses. JSON-valued fields that the store keeps as
JSON text (attribute values, event values) stay text here: the registry decides how to
read them (``mlreg.jsonvalue`` keeps NaN and infinities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlreg.deploy_platforms import TargetPlatform

#: the attributes whose current values the store keeps beside the events
DESCRIPTION, TAG, METRIC = "DESCRIPTION", "TAG", "METRIC"
ATTRIBUTES = (DESCRIPTION, TAG, METRIC)
#: the other kinds of event
REGISTRATION, DELETION, DEPLOYMENT, DEPLOYMENT_OPTION = "REGISTRATION", "DELETION", "DEPLOYMENT", "DEPLOYMENT_OPTION"
SET, DROP = "SET", "DROP"
#: model-level attributes (of a model NAME, whatever its versions): its description
#: (key ""), its tags, its default version (key "", value the version name), its aliases
#: (key the alias, value the version name); and the event of a rename (old and new name)
MODEL_DESCRIPTION, MODEL_TAG, DEFAULT_VERSION, ALIAS = "MODEL_DESCRIPTION", "MODEL_TAG", "DEFAULT_VERSION", "ALIAS"
MODEL_ATTRIBUTES = (MODEL_DESCRIPTION, MODEL_TAG, DEFAULT_VERSION, ALIAS)
MODEL_NAME = "MODEL_NAME"


@dataclass(frozen=True)
class ModelRow:
    """One registered model version, as the core passes it around."""

    id: str
    name: str
    version: str
    type: str
    uri: str
    manifest: dict[str, Any]
    files: dict[str, str]  # relative path -> sha256


@dataclass(frozen=True)
class NewVersion:
    """Everything a registration writes about a model version (its row, not its events)."""

    id: str
    name: str
    version: str
    type: str
    uri: str
    creation_time: datetime
    creation_role: str
    creation_context: dict[str, Any]
    environment: dict[str, Any]
    input_spec: dict[str, Any]
    output_spec: dict[str, Any]
    manifest: dict[str, Any]
    files: dict[str, str]

    def row(self) -> ModelRow:
        return ModelRow(self.id, self.name, self.version, self.type, self.uri, self.manifest, self.files)

    def json_columns(self) -> list[str]:
        """The row's JSON columns as stored: creation context, environment, input and output
        specs without spaces (as a listing prints them, so a reader without DuckDB passes
        them on as they are; ASCII, so that whatever text a path holds is storable), then
        the manifest and the files as they always were."""
        import json

        return [*(json.dumps(x, separators=(",", ":"))
                  for x in (self.creation_context, self.environment, self.input_spec, self.output_spec)),
                json.dumps(self.manifest, allow_nan=True), json.dumps(self.files)]


@dataclass(frozen=True)
class Change:
    """One change to append to the history: what the registry asks the store to record.
    Values are JSON text (None: no value)."""

    operation: str  # SET or DROP
    attribute: str  # REGISTRATION, DESCRIPTION, TAG, METRIC, DEPLOYMENT, DEPLOYMENT_OPTION, DELETION
    key: str | None = None
    old_value: str | None = None
    new_value: str | None = None


@dataclass(frozen=True)
class Event:
    """One row of the append-only history, as recorded."""

    event_id: int  # the sequence number: the order of events
    timestamp: datetime
    model_id: str | None
    model_name: str | None
    model_version: str | None
    role: str
    operation: str
    attribute: str
    key: str | None
    old_value: str | None
    new_value: str | None


@dataclass
class Deployment:
    """One deployment, as stored in the registry (or, for a temporary warehouse
    deployment, kept only in the deploying process)."""

    name: str
    model_id: str
    model_name: str
    model_version: str
    platform: TargetPlatform
    target_method: str
    signature: dict[str, Any]
    options: dict[str, Any]  # as recorded: never holds a secret
    details: dict[str, Any] = field(default_factory=dict)  # the platform's state (pid, port, url, ...)
    created_time: datetime | None = None
    role: str = ""
    permanent: bool = True

    def __getitem__(self, key: str) -> Any:
        """``deploy(...)["details"]``: the original's ``deploy`` returned a dict of these keys
        (``name``, ``platform``, ``target_method``, ``signature``, ``options``, ``details``)."""
        if key not in ("name", "platform", "target_method", "signature", "options", "details"):
            raise KeyError(key)
        return getattr(self, key)

@dataclass(frozen=True)
class ModelInfo:
    """One model (a name and every version registered under it), as the store keeps it:
    its model-level attributes, each key -> JSON text."""

    name: str
    created_time: datetime  # the registration time of its first version
    versions: tuple[str, ...]  # in registration order
    attributes: dict[str, dict[str, str]]  # MODEL_DESCRIPTION / MODEL_TAG / DEFAULT_VERSION / ALIAS -> key -> JSON

    def values(self, attribute: str) -> dict[str, str]:
        return self.attributes.get(attribute, {})


@dataclass(frozen=True)
class ModelEnds:
    """What the aliases of a model's versions follow from, without its every version:
    its first and last registered versions and its ALIAS and DEFAULT_VERSION attributes
    (key -> JSON). ``versions`` is (first, last) so that alias rules read it as a
    ModelInfo's."""

    name: str
    first: str
    last: str
    attributes: dict[str, dict[str, str]]  # ALIAS / DEFAULT_VERSION -> key -> JSON

    @property
    def versions(self) -> tuple[str, ...]:
        return (self.first, self.last)

    def values(self, attribute: str) -> dict[str, str]:
        return self.attributes.get(attribute, {})
