"""The object API: a ModelReference names one model version; each method is the twin of
the registry method of the same name, written out (typed, documented)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlreg.deploy_platforms import TargetPlatform
from mlreg.names import validate_name

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from mlreg.records import Deployment
    from mlreg.spark.udf import SparkFunction
    from mlreg.store.base import Relation
    from mlreg.registry.registry import ModelRegistry


class ModelReference:
    """A reference to ``model_name``/``model_version`` in ``registry``.

    After the model is deleted, every method raises the registry's NotFound error.
    """

    def __init__(self, registry: "ModelRegistry", model_name: str, model_version: str):
        self._registry = registry
        self._name = validate_name(model_name, "model name")
        self._version = validate_name(model_version, "model version")

    @property
    def registry(self) -> "ModelRegistry":
        return self._registry

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def model_version(self) -> str:
        return self._version

    def __repr__(self) -> str:
        return f"ModelReference(model_name={self._name!r}, model_version={self._version!r})"

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

    def remove_metric(self, metric_name: str) -> None:
        """Remove a metric; NotFound (listing the metrics there are) when absent."""
        self._registry.remove_metric(self._name, self._version, metric_name)

    # history, loading
    def get_model_history(self) -> "Relation":
        """Every change to this model version, in order."""
        return self._registry.get_model_history(self._name, self._version)

    def load_model(self) -> Any:
        """Verify the package and return the original Python object (runs its pickle:
        load only from registries you trust)."""
        return self._registry.load_model(self._name, self._version)

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
        """Score ``data`` (a pandas DataFrame, a pyarrow Table, a DuckDB relation or the path
        of a Parquet/CSV/JSON file) with the deployment, after validating it against the
        signature; returns the same kind of frame (a relation for a path)."""
        return self._registry.predict(self._name, self._version, deployment_name, data)

    def list_deployments(self) -> "Relation":
        """This model version's deployments, with their status."""
        return self._registry.list_deployments(self._name, self._version)

    def get_deployment(self, deployment_name: str) -> "Relation":
        """One deployment as a one-row relation."""
        return self._registry.get_deployment(self._name, self._version, deployment_name)

    def delete_deployment(self, deployment_name: str) -> None:
        """Tear the deployment down and remove it from the registry."""
        self._registry.delete_deployment(self._name, self._version, deployment_name)
