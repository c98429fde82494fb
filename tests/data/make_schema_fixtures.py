"""Write the fixture registry of the current schema: tests/data/schemas/schema-<N>/.

    .venv/bin/python tests/data/make_schema_fixtures.py [--force]

Run it once when a schema version is released (when a migration is added to
``mlreg/store/migrations.py``) and commit its output; never regenerate an existing
fixture (``--force`` exists for a fixture that was never released). The fixture holds:

    MODEL_REGISTRY.duckdb.gz   the registry file, as this version of mlreg wrote it (gzip:
                               a DuckDB file is mostly empty blocks)
    stage/                     the model packages it references
    expected.json              what the registry held when it was written: models, tags,
                               metrics, descriptions, deployments, every event, and the
                               source hash of each released migration

tests/test_schema_migrations.py opens every fixture with the current code, upgrades it
with `create`, and checks that nothing was lost.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SIGNATURES = {
    "predict": {
        "inputs": [{"name": "a", "type": "DOUBLE"}, {"name": "b", "type": "DOUBLE"}],
        "outputs": [{"name": "y", "type": "DOUBLE"}],
    }
}


def migration_hashes() -> dict[str, str]:
    """sha256 of each migration's source, with the private helpers that belong to it
    (``_m002_*`` for ``m002_...``): a migration calls nothing else that could change."""
    from mlreg.store.duckdb import migrations

    out = {}
    for name, fn in migrations.MIGRATIONS:
        helpers = sorted(n for n in vars(migrations) if n.startswith(f"_{name[:4]}_"))
        source = inspect.getsource(fn) + "".join(inspect.getsource(getattr(migrations, n)) for n in helpers)
        out[name] = hashlib.sha256(source.encode()).hexdigest()
    return out


def snapshot(registry) -> dict:
    """Everything a later mlreg must still find, read through the public API."""
    models = {}
    for (name, version) in registry.list_models().select("NAME, VERSION").order("NAME, VERSION").fetchall():
        row = registry.get_model(name, version)
        models[f"{name}/{version}"] = {
            "id": row.id,
            "type": row.type,
            "files": row.files,
            "description": registry.get_model_description(name, version),
            "tags": registry.get_tags(name, version),
            "metrics": registry.get_metrics(name, version),
        }
    events = [
        list(e) for e in registry.get_history().select(
            "EVENT_ID, MODEL_NAME, MODEL_VERSION, ROLE, OPERATION, ATTRIBUTE_NAME, KEY, "
            "OLD_VALUE::VARCHAR, NEW_VALUE::VARCHAR, strftime(EVENT_TIMESTAMP AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f')"
        ).fetchall()
    ]
    deployments = sorted(
        [list(d) for d in registry.list_deployments().select("NAME, MODEL_NAME, MODEL_VERSION, PLATFORM, TARGET_METHOD").fetchall()]
    )
    return {"models": models, "events": events, "deployments": deployments}


def build(out: Path) -> None:
    import numpy as np

    import mlreg
    from mlreg import model_registry
    from mlreg.store.duckdb import migrations
    from tests.fixtures.models import SumModel

    work = Path(tempfile.mkdtemp(prefix="mlreg-schema-fixture-"))
    try:
        os.chdir(work)  # no git repository: CREATION_CONTEXT records none
        home = work / "home"
        session = mlreg.connect(home=home, stage=home / "stage", role="fixture")
        model_registry.create_model_registry(session)
        start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        ticks = iter(range(10_000))
        registry = model_registry.ModelRegistry(session, clock=lambda: start + timedelta(seconds=next(ticks)))

        registry.log_model(SumModel(), "churn", "1", signatures=SIGNATURES, description="first try",
                           tags={"stage": "testing", "owner": "ml-team"}, metrics={"auc": 0.81})
        registry.log_model(SumModel(), "churn", "2", signatures=SIGNATURES,
                           tags={"stage": "testing"}, metrics={"auc": 0.87, "confusion": np.array([[5, 1], [2, 7]])})
        registry.set_tag("churn", "2", "stage", "prod")
        registry.set_tag("churn", "1", "stage", "retired")
        registry.remove_tag("churn", "1", "owner")
        registry.set_model_description("churn", "2", "gradient boosting, 500 trees — ünïcode too")
        registry.set_metric("churn", "2", "weird", {"nan": float("nan"), "inf": float("inf"), "list": [1, "two", None]})
        registry.remove_metric("churn", "2", "auc")
        registry.set_metric("churn", "2", "auc", 0.88)
        registry.log_model(SumModel(), "price.model", "2024-01", signatures=SIGNATURES, tags={"k": "v=w"})
        registry.log_model(SumModel(), "scratch", "0", signatures=SIGNATURES, tags={"tmp": "yes"})
        registry.delete_model("scratch", "0")  # its history stays
        registry.deploy("churn", "2", "churn_predict", permanent=True)

        expected = snapshot(registry)
        expected["schema_version"] = migrations.SCHEMA_VERSION
        expected["migrations"] = migration_hashes()
        expected["mlreg_version"] = mlreg.__version__

        out.mkdir(parents=True)
        with open(registry.store.path, "rb") as src, gzip.GzipFile(out / "MODEL_REGISTRY.duckdb.gz", "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        shutil.copytree(home / "stage", out / "stage")
        (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True, allow_nan=True) + "\n")
    finally:
        os.chdir(REPO)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite an existing (never released!) fixture")
    args = parser.parse_args()
    from mlreg.store.duckdb.migrations import SCHEMA_VERSION

    out = Path(__file__).resolve().parent / "schemas" / f"schema-{SCHEMA_VERSION}"
    if out.exists():
        if not args.force:
            sys.exit(f"{out} exists: a released schema's fixture is never regenerated (use --force only if it was never released)")
        shutil.rmtree(out)
    warnings.simplefilter("ignore")
    build(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
