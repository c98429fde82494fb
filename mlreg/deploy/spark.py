"""The SPARK platform: a model's target method scored by Spark executors.

Deploying records the deployment (like a warehouse one) after checking what can be
checked on the driver: the method has a signature, the package matches its checksums
(nothing is unpickled) and this environment matches the one the model was logged in
(unless ``relax_version``). Nothing runs until data comes: ``predict`` with a Spark
DataFrame returns a Spark DataFrame; `mlreg predict` (``predict_path``) reads and writes
files through a Spark session it starts; ``mlreg.spark.register_functions`` makes
permanent Spark deployments SQL functions of a session. pyspark is imported only there.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping

from mlreg.deploy.base import Deployment, Platform, PlatformContext
from mlreg.deploy.options import check_known, parse_bool
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import InvalidInput
from mlreg.runtime import loading
from mlreg.runtime.spec import ScoringSpec

DEFAULTS: dict[str, Any] = {
    "output_with_input_features": False,
    "keep_order": True,
    "relax_version": False,
    "replace_udf": False,
}


class SparkPlatform(Platform):
    platform = TargetPlatform.SPARK

    def check_options(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        check_known(options, DEFAULTS, "spark")
        recorded = dict(DEFAULTS)
        for name, value in options.items():
            recorded[name] = parse_bool(name, value)
        return recorded, {}

    def create(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment,
               secrets: dict[str, Any]) -> dict[str, Any]:
        from mlreg.deploy.warehouse import EnvironmentMismatch

        spec.model_signature()  # no signature: refused
        diffs = loading.environment_differences(spec.package)
        if diffs and not deployment.options.get("relax_version"):
            raise EnvironmentMismatch(
                f"cannot deploy {spec.package.label}: this environment differs from the one it was logged in: "
                + "; ".join(diffs)
                + ". Install the recorded versions, or pass options={'relax_version': True} "
                "(--option relax_version=true) to deploy anyway"
            )
        if diffs:
            warnings.warn(
                f"deploying {spec.package.label} as {deployment.name} although this environment differs from "
                "the one it was logged in (relax_version): " + "; ".join(diffs),
                loading.EnvironmentWarning,
                stacklevel=4,
            )
        loading.verified(spec.package)  # a changed package is refused now, not on every executor
        details: dict[str, Any] = {"function": deployment.name}
        if diffs:
            details["environment_differences"] = diffs
        return details

    def predict(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, data: Any) -> Any:
        from mlreg.spark import frames

        if not frames.is_spark_frame(data):
            raise InvalidInput(
                f"deployment {deployment.name} is a spark deployment: pass a Spark DataFrame, not "
                f"{type(data).__name__} (for files: `mlreg predict {deployment.name} --input PATH --output PATH`)"
            )
        return frames.predict(spec, data, bool(deployment.options.get("output_with_input_features")))

    def predict_file(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, source: Path,
                     output: Path, output_format: str | None = None) -> int:
        return self.predict_path(ctx, spec, deployment, str(source), str(output), output_format)

    def predict_path(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, source: str,
                     output: str, output_format: str | None = None, master: str | None = None,
                     conf: Mapping[str, str] | None = None) -> int:
        """Score a file or directory into ``output`` (a directory of parts, as Spark writes,
        put in place when complete) on a Spark session of ``master``; returns the rows written."""
        from mlreg.spark import frames, session

        fmt = output_format or frames.format_of(output, "output")
        spark = session.start(master or session.DEFAULT_MASTER, conf)
        with session.executor_errors():
            df = frames.read(spark, source)
            scored = frames.predict(spec, df, bool(deployment.options.get("output_with_input_features")))
            frames.write(scored, output, fmt)
            return frames.read(spark, output).count()

    def delete(self, ctx: PlatformContext, deployment: Deployment) -> None:
        """Nothing runs between calls: the record is all there is."""
