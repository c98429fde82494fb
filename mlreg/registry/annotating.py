"""The registry's methods of a version's description, tags and metrics and a model's
aliases and default version (a part of :class:`~mlreg.registry.registry.ModelRegistry`,
relational like the rest: pass model_name and model_version). A mixin so that
registry.py stays readable; the work is done by its ``Metadata`` and ``Models`` parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from mlreg.records import METRIC, TAG

if TYPE_CHECKING:
    from mlreg.registry.metadata import Metadata
    from mlreg.registry.models import Models


class MetadataMethods:
    """What ModelRegistry does with descriptions, tags, metrics and aliases (its
    ``_metadata`` and ``_models``)."""

    _metadata: Metadata
    _models: Models

    # -- description ------------------------------------------------------------------------
    def get_model_description(self, model_name: str, model_version: str) -> str | None:
        """The model's description (None when it has none)."""
        return self._metadata.description(model_name, model_version)

    def set_model_description(self, model_name: str, model_version: str, description: str) -> None:
        """Set (replace) the model's description."""
        self._metadata.set_description(model_name, model_version, description)

    # -- tags ---------------------------------------------------------------------------------
    def get_tags(self, model_name: str, model_version: str) -> dict[str, str]:
        """All tags of the model, as a dict of str to str."""
        return self._metadata.attributes(model_name, model_version, TAG)

    def get_tag_value(self, model_name: str, model_version: str, tag_name: str) -> str:
        """The value of one tag; NotFound (listing the tags there are) when it is absent."""
        return self._metadata.value(model_name, model_version, TAG, tag_name)

    def has_tag(self, model_name: str, model_version: str, tag_name: str, tag_value: str | None = None) -> bool:
        """True when the model has the tag (with that value, if one is given)."""
        tags = self.get_tags(model_name, model_version)
        return tag_name in tags and (tag_value is None or tags[tag_name] == str(tag_value))

    def set_tag(self, model_name: str, model_version: str, tag_name: str, tag_value: str) -> None:
        """Set a tag, creating it if necessary."""
        self._metadata.set_tag(model_name, model_version, tag_name, tag_value)

    def set_tags(self, model_name: str, model_version: str, tags: Mapping[str, str]) -> None:
        """Set several tags at once: one transaction, one history event per tag (in the
        mapping's order). Nothing is written unless every name and value is valid."""
        self._metadata.set_tags(model_name, model_version, tags)

    def remove_tag(self, model_name: str, model_version: str, tag_name: str) -> None:
        """Remove a tag; NotFound (listing the tags there are) when it is absent."""
        self._metadata.remove(model_name, model_version, TAG, tag_name)

    # -- metrics ------------------------------------------------------------------------------
    def get_metrics(self, model_name: str, model_version: str) -> dict[str, Any]:
        """All metrics of the model, as a dict of name to JSON value."""
        return self._metadata.attributes(model_name, model_version, METRIC)

    def get_metric_value(self, model_name: str, model_version: str, metric_name: str) -> Any:
        """The value of one metric; NotFound (listing the metrics there are) when it is absent."""
        return self._metadata.value(model_name, model_version, METRIC, metric_name)

    def has_metric(self, model_name: str, model_version: str, metric_name: str) -> bool:
        """True when the model has the metric."""
        return metric_name in self.get_metrics(model_name, model_version)

    def set_metric(self, model_name: str, model_version: str, metric_name: str, metric_value: Any) -> None:
        """Set a metric (a scalar, dict, list or numpy array), creating it if necessary."""
        self._metadata.set_metric(model_name, model_version, metric_name, metric_value)

    def set_metrics(self, model_name: str, model_version: str, metrics: Mapping[str, Any]) -> None:
        """Set several metrics at once: one transaction, one history event per metric (in
        the mapping's order). Nothing is written unless every name and value is valid."""
        self._metadata.set_metrics(model_name, model_version, metrics)

    def remove_metric(self, model_name: str, model_version: str, metric_name: str) -> None:
        """Remove a metric; NotFound (listing the metrics there are) when it is absent."""
        self._metadata.remove(model_name, model_version, METRIC, metric_name)

    # -- aliases and default versions (not in the seed) -------------------------------------
    def set_alias(self, model_name: str, alias: str, model_version: str) -> str:
        """Point ``alias`` (case-insensitive, kept upper-cased) at a version of the model
        (a version name or an alias); it moves from any other version. Returns the
        version name. Anywhere a model version is taken, an alias may be given instead."""
        return self._models.set_alias(model_name, alias, model_version)

    def unset_alias(self, model_name: str, alias: str) -> str:
        """Remove an alias of the model; returns the version it named."""
        return self._models.unset_alias(model_name, alias)

    def get_aliases(self, model_name: str) -> dict[str, str]:
        """The aliases set on the model: alias -> version name (DEFAULT, FIRST and LAST
        are resolved too, but not listed here)."""
        return self._models.aliases(model_name)

    def set_default_version(self, model_name: str, model_version: str) -> str:
        """Make a version the model's default (the alias DEFAULT); returns its name."""
        return self._models.set_default(model_name, model_version)

    def get_default_version(self, model_name: str) -> str:
        """The model's default version: the one set, else the first registered."""
        return self._models.default(model_name)

    def rename_model(self, model_name: str, new_model_name: str) -> None:
        """Rename a model: every version, its deployments, aliases and model-level tags."""
        self._models.rename(model_name, new_model_name)
