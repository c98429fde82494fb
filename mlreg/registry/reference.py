"""The object API: a ModelReference names one model version; each method is the twin of
the registry method of the same name, written out (typed, documented)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlreg.deploy_platforms import TargetPlatform
from mlreg.names import validate_name
from mlreg.registry.aliases import UNSET

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

    from mlreg.frame import DataFrame
    from mlreg.records import Deployment, ModelRow
    from mlreg.policy import Policy
    from mlreg.registry.gate import GateReport
    from mlreg.registry.maintenance import VerifyResult
    from mlreg.registry.promote import PromotionResult
    from mlreg.runtime.spec import ScoringSpec
    from mlreg.spark.udf import SparkFunction
    from mlreg.registry.registry import ModelRegistry


class ModelReference:
    """A reference to ``model_name``/``model_version`` in ``registry``.

    As in the original, the model must exist: constructing a reference to one that does
    not raises NotFound (a ``KeyError``) "The model {name}/{version} does not exist in the
    current registry.". After the model is deleted, every method raises that error.
    """

    def __init__(self, registry: "ModelRegistry", model_name: str, model_version: str):
        self._registry = registry
        self._name = validate_name(model_name, "model name")
        self._version = validate_name(model_version, "model version")
        self._id = registry.get_model(self._name, self._version).id  # NotFound (a KeyError) when absent

    @property
    def registry(self) -> "ModelRegistry":
        return self._registry

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def id(self) -> str:
        """The model's ID (the ``ID`` column of ``list_models()``)."""
        return self._id

    def get_name(self) -> str:
        """The model's name."""
        return self._name

    def get_version(self) -> str:
        """The model's version."""
        return self._version

    def __repr__(self) -> str:
        return f"ModelReference(model_name={self._name!r}, model_version={self._version!r})"

    # the version itself
    def get_model(self) -> "ModelRow":
        """The registry row of this model version (NotFound once it is deleted)."""
        return self._registry.get_model(self._name, self._version)

    def exists(self) -> bool:
        """Whether this model version is (still) registered."""
        return self._registry.exists(self._name, self._version)

    def describe_model(self) -> dict[str, Any]:
        """The listing row (the columns of ``list_models``) plus MANIFEST and FILES, in one
        read. Nothing is unpickled."""
        return self._registry.describe_model(self._name, self._version)

    def scoring_spec(self, target_method: str = "predict") -> "ScoringSpec":
        """What a process needs to load and call one method of this model version."""
        return self._registry.scoring_spec(self._name, self._version, target_method)

    def export_package(self, dest: str | Path) -> "ModelRow":
        """Write the package (its recorded files only), verified, to ``dest`` (a new or
        empty directory). Nothing is unpickled."""
        return self._registry.export_package(self._name, self._version, dest)

    def verify(self) -> list["VerifyResult"]:
        """Check the package against its recorded sha256: changed, missing and extra files."""
        return self._registry.verify(self._name, self._version)

    # description
    def get_model_description(self) -> str | None:
        """The model's description (None when it has none)."""
        return self._registry.get_model_description(self._name, self._version)

    def set_model_description(self, description: str) -> None:
        """Set (replace) the model's description."""
        self._registry.set_model_description(self._name, self._version, description)

    # tags
    def get_tags(self) -> dict[str, str]:
        """All tags, as a dict of str to str."""
        return self._registry.get_tags(self._name, self._version)

    def get_tag_value(self, tag_name: str) -> str:
        """The value of one tag; NotFound (listing the tags there are) when absent."""
        return self._registry.get_tag_value(self._name, self._version, tag_name)

    def has_tag(self, tag_name: str, tag_value: str | None = None) -> bool:
        """True when the model has the tag (with that value, if one is given)."""
        return self._registry.has_tag(self._name, self._version, tag_name, tag_value)

    def set_tag(self, tag_name: str, tag_value: str) -> None:
        """Set a tag, creating it if necessary."""
        self._registry.set_tag(self._name, self._version, tag_name, tag_value)

    def set_tags(self, tags: dict[str, str]) -> None:
        """Set several tags at once: one transaction, one history event per tag."""
        self._registry.set_tags(self._name, self._version, tags)

    def remove_tag(self, tag_name: str) -> None:
        """Remove a tag; NotFound (listing the tags there are) when absent."""
        self._registry.remove_tag(self._name, self._version, tag_name)

    # metrics
    def get_metrics(self) -> dict[str, Any]:
        """All metrics, as a dict of name to JSON value."""
        return self._registry.get_metrics(self._name, self._version)

    def get_metric_value(self, metric_name: str) -> Any:
        """The value of one metric; NotFound (listing the metrics there are) when absent."""
        return self._registry.get_metric_value(self._name, self._version, metric_name)

    def has_metric(self, metric_name: str) -> bool:
        """True when the model has the metric."""
        return self._registry.has_metric(self._name, self._version, metric_name)

    def set_metric(self, metric_name: str, metric_value: Any) -> None:
        """Set a metric (scalar, dict, list or numpy array), creating it if necessary."""
        self._registry.set_metric(self._name, self._version, metric_name, metric_value)

    def set_metrics(self, metrics: dict[str, Any]) -> None:
        """Set several metrics at once: one transaction, one history event per metric."""
        self._registry.set_metrics(self._name, self._version, metrics)

    def remove_metric(self, metric_name: str) -> None:
        """Remove a metric; NotFound (listing the metrics there are) when absent."""
        self._registry.remove_metric(self._name, self._version, metric_name)

    # history, loading
    def get_model_history(self) -> "DataFrame":
        """Every change to this model version, in order, as a Snowpark-style DataFrame."""
        return self._registry.get_model_history(self._name, self._version)

    def load_model(self) -> Any:
        """Verify the package and return the original Python object (runs its pickle:
        load only from registries you trust)."""
        return self._registry.load_model(self._name, self._version)

    # aliases and promotion
    def set_alias(self, alias: str) -> str:
        """Point ``alias`` of the model at this version (moving it from another version);
        returns the alias as stored (upper-cased)."""
        return self._registry.set_alias(self._name, alias, self._version)

    def set_default_version(self) -> str:
        """Make this version the model's default version (the alias DEFAULT)."""
        return self._registry.set_default_version(self._name, self._version)

    def gate(self, policy: "Policy | str | Path") -> "GateReport":
        """Evaluate every rule of a policy over this version (nothing is changed)."""
        return self._registry.gate(self._name, self._version, policy)

    def promote(self, alias: str, policy: "Policy | str | Path | None" = None,
                expect: "str | None" = UNSET) -> "PromotionResult":
        """Move ``alias`` to this version once its policies pass, as a compare-and-set
        (see ``ModelRegistry.promote``)."""
        return self._registry.promote(self._name, self._version, alias, policy, expect)

    def model_card(self) -> str:
        """A Markdown model card of this version, generated from the registry."""
        return self._registry.model_card(self._name, self._version)

    def delete_model(self, delete_artifact: bool = True) -> None:
        """Remove the model's entry (its history stays) and its deployments, and delete its
        package from the stage unless ``delete_artifact=False``. This reference, and every
        other one to the model, is invalid afterwards."""
        self._registry.delete_model(self._name, self._version, delete_artifact)

    def spark_udf(self, spark: "SparkSession", target_method: str = "predict") -> "SparkFunction":
        """``target_method`` as a vectorized Spark function: ``df.select(f("a", "b"))``,
        or ``f()`` for the columns named as the signature's inputs. Executors verify the
        package and load it once per Python worker (see README, Spark)."""
        return self._registry.spark_udf(self._name, self._version, spark, target_method)

    # deployments
    def deploy(
        self,
        deployment_name: str,
        target_method: str = "predict",
        permanent: bool = False,
        platform: TargetPlatform | str = TargetPlatform.WAREHOUSE,
        options: dict[str, Any] | None = None,
    ) -> "Deployment":
        """Deploy ``target_method`` under ``deployment_name``: a DuckDB SQL function on the
        WAREHOUSE platform (temporary unless ``permanent``), an HTTP service on SERVICE
        (always permanent). Options as in the seed, e.g. ``output_with_input_features``,
        ``keep_order``, ``relax_version``, ``replace_udf``; AlreadyExists for a taken name."""
        return self._registry.deploy(
            self._name, self._version, deployment_name, target_method=target_method,
            permanent=permanent, platform=platform, options=options,
        )

    def predict(self, deployment_name: str, data: Any) -> Any:
        """Score ``data`` with the deployment, after validating it against the signature: a
        pandas DataFrame, a NumPy array (columns in the signature's order) or a list of rows
        give a pandas DataFrame; a pyarrow Table gives a Table; a DuckDB relation, an mlreg
        DataFrame or the path of a Parquet/CSV/JSON file gives a relation."""
        return self._registry.predict(self._name, self._version, deployment_name, data)

    def list_deployments(self) -> "DataFrame":
        """This model version's deployments, with their status, as a Snowpark-style DataFrame."""
        return self._registry.list_deployments(self._name, self._version)

    def get_deployment(self, deployment_name: str) -> "DataFrame":
        """One deployment as a one-row DataFrame (the columns of ``list_deployments``)."""
        return self._registry.get_deployment(self._name, self._version, deployment_name)

    def delete_deployment(self, deployment_name: str) -> None:
        """Tear the deployment down and remove it from the registry."""
        self._registry.delete_deployment(self._name, self._version, deployment_name)
