"""Description, tags and metrics: the seed's fifteen methods, relational form.

Every change is one event in the store's history, with the value it replaces; the
store keeps the current values those events add up to.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from mlreg import jsonvalue
from mlreg.errors import InvalidInput, NotFound
from mlreg.names import validate_key, validate_tag_value, validate_text
from mlreg.records import DESCRIPTION, METRIC, TAG
from mlreg.registry.core import RegistryCore


class Metadata:
    """The description, tags and metrics of model versions."""

    def __init__(self, core: RegistryCore):
        self._core = core

    # -- reading ---------------------------------------------------------------------
    def attributes(self, model_name: str, model_version: str, attribute: str) -> dict[str, Any]:
        with self._core.read() as reader:
            row = self._core.row(reader, model_name, model_version)
            values = reader.attributes(row.id, attribute)
        return {k: jsonvalue.loads(v) for k, v in values.items()}

    @staticmethod
    def missing(model_name: str, model_version: str, what: str, key: str, present: dict) -> NotFound:
        listing = json.dumps(sorted(present)) if present else "none"
        return NotFound(f"Model {model_name}/{model_version} has no {what} named {key}. Full list of {what}s: {listing}")

    def description(self, model_name: str, model_version: str) -> str | None:
        return self.attributes(model_name, model_version, DESCRIPTION).get("")

    def value(self, model_name: str, model_version: str, attribute: str, key: str) -> Any:
        values = self.attributes(model_name, model_version, attribute)
        if key not in values:
            raise self.missing(model_name, model_version, attribute.lower(), key, values)
        return values[key]

    # -- writing ---------------------------------------------------------------------
    def set_description(self, model_name: str, model_version: str, description: str) -> None:
        validate_text(description, "description")
        self.set(model_name, model_version, DESCRIPTION, "", json.dumps(description))

    def set_tag(self, model_name: str, model_version: str, tag_name: str, tag_value: Any) -> None:
        validate_key(tag_name, "tag name")
        value = validate_tag_value(tag_value, tag_name)
        self.set(model_name, model_version, TAG, tag_name, json.dumps(value, ensure_ascii=False))

    def set_metric(self, model_name: str, model_version: str, metric_name: str, metric_value: Any) -> None:
        validate_key(metric_name, "metric name")
        self.set(model_name, model_version, METRIC, metric_name, jsonvalue.dumps(metric_value))

    def set_tags(self, model_name: str, model_version: str, tags: Mapping[str, Any]) -> None:
        values = self._pairs(tags, "tags")
        self.set_many(model_name, model_version, TAG, {
            validate_key(k, "tag name"): json.dumps(validate_tag_value(v, k), ensure_ascii=False)
            for k, v in values.items()})

    def set_metrics(self, model_name: str, model_version: str, metrics: Mapping[str, Any]) -> None:
        values = self._pairs(metrics, "metrics")
        self.set_many(model_name, model_version, METRIC, {
            validate_key(k, "metric name"): jsonvalue.dumps(v) for k, v in values.items()})

    @staticmethod
    def _pairs(values: Any, what: str) -> dict[str, Any]:
        if not isinstance(values, Mapping):
            raise InvalidInput(f"{what} must be a mapping of name to value, not {type(values).__name__}")
        if not values:
            raise InvalidInput(f"{what} must not be empty")
        return dict(values)

    def set_many(self, model_name: str, model_version: str, attribute: str, values: dict[str, str]) -> None:
        """Every key in one unit of work, one event each (in the mapping's order)."""
        with self._core.write() as writer:
            row = self._core.row(writer, model_name, model_version)
            writer.set_attributes(row, attribute, values)

    def set(self, model_name: str, model_version: str, attribute: str, key: str, value: str) -> None:
        with self._core.write() as writer:
            row = self._core.row(writer, model_name, model_version)
            writer.set_attribute(row, attribute, key, value)

    def remove(self, model_name: str, model_version: str, attribute: str, key: str) -> None:
        with self._core.write() as writer:
            row = self._core.row(writer, model_name, model_version)
            if not writer.remove_attribute(row, attribute, key):
                raise self.missing(model_name, model_version, attribute.lower(), key, writer.attributes(row.id, attribute))
