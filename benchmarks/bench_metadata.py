"""Workload 3: in-process metadata writes per second, single process.

mlreg: `ModelRegistry.set_tag` and `set_metric` on one model version (each is one locked,
durable transaction: flock, open, insert the event, commit, close); the same `set_tag`
calls inside `with registry.batch():` (the file stays attached between them: flock,
insert, commit); and `set_tags` with 5 pairs per call (one transaction, 5 events),
counted in pairs written per second. Peer: MLflow's
`MlflowClient.set_model_version_tag` on a SQLite registry. Floor: DuckDB itself doing
the same durable unit of work per call (open the file, insert one row, close).
Bound of a single write (a row of its own): DuckDB's least durable write that lets go of
the file (attach a copy of the registry file, insert one event, detach, which checkpoints)
on one in-memory DuckDB, as mlreg attaches. Bound of a write in a batch (a row of its own):
DuckDB's own statements for a durable write that keeps the current values beside its event,
on a kept attachment (insert the event, update the listing's row, commit), with nothing
looked up. Goal: mlreg's rate >= 2x MLflow's. Quick mode: 10 writes per run, 3 runs after
1 warm-up, and MLflow (importing it and its store cost seconds) left out unless
--peers once/all.
"""

from __future__ import annotations

import time

import duckdb

from harness import alternate, emit, fig, info, main_args, peer, peers_wanted, row, scratch, skipped_peer, speedup

import common


