"""``Model``: a model of a :class:`~mlreg.registry.api.registry.Registry` (snowflake-ml-python's
``snowflake.ml.model.Model``): its versions, default version, aliases, description and
model-level tags, and renaming."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlreg.records import MODEL_DESCRIPTION, MODEL_TAG, ModelInfo
from mlreg.registry import aliases
from mlreg.registry.api import identifiers as ids
from mlreg.registry.api.model_version import ModelVersion

if TYPE_CHECKING:
    import pandas as pd

    from mlreg.registry.api.registry import Registry


class Model:
    def __init__(self, registry: "Registry", name: str) -> None:
        self._registry = registry
        self._name = name

    def __repr__(self) -> str:
        return f"Model(\n  name='{self.name}',\n  full_name='{self.fully_qualified_name}'\n)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and (other._registry, other._name) == (self._registry, self._name)

    def __hash__(self) -> int:
        return hash(self._name)

    @property
    def _core(self) -> Any:
        return self._registry.model_registry

    def _info(self) -> ModelInfo:
        with self._core.store.read() as reader:
            info = reader.model(self._name)
        if info is None:
            raise ValueError(f"Unable to find model {self.fully_qualified_name}")
        return info

    @property
    def name(self) -> str:
        return ids.show(self._name)

    @property
    def fully_qualified_name(self) -> str:
        return f"{self._registry.location}.{self.name}"

    # -- description ---------------------------------------------------------------------
    @property
    def description(self) -> str:
        value = self._info().values(MODEL_DESCRIPTION).get("")
        return json.loads(value) if value is not None else ""

    @description.setter
    def description(self, description: str) -> None:
        self._core.models.set_description(self._name, description)

    comment = description

    # -- versions ------------------------------------------------------------------------
    @property
    def default(self) -> ModelVersion:
        return ModelVersion(self._registry, self._name, aliases.default_version(self._info()))

    @default.setter
    def default(self, version: "str | ModelVersion") -> None:
        if isinstance(version, ModelVersion):
            stored = version._version
        else:
            stored = self._version_name(version)
            if stored is None:
                raise ValueError(f"You cannot set version {version} as default version as it does not exist.")
        self._core.set_default_version(self._name, stored)

    def first(self) -> ModelVersion:
        return ModelVersion(self._registry, self._name, self._info().versions[0])

    def last(self) -> ModelVersion:
        return ModelVersion(self._registry, self._name, self._info().versions[-1])

    def versions(self) -> list[ModelVersion]:
        """Every version, oldest first."""
        return [ModelVersion(self._registry, self._name, v) for v in self._info().versions]

    def _version_name(self, version_or_alias: str) -> str | None:
        """The stored version a name or an alias designates (ignoring case), or None."""
        info = self._info()
        name, quoted = ids.lookup(version_or_alias)
        if name in info.versions:
            return name
        found = aliases.resolve(info, name)
        if found is not None:
            return found
        if not quoted:
            matches = [v for v in info.versions if v.upper() == name.upper()]
            if len(matches) == 1:
                return matches[0]
        return None

    def version(self, version_or_alias: str) -> ModelVersion:
        stored = self._version_name(version_or_alias)
        if stored is None:
            shown = ids.show(ids.lookup(version_or_alias)[0])
            raise ValueError(f"Unable to find version or alias with name {shown} in model {self.fully_qualified_name}")
        return ModelVersion(self._registry, self._name, stored)

    def show_versions(self) -> "pd.DataFrame":
        import pandas as pd  # only here, for startup

        info = self._info()
        default = aliases.default_version(info)
        held = aliases.aliases_of(info)
        rows = []
        with self._core.store.read() as reader:
            for v in info.versions:
                row = reader.version(self._name, v)
                listing = reader.listing_row(row.id) if row is not None else {}
                rows.append({
                    "created_on": listing.get("CREATION_TIME"), "name": ids.show(v),
                    "aliases": json.dumps(held.get(v, [])), "comment": listing.get("DESCRIPTION"),
                    "database_name": self._registry.location.split(".")[0],
                    "schema_name": self._registry.location.split(".")[1], "model_name": self.name,
                    "is_default_version": v == default,
                    "functions": json.dumps([m.upper() for m in (row.manifest.get("target_methods", []) if row else [])]),
                    "metadata": json.dumps({"metrics": json.loads(listing["METRICS"]) if listing.get("METRICS") else {}}),
                })
        return pd.DataFrame(rows, columns=["created_on", "name", "aliases", "comment", "database_name", "schema_name",
                                           "model_name", "is_default_version", "functions", "metadata"])

    def delete_version(self, version_name: str) -> None:
        self._core.delete_model(self._name, self.version(version_name)._version)

    def rename(self, model_name: str) -> None:
        """Rename the model (``NAME`` or ``DATABASE.SCHEMA.NAME`` of this registry)."""
        new, _ = self._registry._qualified(model_name)
        self._core.rename_model(self._name, new)
        self._name = new

    # -- model-level tags ----------------------------------------------------------------------
    def _tag(self, tag_name: str) -> str:
        parts = ids.split(tag_name)
        if len(parts) == 1:
            return f"{self._registry.location}.{ids.show(parts[0][0])}"
        if len(parts) == 3:
            return ".".join(ids.show(p) for p, _ in parts)
        raise ValueError(f"Invalid tag name {tag_name!r}: NAME or DATABASE.SCHEMA.NAME")

    def show_tags(self) -> dict[str, str]:
        return {k: json.loads(v) for k, v in self._info().values(MODEL_TAG).items()}

    def get_tag(self, tag_name: str) -> str | None:
        return self.show_tags().get(self._tag(tag_name))

    def set_tag(self, tag_name: str, tag_value: str) -> None:
        self._core.models.set_tag(self._name, self._tag(tag_name), tag_value)

    def unset_tag(self, tag_name: str) -> None:
        self._core.models.unset_tag(self._name, self._tag(tag_name))
