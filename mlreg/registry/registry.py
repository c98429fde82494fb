"""The registry: the relational API of the seed (pass model_name and model_version).

``ModelRegistry`` is a thin facade over four parts that share a small core
(:class:`~mlreg.registry.core.RegistryCore`): :class:`~mlreg.registry.versions.Versions`
(log, list, history, load, delete), :class:`~mlreg.registry.metadata.Metadata`
(description, tags, metrics), :class:`~mlreg.registry.deployments.Deployments` and
:class:`~mlreg.registry.maintenance.Maintenance` (gc, verify, export). Each method
below is written out; the parts are reachable for what the seed's API does not cover.
The methods of descriptions, tags, metrics and aliases are written out the same way in
:class:`~mlreg.registry.annotating.MetadataMethods`, the promotion methods (gates, diffs,
cards, promotions) in :class:`~mlreg.registry.promoting.PromotionMethods`; it inherits both.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import EnvironmentWarning, NotFound
from mlreg.names import validate_name
from mlreg.records import Deployment, ModelRow
from mlreg.registry.annotating import MetadataMethods
from mlreg.registry.core import RegistryCore
from mlreg.registry.metadata import Metadata
from mlreg.registry.models import Models
from mlreg.registry.promoting import PromotionMethods
from mlreg.registry.versions import Versions
from mlreg.session import Session
from mlreg.store import MetadataStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlreg.frame import DataFrame
    from mlreg.registry.deployments import Deployments
    from mlreg.registry.maintenance import Maintenance, VerifyResult
    from mlreg.spark.udf import SparkFunction
    from mlreg.store.base import Relation

    from mlreg.registry.copying import CopyResult
    from mlreg.runtime.spec import ScoringSpec
    from mlreg.stage import Stage, StageEntry

__all__ = ["DEFAULT_DATABASE", "EnvironmentWarning", "ModelRegistry", "ModelRow", "VerifyResult"]


def __getattr__(name: str) -> Any:
    if name == "VerifyResult":  # re-exported, imported when asked for
        from mlreg.registry.maintenance import VerifyResult

        return VerifyResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_DATABASE = "MODEL_REGISTRY"


class ModelRegistry(MetadataMethods, PromotionMethods):
    """A registry: its metadata store (by default the DuckDB file ``<home>/<database_name>``) and its stage."""

    def __init__(
        self,
        session: Session,
        database_name: str | None = None,
        create_if_not_exists: bool = False,
        clock: Callable[[], datetime] | None = None,
        schema_name: str | None = None,
    ):
        database = validate_name(database_name or session.database, "database name")
        schema = validate_name(schema_name or session.schema, "schema name")
        store = session.open_store(database, schema)
        if not store.exists():
            if create_if_not_exists:
                store.create_or_upgrade()
            else:
                name = session.registry_name(database, schema)
                schema_arg = f", schema_name={schema!r}" if name != database else ""
                raise NotFound(
                    f"registry {name} does not exist at {store.url}; create it with "
                    f"model_registry.create_model_registry(session, database_name={database!r}{schema_arg}) "
                    "or `mlreg create`"
                )
        self._core = RegistryCore(session, database, store, clock, schema)
        self._versions = Versions(self._core, lambda: self._deployments)
        self._metadata = Metadata(self._core)
        self._models = Models(self._core)

    # the parts a listing or a tag write never needs are made (and imported) on first use
    @cached_property
    def _deployments(self) -> "Deployments":
        from mlreg.registry.deployments import Deployments

        return Deployments(self._core)

    @cached_property
    def _maintenance(self) -> "Maintenance":
        from mlreg.registry.maintenance import Maintenance

        return Maintenance(self._core)

    def __repr__(self) -> str:
        return f"ModelRegistry(database_name={self.database_name!r}, url={self.url!r})"

    # -- what it is made of ---------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self._core.session

    @property
    def database_name(self) -> str:
        return self._core.database

    @property
    def schema_name(self) -> str:
        """The schema of the database this registry is (PUBLIC: the database's own registry)."""
        return self._core.schema

    @property
    def url(self) -> str:
        """The registry's store URL (for a DuckDB registry, the path of its file)."""
        return self._core.url

    @property
    def store(self) -> MetadataStore:
        return self._core.store

    @property
    def stage(self) -> "Stage":
        return self._core.stage

    @property
    def versions(self) -> Versions:
        """The model-version part: in-place scans of the listing and history, among others."""
        return self._versions

    @property
    def models(self) -> Models:
        """The model part: models as a whole (every version of a name), their aliases,
        default version, model-level description and tags, renames."""
        return self._models

    @property
    def deployments(self) -> "Deployments":
        """The deployment part: deployments by name alone, file-to-file scoring, among others."""
        return self._deployments

    # -- model versions -------------------------------------------------------------------
    def log_model(
        self,
        model: Any,
        model_name: str,
        model_version: str,
        code_paths: Sequence[str | Path] | None = None,
        conda_dependencies: Sequence[str] | None = None,
        description: str | None = None,
        options: Mapping[str, Any] | None = None,
        pip_requirements: Sequence[str] | None = None,
        sample_input_data: Any = None,
        signatures: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> str:
        """Serialize the model, publish its package to the stage and register it.

        All or nothing: a failure at any point leaves the model unregistered (at most an
        orphan package on the stage, which `gc` removes). Returns the new model's ID.
        """
        return self._versions.log(
            model, model_name, model_version, code_paths=code_paths, conda_dependencies=conda_dependencies,
            description=description, options=options, pip_requirements=pip_requirements,
            sample_input_data=sample_input_data, signatures=signatures, tags=tags, metrics=metrics,
        )

    def get_model(self, model_name: str, model_version: str) -> ModelRow:
        """The registry row of one model version (NotFound when absent)."""
        return self._versions.get(model_name, model_version)

    def exists(self, model_name: str, model_version: str) -> bool:
        """Whether that model version is registered."""
        return self._versions.exists(model_name, model_version)

    def describe_model(self, model_name: str, model_version: str) -> dict[str, Any]:
        """The model's listing row (the columns of ``list_models``) plus its MANIFEST and
        FILES, in one read. Nothing is unpickled."""
        return self._versions.describe(model_name, model_version)

    def list_models(self) -> "DataFrame":
        """Every model version, in registration order (oldest first), as a Snowpark-style
        DataFrame over a private copy of the registry: it holds no lock. ``.relation`` is
        the DuckDB relation itself."""
        return _frame(self._versions.list())

    def get_history(self) -> "DataFrame":
        """Every change to the registry, in order, as a Snowpark-style DataFrame."""
        return _frame(self._versions.history())

    def get_model_history(self, model_name: str, model_version: str) -> "DataFrame":
        """Every change to one model version, in order, as a Snowpark-style DataFrame."""
        return _frame(self._versions.history(model_name, model_version))

    def load_model(self, model_name: str, model_version: str) -> Any:
        """Verify the package, put its code paths on sys.path, warn about environment
        differences, and return the original Python object. Unpickling runs code from the
        package: load models only from registries you trust."""
        return self._versions.load(model_name, model_version)

    def delete_model(self, model_name: str, model_version: str, delete_artifact: bool = True) -> None:
        """Remove the model's entry (its history stays) and its deployments, and delete its
        package from the stage unless ``delete_artifact=False``."""
        self._versions.delete(model_name, model_version, delete_artifact)

    def scoring_spec(self, model_name: str, model_version: str, target_method: str = "predict") -> "ScoringSpec":
        """What a process needs to load and call one method of a model version: a plain,
        picklable value (its stage options, which may hold credentials, are never shown)."""
        from mlreg.runtime.spec import ScoringSpec

        row = self._versions.get(model_name, model_version)
        return ScoringSpec.of(row, target_method, self._core.package(row))

    def spark_udf(self, model_name: str, model_version: str, spark: "SparkSession",
                  target_method: str = "predict") -> "SparkFunction":
        """The model's ``target_method`` as a vectorized Spark function (Arrow batches):
        ``df.select(f("age", "tenure"))``. Executors fetch the package from the stage,
        verify it and load it once per Python worker; inputs are checked against the
        signature. Needs pyspark (``mlreg[spark]``), and mlreg with the model's framework
        on the executors."""
        from mlreg.spark import spark_udf

        return spark_udf(spark, self.scoring_spec(model_name, model_version, target_method))

    # -- deployments --------------------------------------------------------------------------
    def deploy(
        self,
        model_name: str,
        model_version: str,
        deployment_name: str,
        target_method: str = "predict",
        permanent: bool = False,
        platform: TargetPlatform | str = TargetPlatform.WAREHOUSE,
        options: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Deploy the model's ``target_method`` under ``deployment_name`` (unique in the
        registry). WAREHOUSE: a DuckDB SQL function (temporary unless ``permanent``);
        SERVICE: an HTTP server, always permanent. A permanent deployment, and each of its
        options, is recorded in the history."""
        return self._deployments.deploy(model_name, model_version, deployment_name, target_method=target_method,
                                        permanent=permanent, platform=platform, options=options)

    def predict(self, model_name: str, model_version: str, deployment_name: str, data: Any) -> Any:
        """Score ``data`` with the deployment. ``data`` is what the original took (a pandas
        DataFrame, a NumPy array whose columns are the signature's inputs in order, a list
        of rows or records), scored into a pandas DataFrame; or a pyarrow Table (a Table
        back), a DuckDB relation, an mlreg DataFrame or the path of a Parquet/CSV/JSON file
        (a relation back). One row per input row."""
        dep = self._deployments.of_model(model_name, model_version, deployment_name)
        return self._deployments.predict(dep, data)

    def predict_deployment(self, deployment_name: str, data: Any) -> Any:
        """Score ``data`` with a deployment found by name alone."""
        return self._deployments.predict(self._deployments.get(deployment_name), data)

    def find_deployment(self, deployment_name: str) -> Deployment:
        """The deployment of that name in this registry (temporary or permanent)."""
        return self._deployments.get(deployment_name)

    def list_deployments(self, model_name: str | None = None, model_version: str | None = None) -> "DataFrame":
        """Deployments (of one model version, or all), with their status, as a Snowpark-style
        DataFrame with the original's columns first (MODEL_NAME, MODEL_VERSION,
        DEPLOYMENT_NAME, CREATION_TIME, TARGET_METHOD, TARGET_PLATFORM, SIGNATURE, OPTIONS,
        STAGE_PATH, ROLE), then mlreg's."""
        return _frame(self._deployments.list(model_name, model_version))

    def get_deployment(self, model_name: str, model_version: str, deployment_name: str) -> "DataFrame":
        """One deployment as a one-row DataFrame (the columns of ``list_deployments``)."""
        return _frame(self._deployments.frame([self._deployments.of_model(model_name, model_version, deployment_name)]))

    def delete_deployment(self, model_name: str, model_version: str, deployment_name: str) -> None:
        """Tear the deployment down and remove it from the registry."""
        self._deployments.delete(self._deployments.of_model(model_name, model_version, deployment_name))

    def sql(self, query: str) -> "Relation | None":
        """Run DuckDB SQL in which every warehouse deployment (the permanent ones, and this
        process's temporary ones) is a function, and the registry's ``models``,
        ``history`` and ``deployments`` are tables (in-memory copies: changing them
        changes nothing in the registry). Returns the result of the last statement,
        materialized, or None when it has none. What `mlreg sql` runs."""
        return self._deployments.sql(query, self._versions.list(), self._versions.history())

    # -- bursts of writes ----------------------------------------------------------------------
    def batch(self) -> AbstractContextManager[None]:
        """A burst of writes from this process: inside the block the registry stays open
        between calls (a DuckDB file stays attached), so each write costs less. Each call
        is still its own transaction, committed and durable when it returns, and the
        registry's lock is not held between calls: other processes read and write as
        usual (the file is let go as soon as one wants it, or after 0.1 s unused).
        ``with registry.batch(): ...``; nesting is allowed."""
        return self._core.store.batch()

    def reading(self) -> AbstractContextManager[None]:
        """Reads of this thread inside the block see one state of the registry and share
        what they can: a DuckDB file is locked (shared) and attached once for all of them.
        ``with registry.reading(): ...``; no writes inside; other threads' calls wait."""
        return self._core.store.reading()

    # -- copying ------------------------------------------------------------------------------
    def copy_to(self, to_home: str | Path, database_name: str | None = None, to_stage: str | None = None,
                to_stage_options: Mapping[str, Any] | None = None) -> "CopyResult":
        """Copy this registry, whole (every version, deployment record and event, unchanged),
        to the registry ``database_name`` (default: this one's name) of another home: a
        directory or a PostgreSQL URL. Packages stay where they are unless ``to_stage`` is
        given (then they are copied there and verified). Safe to run again after an
        interruption; a conflicting target is refused (AlreadyExists) before anything is
        written. What `mlreg copy` does."""
        from mlreg.registry.copying import copy_registry

        return copy_registry(self, str(to_home), database_name, to_stage, to_stage_options)

    # -- housekeeping -------------------------------------------------------------------------
    def export_package(self, model_name: str, model_version: str, dest: str | Path) -> ModelRow:
        """Write the model's package (its recorded files only), verified, to ``dest`` (a new
        or empty directory). Nothing is unpickled."""
        return self._maintenance.export(model_name, model_version, dest)

    def gc(self, dry_run: bool = False) -> list["StageEntry"]:
        """Remove stage entries that no registry entry references (orphans of crashed or
        failed logs, packages kept by ``delete_artifact=False``). Returns what was (or, with
        ``dry_run``, would be) removed."""
        return self._maintenance.gc(dry_run)

    def verify(self, model_name: str | None = None, model_version: str | None = None) -> list[VerifyResult]:
        """Check packages against their recorded checksums (BLAKE3 where recorded, else sha256):
        changed, missing and extra files."""
        return self._maintenance.verify(model_name, model_version)


def _frame(relation: "Relation") -> "DataFrame":
    """The Snowpark-style DataFrame the Python API returns over a DuckDB relation (the CLI
    renders the relations themselves: it never builds frames)."""
    from mlreg.frame import DataFrame  # here, not at the top: `mlreg list` never needs it

    return DataFrame(relation)
