"""Description, tags and metrics: the seed's fifteen methods, relational form.

Every change is an event; the current value is derived from the events (the
``current_attributes`` view), so there is one source of truth.
"""

from __future__ import annotations

import json
from typing import Any

from mlreg import jsonvalue
from mlreg.errors import NotFound
from mlreg.names import validate_key, validate_tag_value
from mlreg.store import attributes

TAG, METRIC, DESCRIPTION = "TAG", "METRIC", "DESCRIPTION"


class MetadataMixin:
    """Relies on ``_model_row``, ``_store`` and ``_record`` of the registry."""

    # -- reading ---------------------------------------------------------------------
    def _attributes(self, model_name: str, model_version: str, attribute: str) -> dict[str, Any]:
        with self._store.read() as con:
            row = self._model_row(con, model_name, model_version)
            rows = con.execute(
                "SELECT key, value FROM current_attributes WHERE model_id = ? AND attribute_name = ? ORDER BY key",
                [row.id, attribute],
            ).fetchall()
        return {k: jsonvalue.loads(v) for k, v in rows}

    def _missing(self, model_name: str, model_version: str, what: str, key: str, present: dict) -> NotFound:
        listing = json.dumps(sorted(present)) if present else "none"
        return NotFound(
            f"Model {model_name}/{model_version} has no {what} named {key}. Full list of {what}s: {listing}"
        )

    # -- description -------------------------------------------------------------------
    def get_model_description(self, model_name: str, model_version: str) -> str | None:
        """The model's description (None when it has none)."""
        return self._attributes(model_name, model_version, DESCRIPTION).get("")

    def set_model_description(self, model_name: str, model_version: str, description: str) -> None:
        """Set (replace) the model's description."""
        if not isinstance(description, str):
            from mlreg.errors import InvalidInput

            raise InvalidInput(f"description must be a string, not {type(description).__name__}")
        self._set_attribute(model_name, model_version, DESCRIPTION, "", json.dumps(description))

    # -- tags ----------------------------------------------------------------------------
    def get_tags(self, model_name: str, model_version: str) -> dict[str, str]:
        """All tags of the model, as a dict of str to str."""
        return self._attributes(model_name, model_version, TAG)

    def get_tag_value(self, model_name: str, model_version: str, tag_name: str) -> str:
        """The value of one tag; NotFound (listing the tags there are) when it is absent."""
        tags = self.get_tags(model_name, model_version)
        if tag_name not in tags:
            raise self._missing(model_name, model_version, "tag", tag_name, tags)
        return tags[tag_name]

    def has_tag(self, model_name: str, model_version: str, tag_name: str, tag_value: str | None = None) -> bool:
        """True when the model has the tag (with that value, if one is given)."""
        tags = self.get_tags(model_name, model_version)
        return tag_name in tags and (tag_value is None or tags[tag_name] == str(tag_value))

    def set_tag(self, model_name: str, model_version: str, tag_name: str, tag_value: str) -> None:
        """Set a tag, creating it if necessary."""
        validate_key(tag_name, "tag name")
        value = validate_tag_value(tag_value, tag_name)
        self._set_attribute(model_name, model_version, TAG, tag_name, json.dumps(value, ensure_ascii=False))

    def remove_tag(self, model_name: str, model_version: str, tag_name: str) -> None:
        """Remove a tag; NotFound (listing the tags there are) when it is absent."""
        self._drop_attribute(model_name, model_version, TAG, tag_name, "tag")

    # -- metrics --------------------------------------------------------------------------
    def get_metrics(self, model_name: str, model_version: str) -> dict[str, Any]:
        """All metrics of the model, as a dict of name to JSON value."""
        return self._attributes(model_name, model_version, METRIC)

    def get_metric_value(self, model_name: str, model_version: str, metric_name: str) -> Any:
        """The value of one metric; NotFound (listing the metrics there are) when it is absent."""
        metrics = self.get_metrics(model_name, model_version)
        if metric_name not in metrics:
            raise self._missing(model_name, model_version, "metric", metric_name, metrics)
        return metrics[metric_name]

    def has_metric(self, model_name: str, model_version: str, metric_name: str) -> bool:
        """True when the model has the metric."""
        return metric_name in self.get_metrics(model_name, model_version)

    def set_metric(self, model_name: str, model_version: str, metric_name: str, metric_value: Any) -> None:
        """Set a metric (a scalar, dict, list or numpy array), creating it if necessary."""
        validate_key(metric_name, "metric name")
        self._set_attribute(model_name, model_version, METRIC, metric_name, jsonvalue.dumps(metric_value))

    def remove_metric(self, model_name: str, model_version: str, metric_name: str) -> None:
        """Remove a metric; NotFound (listing the metrics there are) when it is absent."""
        self._drop_attribute(model_name, model_version, METRIC, metric_name, "metric")

    # -- writing ----------------------------------------------------------------------------
    def _set_attribute(self, model_name: str, model_version: str, attribute: str, key: str, value: str) -> None:
        with self._store.write() as con:
            row = self._model_row(con, model_name, model_version)
            values = attributes.current(con, row.id, attribute)
            self._record(con, row, "SET", attribute, key, values.get(key), value, values)

    def _drop_attribute(self, model_name: str, model_version: str, attribute: str, key: str, what: str) -> None:
        with self._store.write() as con:
            row = self._model_row(con, model_name, model_version)
            values = attributes.current(con, row.id, attribute)
            if key not in values:
                raise self._missing(model_name, model_version, what, key, values)
            self._record(con, row, "DROP", attribute, key, values[key], None, values)
