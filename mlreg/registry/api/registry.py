"""``Registry``: snowflake-ml-python's public registry API (``snowflake.ml.registry.Registry``)
on a local mlreg registry. Only the import and the session change::

    from mlreg.registry import Registry      # was: from snowflake.ml.registry import Registry
    reg = Registry(session=session, database_name="ML", schema_name="PUBLIC")

Names are SQL identifiers (see ``identifiers``): unquoted upper-cased, quoted kept. A name
that does not resolve exactly is looked up ignoring case when it was not quoted, so a
model logged through the seed's API as ``my_model`` is ``get_model("my_model")`` here,
and shown as ``"my_model"``. Pandas is imported only by ``show_models()``/``show_versions()``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlreg.registry.api import identifiers as ids
from mlreg.registry.api.model import Model
from mlreg.registry.api.model_version import ModelVersion
from mlreg.store.location import PUBLIC

if TYPE_CHECKING:
    import pandas as pd

    from mlreg.registry.registry import ModelRegistry
    from mlreg.session import Session

#: log_model options this registry honours; others of snowflake-ml-python are refused by name
_OPTIONS = {"target_methods", "relax_version", "enable_explainability", "embed_local_ml_library", "method_options"}


class Registry:
    """A registry: one schema of a database (PUBLIC by default)."""

    def __init__(self, session: "Session", *, database_name: str | None = None, schema_name: str | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        from mlreg.registry.registry import ModelRegistry

        database = self._pick(database_name, session.database, lambda d: session.open_store(d).exists())
        if not session.open_store(database).exists():
            raise ValueError(f"Database {ids.show(database)} does not exist.")
        schema = self._pick(schema_name, PUBLIC, lambda s: session.open_store(database, s).exists())
        if schema.upper() != PUBLIC and not session.open_store(database, schema).exists():
            raise ValueError(f"Schema {ids.show(schema)} does not exist.")
        self._database = database
        self._schema = PUBLIC if schema.upper() == PUBLIC else schema
        self._registry = ModelRegistry(session, database_name=database, schema_name=self._schema)

    @staticmethod
    def _pick(given: str | None, default: str, exists: Any) -> str:
        if given is None:
            return default
        name, quoted = ids.resolve(given)
        if not quoted and not exists(name) and exists(given):
            return given  # a registry created by the seed's API, which keeps case
        return name

    def __repr__(self) -> str:
        return f"Registry(location={self.location!r})"

    @property
    def location(self) -> str:
        """``DATABASE.SCHEMA``."""
        return f"{ids.show(self._database)}.{ids.show(self._schema)}"

    @property
    def model_registry(self) -> "ModelRegistry":
        """The same registry through mlreg's (the seed's) relational API."""
        return self._registry

    # -- names ---------------------------------------------------------------------------
    def _qualified(self, text: str, what: str = "model", lookup: bool = False) -> tuple[str, bool]:
        if lookup and "." not in text:
            return ids.lookup(text)
        parts = ids.split(text)
        if len(parts) == 3:
            (db, _), (schema, _) = parts[0], parts[1]
            if db != self._database or schema.upper() != self._schema.upper():
                raise ValueError(f"{what.capitalize()} {text} is not in this registry ({self.location})")
            return parts[2]
        if len(parts) != 1:
            raise ValueError(f"Invalid {what} name {text!r}: NAME or DATABASE.SCHEMA.NAME")
        return parts[0]

    def _stored(self, model_name: str) -> str | None:
        """The stored name of an existing model, or None."""
        name, quoted = self._qualified(model_name, lookup=True)
        with self._registry.store.read() as reader:
            if reader.model(name) is not None:
                return name
            if quoted:
                return None
            matches = [m.name for m in reader.models() if m.name.upper() == name.upper()]
        return matches[0] if len(matches) == 1 else None

    # -- models --------------------------------------------------------------------------
    def get_model(self, model_name: str) -> Model:
        """The model of that name; ``ValueError("Unable to find model NAME")`` when absent."""
        stored = self._stored(model_name)
        if stored is None:
            raise ValueError(f"Unable to find model {model_name}")
        return Model(self, stored)

    def models(self) -> list[Model]:
        return [Model(self, info.name) for info in self._registry.models.all()]

    def show_models(self) -> "pd.DataFrame":
        import pandas as pd  # only here, for startup

        from mlreg.records import MODEL_DESCRIPTION
        from mlreg.registry import aliases

        rows = []
        for info in self._registry.models.all():
            comment = info.values(MODEL_DESCRIPTION).get("")
            rows.append({
                "created_on": info.created_time, "name": ids.show(info.name),
                "model_type": "USER_MODEL", "database_name": ids.show(self._database),
                "schema_name": ids.show(self._schema), "comment": json.loads(comment) if comment else None,
                "owner": None, "default_version_name": ids.show(aliases.default_version(info)),
                "versions": json.dumps([ids.show(v) for v in info.versions]),
                "aliases": json.dumps({a: ids.show(v) for a, v in aliases.user_aliases(info).items()}),
            })
        columns = ["created_on", "name", "model_type", "database_name", "schema_name", "comment", "owner",
                   "default_version_name", "versions", "aliases"]
        return pd.DataFrame(rows, columns=columns)

    def delete_model(self, model_name: str) -> None:
        """Delete the model: every version, its deployments and packages."""
        model = self.get_model(model_name)
        for version in reversed(model._info().versions):
            self._registry.delete_model(model._name, version)

    # -- logging -------------------------------------------------------------------------
    def log_model(self, model: Any, *, model_name: str, version_name: str | None = None,
                  comment: str | None = None, metrics: Mapping[str, Any] | None = None,
                  conda_dependencies: Sequence[str] | None = None, pip_requirements: Sequence[str] | None = None,
                  python_version: str | None = None, signatures: Mapping[str, Any] | None = None,
                  sample_input_data: Any = None, code_paths: Sequence[str] | None = None, task: Any = None,
                  options: Mapping[str, Any] | None = None, **kwargs: Any) -> ModelVersion:
        """Log a model (or copy a ``ModelVersion``) as a new version; returns it."""
        if isinstance(model, ModelVersion):
            given = {k: v for k, v in dict(comment=comment, metrics=metrics, conda_dependencies=conda_dependencies,
                                            pip_requirements=pip_requirements, python_version=python_version,
                                            signatures=signatures, sample_input_data=sample_input_data,
                                            code_paths=code_paths, task=task, options=options, **kwargs).items()
                     if v is not None}
            if given:
                raise ValueError("When calling log_model with a ModelVersion, only model_name and version_name may "
                                 f"be specified; got also: {', '.join(sorted(given))}")
            return self._copy(model, model_name, version_name)
        if kwargs:
            raise TypeError(f"log_model() got unexpected keyword argument(s): {', '.join(sorted(kwargs))} "
                            "(not available outside Snowflake)")
        opts = dict(options or {})
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise ValueError(f"Option(s) {', '.join(sorted(unknown))} not available here; "
                             f"supported: {', '.join(sorted(_OPTIONS))}")
        if opts.pop("enable_explainability", False):
            raise ValueError("enable_explainability is not available here (explainability runs only in "
                             "Snowflake); pass False or leave it out")
        opts.pop("relax_version", None)  # packages record the versions they were logged with; loading warns
        opts.pop("method_options", None)
        name, version = self._new_version(model_name, version_name)
        self._registry.log_model(model, name, version, code_paths=code_paths, conda_dependencies=conda_dependencies,
                                 description=comment, options=opts or None, pip_requirements=pip_requirements,
                                 sample_input_data=sample_input_data, signatures=signatures, metrics=metrics)
        return ModelVersion(self, name, version)

    def _new_version(self, model_name: str, version_name: str | None) -> tuple[str, str]:
        name = self._stored(model_name) or self._qualified(model_name)[0]
        existing = self._registry.models.all()
        taken = {v.upper() for info in existing if info.name == name for v in info.versions}
        if version_name is None:
            version = ids.human_readable_name().upper()
            while version in taken:
                version = ids.human_readable_name().upper()
            return name, version
        version, _ = ids.resolve(version_name)
        if version.upper() in taken:
            raise ValueError(f"Model {model_name} version {version_name} already existed. "
                             "To auto-generate `version_name`, skip that argument.")
        return name, version

    def _copy(self, source: ModelVersion, model_name: str, version_name: str | None) -> ModelVersion:
        row = self._registry.get_model(source._model, source._version)
        name, version = self._new_version(model_name, version_name)
        obj = source.load()
        sigs = row.manifest.get("signatures") or None
        self._registry.log_model(obj, name, version, signatures=sigs,
                                 options={"target_methods": list(row.manifest.get("target_methods", []))})
        return ModelVersion(self, name, version)