def main() -> None:
    args = main_args(__doc__.splitlines()[0])
    n = 10 if args.quick else 200
    tmp = scratch(args, "meta")
    reg = common.mlreg_registry(tmp / "reg")
    reg.log_model(common.TinyModel(), "m", "1", sample_input_data=common.sample_records())
    if peers_wanted(args):
        common.mlflow_db(tmp / "mlflow.db", tmp / "mlruns")
        client = common.mlflow_client(tmp / "mlflow.db")
        client.create_registered_model("m")
        mv = client.create_model_version("m", source=str(tmp / "src"))
    # the bound of a single write: DuckDB's own least durable write that lets go of the file
    # (attach, insert one event, detach with its checkpoint) on a copy of the registry file itself
    import shutil

    bound_db = str(tmp / "bound.duckdb")
    shutil.copyfile(next((tmp / "reg").rglob("*.duckdb")), bound_db)
    engine = duckdb.connect(":memory:")
    engine.execute("SET threads = 1")
    floor_db = str(tmp / "floor.duckdb")
    con = duckdb.connect(floor_db)
    con.execute("CREATE TABLE events (id BIGINT, k VARCHAR, v VARCHAR)")
    con.close()
    seq = iter(range(10**9))

    def rate(op) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            op(next(seq))
        return n / (time.perf_counter() - t0)

    def batched(op) -> float:
        with reg.batch():
            return rate(op)

    def floor_op(i: int) -> None:
        c = duckdb.connect(floor_db)
        c.execute("INSERT INTO events VALUES (?, ?, ?)", [i, "stage", f"s{i}"])
        c.close()

    def bound_op(i: int) -> None:
        engine.execute(f"ATTACH '{bound_db}' AS b (READ_WRITE)")
        engine.execute(
            "INSERT INTO b.events (event_timestamp, model_id, model_name, model_version, role, operation,"
            " attribute_name, key, old_value, new_value) VALUES (now(), 'x', 'm', '1', 'bench', 'SET', 'TAG',"
            " 'stage', NULL, ?)", [f'"s{i}"'])
        engine.execute("DETACH b")

    # the bound of a write in a batch: DuckDB's own statements for one durable write that keeps
    # the current values beside its event (what the listing reads), on a kept attachment of a
    # copy of the registry file, with the version row and its values known already
    batch_db = str(tmp / "batch-bound.duckdb")
    shutil.copyfile(next((tmp / "reg").rglob("*.duckdb")), batch_db)
    kept = duckdb.connect(":memory:")
    kept.execute("SET threads = 1")
    kept.execute(f"ATTACH '{batch_db}' AS k (READ_WRITE)")
    kept.execute("USE k")
    model_id = kept.execute("SELECT id FROM models").fetchone()[0]

    def batch_bound_op(i: int) -> None:
        kept.execute("BEGIN")
        kept.execute(
            "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
            " attribute_name, key, old_value, new_value) VALUES (now(), ?, 'm', '1', 'bench', 'SET', 'TAG',"
            " 'stage', NULL, ?)", [model_id, f'"s{i}"'])
        kept.execute("UPDATE listing SET tags = ? WHERE id = ?", [f'{{"stage":"s{i}"}}', model_id])
        kept.execute("COMMIT")

    cases = {
        "floor": lambda: rate(floor_op),
        "batch bound": lambda: rate(batch_bound_op),
        "bound": lambda: rate(bound_op),
        "set_tag": lambda: rate(lambda i: reg.set_tag("m", "1", "stage", f"s{i}")),
        "set_metric": lambda: rate(lambda i: reg.set_metric("m", "1", "accuracy", i / 1e9)),
        "batch": lambda: batched(lambda i: reg.set_tag("m", "1", "stage", f"b{i}")),
        "set_tags": lambda: rate(lambda i: reg.set_tags("m", "1", {f"k{j}": f"v{i}" for j in range(5)})) * 5,
        "mlflow": lambda: rate(lambda i: client.set_model_version_tag("m", mv.version, "stage", f"s{i}")),
    }
    if not peers_wanted(args):
        del cases["mlflow"]
    info(f"metadata: {n} writes per run, alternating ...")
    t = alternate(cases, runs=args.runs, warmup=args.cheap_warmup)
    f = {k: fig(v, unit="writes/s", better="higher") for k, v in t.items()}
    rows = []
    peer_name = "MLflow `set_model_version_tag` (SQLite)"
    for name, label in (("set_tag", "`set_tag`"), ("set_metric", "`set_metric`"),
                        ("batch", "`set_tag` in `registry.batch()`"), ("set_tags", "`set_tags`, 5 pairs a call (pairs/s)")):
        if "mlflow" not in f:  # quick mode without the peer: the goal cannot be judged
            rows.append(row(
                f"3. In-process metadata writes: {label}", f[name], f["floor"], "DuckDB open+insert+close",
                [skipped_peer(args, peer_name)], goal="≥ 2× MLflow's rate", passed=None))
            continue
        if name in ("set_tag", "set_metric"):
            bound = f"; {f[name]['median'] / f['bound']['median']:.2f}× the bound of a single write ({f['bound']['median']:.0f}/s)"
        elif name == "batch":
            bound = (f"; {f[name]['median'] / f['batch bound']['median']:.2f}× the bound of a write in a batch "
                     f"({f['batch bound']['median']:.0f}/s)")
        else:
            bound = ""
        s = speedup(f[name], f["mlflow"])
        rows.append(row(
            f"3. In-process metadata writes: {label}", f[name], f["floor"], "DuckDB open+insert+close",
            [peer(peer_name, f["mlflow"])],
            goal="≥ 2× MLflow's rate", passed=s >= 2,
            note=None if s >= 2 else f"{s:.2f}× MLflow's rate; the goal needs {2 * f['mlflow']['median']:.0f}/s{bound}",
        ))
    if "mlflow" in f:
        s = speedup(f["bound"], f["mlflow"])
        rows.append(row(
            "3. In-process metadata writes: bound of a single write (DuckDB itself: attach the registry file, "
            "insert one event, detach)", f["bound"], None, None, [peer(peer_name, f["mlflow"])],
            passed=None,
            note=f"{s:.2f}× MLflow's rate: what any write that commits durably and lets go of the file costs at "
                 "least on DuckDB",
        ))
    if "mlflow" in f:
        s = speedup(f["batch bound"], f["mlflow"])
        rows.append(row(
            "3. In-process metadata writes: bound of a write in a batch (DuckDB itself, on a kept attachment: "
            "insert the event, update the listing's row, commit)", f["batch bound"], None, None,
            [peer(peer_name, f["mlflow"])], passed=None,
            note=f"{s:.2f}× MLflow's rate: what a durable write that keeps the current values beside its event "
                 "costs at least on DuckDB, with nothing looked up",
        ))
    emit(rows, args)


if __name__ == "__main__":
    main()
