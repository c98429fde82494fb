"""Models: a name and every version registered under it, with what belongs to the model
rather than to one version: its description, tags, default version and aliases, and its
name (a rename moves every version). Every change is an event with its old and new
values (see ``mlreg.store.base.StoreWriter.set_model_attribute``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

from mlreg.errors import AlreadyExists, InvalidInput, NotFound
from mlreg.names import validate_key, validate_name, validate_tag_value, validate_text
from mlreg.records import ALIAS, DEFAULT_VERSION, MODEL_DESCRIPTION, MODEL_TAG, ModelInfo
from mlreg.registry import aliases
from mlreg.registry.aliases import check_unprotected
from mlreg.registry.core import RegistryCore

if TYPE_CHECKING:
    from mlreg.store import StoreReader


def model_not_found(name: str) -> NotFound:
    return NotFound(f"Unable to find model {name}")


class Models:
    """The models of a registry and their model-level attributes."""

    def __init__(self, core: RegistryCore):
        self._core = core

    # -- reading -------------------------------------------------------------------------
    def info(self, name: str, reader: "StoreReader | None" = None) -> ModelInfo:
        """The model (NotFound when no version is registered under that name)."""
        validate_name(name, "model name")
        if reader is not None:
            found = reader.model(name)
        else:
            with self._core.read() as r:
                found = r.model(name)
        if found is None:
            raise model_not_found(name)
        return found

    def all(self) -> list[ModelInfo]:
        """Every model, in the order of their first registration."""
        with self._core.read() as reader:
            return reader.models()

    def held_aliases(self, names: "Iterable[str]") -> dict[tuple[str, str], list[str]]:
        """(model, version) -> the aliases naming it, for the versions of these models
        that an alias names (see ``aliases.aliases_of``), reading neither every model nor
        every version."""
        with self._core.read() as reader:
            ends = reader.model_ends(list(names))
        return {(e.name, v): held for e in ends for v, held in aliases.held_aliases(e).items()}

    def aliases(self, name: str) -> dict[str, str]:
        """The aliases set on the model: alias -> version, sorted by alias."""
        return aliases.user_aliases(self.info(name))

    def default(self, name: str) -> str:
        return aliases.default_version(self.info(name))

    def description(self, name: str) -> str | None:
        value = self.info(name).values(MODEL_DESCRIPTION).get("")
        return json.loads(value) if value is not None else None

    def tags(self, name: str) -> dict[str, str]:
        return {k: json.loads(v) for k, v in self.info(name).values(MODEL_TAG).items()}

    # -- aliases and the default -----------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> str:
        """Point ``alias`` at a version (a version name or an alias): it moves if another
        version holds it. Returns the version name. No event when it already names it."""
        alias = aliases.normalize(alias)
        with self._core.write() as writer:
            row = self._core.row(writer, name, version)
            info = self.info(name, writer)
            alias = aliases.check_settable(info, alias)
            check_unprotected(info, alias)
            if aliases.user_aliases(info).get(alias) != row.version:
                writer.set_model_attribute(name, ALIAS, alias, json.dumps(row.version), row)
        return row.version

    def unset_alias(self, name: str, alias: str) -> str:
        """Remove an alias; returns the version it named (NotFound when the model has no
        such alias; a system alias cannot be removed)."""
        alias = aliases.normalize(alias)
        if alias in aliases.SYSTEM_ALIASES:
            raise InvalidInput(f"alias {alias} is a system alias ({', '.join(aliases.SYSTEM_ALIASES)}); "
                               "it cannot be removed")
        with self._core.write() as writer:
            info = self.info(name, writer)
            check_unprotected(info, alias)
            held = aliases.user_aliases(info)
            if alias not in held:
                listing = ", ".join(held) if held else "none"
                raise NotFound(f"Model {name} has no alias {alias}. Its aliases: {listing}")
            writer.remove_model_attribute(name, ALIAS, alias, writer.version(name, held[alias]))
        return held[alias]

    def set_default(self, name: str, version: str) -> str:
        """Make a version (a name or an alias) the model's default. Returns its name."""
        with self._core.write() as writer:
            row = self._core.row(writer, name, version)
            info = self.info(name, writer)
            if info.values(DEFAULT_VERSION).get("") != json.dumps(row.version):
                writer.set_model_attribute(name, DEFAULT_VERSION, "", json.dumps(row.version), row)
        return row.version

    # -- description, tags, name -------------------------------------------------------------
    def set_description(self, name: str, text: str) -> None:
        validate_text(text, "description")
        with self._core.write() as writer:
            self.info(name, writer)
            writer.set_model_attribute(name, MODEL_DESCRIPTION, "", json.dumps(text, ensure_ascii=False))

    def set_tag(self, name: str, tag: str, value: Any) -> None:
        validate_key(tag, "tag name")
        text = validate_tag_value(value, tag)
        with self._core.write() as writer:
            self.info(name, writer)
            writer.set_model_attribute(name, MODEL_TAG, tag, json.dumps(text, ensure_ascii=False))

    def unset_tag(self, name: str, tag: str) -> bool:
        """Remove a model-level tag; False when the model has no such tag."""
        validate_key(tag, "tag name")
        with self._core.write() as writer:
            self.info(name, writer)
            return writer.remove_model_attribute(name, MODEL_TAG, tag)

    def rename(self, name: str, new_name: str) -> None:
        """Rename the model (every version, its deployments and model-level attributes).
        AlreadyExists when ``new_name`` has versions."""
        validate_name(name, "model name")
        validate_name(new_name, "model name")
        if name == new_name:
            raise InvalidInput(f"model {name} already has that name")
        with self._core.write() as writer:
            self.info(name, writer)
            if writer.model(new_name) is not None:
                raise AlreadyExists(f"Model {new_name} already exists.")
            writer.rename_model(name, new_name)
