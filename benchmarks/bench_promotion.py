"""Promotion in CI: fresh-process times of `mlreg gate` and `mlreg promote` against
`mlreg tag set` (goal <= 1.3x), and `mlreg list --as-of` against plain `mlreg list`
(goal <= 2x).

`gate` checks a policy of four rules (metrics, a tag, the alias holder's metric) over one
version; `promote` moves an alias (policy checked, compare-and-set) back and forth between
two versions; `tag set` is the floor: the same fresh process and one durable write.
The listing pair runs on a bulk-loaded registry (full: 100,000 versions, 1,000,000 events;
quick: 1,000 versions, 10,000 events), as of a moment after every event. Quick mode: 5 runs after 1 warm-up.
"""

from __future__ import annotations

from harness import bin_path, emit, fig, info, main_args, quick_runs, ratio, row, scratch, time_commands

import common

POLICY = """[rules]
accurate = "metric.accuracy >= 0.5"
reviewed = "tag.reviewed == 'yes'"
no_worse = "not alias.prod.exists or metric.accuracy >= alias.prod.metric.accuracy - 0.5"
fresh = "age < 365d"
"""


def _events(home, per_version: int) -> None:
    """Add ``per_version`` tag events to every version (after its registration)."""
    from mlreg.store.duckdb import attributes

    reg = common.mlreg_registry(home)
    with reg.store.file.write() as con:
        con.execute(
            """
            INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,
                                attribute_name, key, old_value, new_value)
            SELECT m.creation_time + to_milliseconds(1 + t.i), m.id, m.name, m.version, 'bench', 'SET', 'TAG',
                   'round', NULL, to_json('r' || t.i::VARCHAR)
            FROM models m, range(?) t(i)
            """, [per_version])
        attributes.rebuild(con)  # the current values the plain listing reads, as the events say


def main() -> None:
    args = main_args(__doc__.splitlines()[0])
    quick_runs(args, 5)
    tmp = scratch(args, "promotion")
    mlreg = bin_path("mlreg")

    home = tmp / "reg"
    reg = common.mlreg_registry(home)
    for v in ("1", "2"):
        reg.log_model(common.TinyModel(), "m", v, sample_input_data=common.sample_records(),
                      tags={"reviewed": "yes"}, metrics={"accuracy": 0.9})
    policy = tmp / "policy.toml"
    policy.write_text(POLICY)
    env = common.mlreg_env(home)
    commands = {
        "tag set": [mlreg, "tag", "set", "m", "1", "stage", "candidate"],
        "gate": [mlreg, "gate", "m", "1", "--policy", str(policy)],
    }
    if common.cli_has("promote"):
        commands["promote"] = [mlreg, "promote", "m", "2", "--to", "prod", "--policy", str(policy)]
    info("promotion: timing fresh processes, alternating ...")
    t = time_commands(commands, runs=args.runs, warmup=args.cheap_warmup, env=env, cwd=tmp)
    f = {k: fig(v) for k, v in t.items()}
    rows = []
    for name in ("gate", "promote"):
        if name in f:
            r = ratio(f[name], f["tag set"])
            rows.append(row(f"Promotion: `mlreg {name}` (fresh process)", f[name], f["tag set"], "`mlreg tag set`", [],
                            goal="≤ 1.3× `tag set`", passed=r <= 1.3,
                            note=None if r <= 1.3 else f"{r:.2f}× `tag set`"))

    models, versions, per_version = (10, 100, 4) if args.quick else (100, 1000, 4)
    big = tmp / "big"
    info(f"promotion: bulk-loading {models * versions:,} versions and ~{models * versions * (per_version + 6):,} events ...")
    common.bulk_load_mlreg(big, models, versions)
    _events(big, per_version)
    benv = common.mlreg_env(big)
    t = time_commands({
        "list": [mlreg, "list", "--format", "csv", "--columns", "NAME,VERSION,TAGS"],
        "list --as-of": [mlreg, "list", "--as-of", "2100-01-01", "--format", "csv", "--columns", "NAME,VERSION,TAGS"],
    }, runs=args.runs, warmup=args.cheap_warmup, env=benv, cwd=tmp)
    g = {k: fig(v) for k, v in t.items()}
    r = ratio(g["list --as-of"], g["list"])
    rows.append(row(f"Promotion: `mlreg list --as-of`, {models * versions:,} versions", g["list --as-of"], g["list"],
                    "`mlreg list`", [], goal="≤ 2× plain `list`", passed=r <= 2,
                    note=None if r <= 2 else f"{r:.2f}× plain `list`"))
    emit(rows, args)


if __name__ == "__main__":
    main()
