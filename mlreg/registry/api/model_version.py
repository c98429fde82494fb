"""``ModelVersion``: one version of a model (snowflake-ml-python's
``snowflake.ml.model.ModelVersion``): description, metrics, aliases, functions, ``run``,
``load`` and ``get_model_task``."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from mlreg.errors import NotFound
from mlreg.registry.api import identifiers as ids

if TYPE_CHECKING:
    import pandas as pd

    from mlreg.registry.api.registry import Registry


class Task(enum.Enum):
    """snowflake-ml-python's ``snowflake.ml.model.task.Task``."""

    TABULAR_BINARY_CLASSIFICATION = "TABULAR_BINARY_CLASSIFICATION"
    TABULAR_MULTI_CLASSIFICATION = "TABULAR_MULTI_CLASSIFICATION"
    TABULAR_REGRESSION = "TABULAR_REGRESSION"
    TABULAR_RANKING = "TABULAR_RANKING"
    UNKNOWN = "UNKNOWN"


class ModelVersion:
    def __init__(self, registry: "Registry", model: str, version: str) -> None:
        self._registry = registry
        self._model = model
        self._version = version

    def __repr__(self) -> str:
        return f"ModelVersion(\n  name='{self.model_name}',\n  version='{self.version_name}',\n)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelVersion) and (other._registry, other._model, other._version) == (
            self._registry, self._model, self._version)

    def __hash__(self) -> int:
        return hash((self._model, self._version))

    @property
    def _core(self) -> Any:
        return self._registry.model_registry

    @property
    def model_name(self) -> str:
        return ids.show(self._model)

    @property
    def version_name(self) -> str:
        return ids.show(self._version)

    @property
    def fully_qualified_model_name(self) -> str:
        return f"{self._registry.location}.{self.model_name}"

    # -- description -----------------------------------------------------------------------
    @property
    def description(self) -> str:
        return self._core.get_model_description(self._model, self._version) or ""

    @description.setter
    def description(self, description: str) -> None:
        self._core.set_model_description(self._model, self._version, description)

    comment = description

    # -- metrics ---------------------------------------------------------------------------
    def show_metrics(self) -> dict[str, Any]:
        return self._core.get_metrics(self._model, self._version)

    def get_metric(self, metric_name: str) -> Any:
        metrics = self.show_metrics()
        if metric_name not in metrics:
            raise KeyError(f"Cannot find metric with name {metric_name}.")
        return metrics[metric_name]

    def set_metric(self, metric_name: str, value: Any) -> None:
        self._core.set_metric(self._model, self._version, metric_name, value)

    def delete_metric(self, metric_name: str) -> None:
        try:
            self._core.remove_metric(self._model, self._version, metric_name)
        except NotFound:
            raise KeyError(f"Cannot find metric with name {metric_name}.") from None

    # -- aliases ---------------------------------------------------------------------------
    def set_alias(self, alias_name: str) -> None:
        alias, _ = ids.resolve(alias_name)
        self._core.set_alias(self._model, alias, self._version)

    def unset_alias(self, version_or_alias: str) -> None:
        alias, _ = ids.resolve(version_or_alias)
        self._core.unset_alias(self._model, alias)

    # -- functions -------------------------------------------------------------------------
    def _row(self) -> Any:
        return self._core.get_model(self._model, self._version)

    def show_functions(self) -> list[dict[str, Any]]:
        manifest = self._row().manifest
        sigs = manifest.get("signatures", {})
        return [{"name": m.upper(), "target_method": m, "target_method_function_type": "FUNCTION",
                 "signature": sigs.get(m, {}), "is_partitioned": False}
                for m in manifest.get("target_methods", [])]

    def _function(self, function_name: str | None) -> dict[str, Any]:
        functions = self.show_functions()
        if function_name:
            wanted, _ = ids.resolve(function_name)
            found = next((f for f in functions if f["name"] == wanted.upper()), None)
            if found is None:
                raise ValueError(f"There is no method with name {function_name} available in the model"
                                 f" {self.fully_qualified_model_name} version {self.version_name}")
            return found
        if len(functions) != 1:
            raise ValueError(f"There are more than 1 target methods available in the model "
                             f"{self.fully_qualified_model_name} version {self.version_name}. Please specify a "
                             "`function_name` when calling the `run` method.")
        return functions[0]

    def run(self, X: Any, *, function_name: str | None = None, **kwargs: Any) -> "pd.DataFrame":
        """Call a function of the model on a pandas DataFrame or a NumPy array (columns in
        the signature's order); the output columns, with a fresh index."""
        import numpy as np
        import pandas as pd

        if kwargs:
            raise TypeError(f"run() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        function = self._function(function_name)
        signature = function["signature"] or {}
        inputs = [s["name"] for s in signature.get("inputs", [])]
        outputs = [s["name"] for s in signature.get("outputs", [])]
        if isinstance(X, np.ndarray):
            X = pd.DataFrame(X.reshape(len(X), -1), columns=inputs or None)
        elif not isinstance(X, pd.DataFrame):
            raise ValueError(f"run() takes a pandas DataFrame or a NumPy array, not {type(X).__name__}")
        result = getattr(self.load(), function["target_method"])(X)
        if isinstance(result, pd.DataFrame):
            frame = result.reset_index(drop=True)
        else:
            values = np.asarray(result)
            values = values.reshape(len(values), -1)
            names = outputs if len(outputs) == values.shape[1] else [f"output_feature_{i}" for i in range(values.shape[1])]
            frame = pd.DataFrame(values, columns=names)
        return frame

    def load(self, *, force: bool = False, options: Any = None) -> Any:
        """The original Python object. Unpickling runs code from the package: load models
        only from registries you trust."""
        return self._core.load_model(self._model, self._version)

    def get_model_task(self) -> Task:
        """The task, inferred as snowflake-ml-python does for the frameworks it knows: a
        classifier's number of classes, a regressor, a ranker; UNKNOWN otherwise."""
        model = self.load()
        kind = type(model).__name__.lower()
        if "ranker" in kind:
            return Task.TABULAR_RANKING
        classes = getattr(model, "classes_", None)
        if classes is not None or "classifier" in kind:
            n = len(classes) if classes is not None else getattr(model, "n_classes_", 2)
            return Task.TABULAR_BINARY_CLASSIFICATION if n <= 2 else Task.TABULAR_MULTI_CLASSIFICATION
        if "regressor" in kind or "regression" in kind:
            return Task.TABULAR_REGRESSION
        return Task.UNKNOWN

    def export(self, target_path: Any, *, export_mode: Any = None) -> None:
        """Write the version's package to ``target_path`` (a new or empty directory) in
        snowflake-ml-python's model layout (see ``mlreg.registry.api.export``)."""
        from pathlib import Path

        from mlreg.registry.api import export
        from mlreg.runtime import loading

        path = Path(target_path)
        if path.is_file() or (path.is_dir() and any(path.iterdir())):
            raise ValueError(f"Target path {path} is a file or an non-empty folder.")
        row = self._row()
        package = loading.verified(self._core._core.package(row))
        export.write(package, row, self._model, path)
