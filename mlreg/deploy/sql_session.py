"""`mlreg sql` and ``registry.sql``: DuckDB SQL over copies of the registry's lists, with
every permanent warehouse deployment registered as a function (``mlreg.deploy.warehouse``
makes the deployments; this module runs the queries that call them).

The query runs on an in-memory DuckDB of its own, locked down: only the statements of
``SQL_STATEMENTS``, no extension installed on the fly, no setting changed by the query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from mlreg.data import readers
from mlreg.deploy import frames, sql_functions
from mlreg.deploy.base import Deployment
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import InvalidInput, MlregError
from mlreg.runtime.scorer import Scorer, scorer_for
from mlreg.runtime.spec import ScoringSpec

if TYPE_CHECKING:
    import duckdb


def register_functions(con: "duckdb.DuckDBPyConnection",
                       deployments: Iterable[tuple[Deployment, Callable[[], ScoringSpec]]],
                       failures: list[BaseException] | None = None) -> list[str]:
    """Register each warehouse deployment as a function of ``con``. Each gets its scoring
    spec and loads its model on first call (only the functions a query uses cost a model
    load). mlreg errors raised inside a function (a bad input, a changed package) are
    appended to ``failures``, so the caller can raise them rather than DuckDB's wrapping
    of them. Returns the names registered."""
    from mlreg.model_signature import ModelSignature

    names = []
    for dep, spec_of in deployments:
        if dep.platform is not TargetPlatform.WAREHOUSE:
            continue
        signature = ModelSignature.from_dict(dep.signature)

        def load(spec_of: Callable[[], ScoringSpec] = spec_of) -> Scorer:
            try:
                return scorer_for(spec_of())
            except MlregError as e:
                if failures is not None:
                    failures.append(e)
                raise

        sql_functions.register(con, dep.name, sql_functions.lazy_body(load, len(signature.inputs), failures), signature)
        names.append(dep.name)
    return names


def run_sql(query: str, tables: dict[str, Any], functions: Iterable[tuple[Deployment, Callable[[], ScoringSpec]]]) -> Any:
    """Run DuckDB SQL with ``tables`` (name -> relation, copied in: changing them changes
    nothing outside) and every warehouse deployment of ``functions`` as a function.
    Returns the result of the last statement, materialized, or None when it has none."""
    import duckdb

    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("the SQL query is empty")
    check_statements(query)
    con = readers.connect()
    for name, rel in tables.items():
        _copy_table(con, name, rel)
    failures: list[BaseException] = []
    register_functions(con, functions, failures)
    _lock_down(con)
    try:
        result = con.sql(query)
        if result is None:
            return None
        result.to_table("result")
    except duckdb.Error as e:
        if failures:  # raised by a deployment's function: ours, with its own exit code
            raise failures[0] from None
        raise InvalidInput(f"SQL error: {_udf_message(readers.first_line(e))}") from None
    return con.table("result")


#: what `mlreg sql` runs: queries, and statements on its own in-memory database. Not ATTACH,
#: DETACH, COPY, EXPORT, INSTALL/LOAD, SET, PRAGMA, CALL (CHECKPOINT), VACUUM: nothing that
#: could open the registry (or another database) or write a file.
SQL_STATEMENTS = frozenset({
    "SELECT", "EXPLAIN", "CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "PREPARE", "EXECUTE",
    "VARIABLE_SET", "MERGE_INTO", "TRANSACTION", "RELATION",
})


def check_statements(query: str) -> None:
    """Refuse (InvalidInput) a statement `mlreg sql` does not run, before running any."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as e:
        raise InvalidInput(f"SQL error: {readers.first_line(e)}") from None
    for statement in statements:
        kind = statement.type.name
        if kind not in SQL_STATEMENTS:
            shown = "INSTALL/LOAD" if kind == "LOAD" else kind.replace("_", " ")
            raise InvalidInput(
                f"mlreg sql runs queries on copies of the registry's lists and does not run {shown} statements "
                "(it never attaches a database, writes a file or changes a setting)"
            )


def _lock_down(con: "duckdb.DuckDBPyConnection") -> None:
    """No extension installed on the fly, no persistent secret, no setting changed by the query."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET allow_persistent_secrets = false")
    con.execute("SET lock_configuration = true")


def _copy_table(con: "duckdb.DuckDBPyConnection", name: str, rel: "duckdb.DuckDBPyRelation") -> None:
    """A relation of another connection as a table of ``con``, JSON columns kept JSON."""
    con.register("_source", rel.to_arrow_table())
    cols = ", ".join(
        f"CAST({frames.quote_ident(c)} AS JSON) AS {frames.quote_ident(c)}" if str(t) == "JSON" else frames.quote_ident(c)
        for c, t in zip(rel.columns, rel.types)
    )
    con.execute(f"CREATE TABLE {frames.quote_ident(name)} AS SELECT {cols} FROM _source")
    con.unregister("_source")


def _udf_message(text: str) -> str:
    """DuckDB's wrapping of an exception raised in a deployment's function, unwrapped."""
    marker = "Python exception occurred while executing the UDF: "
    if marker in text:
        text = text.split(marker, 1)[1]
        for prefix in ("InvalidInput: ", "NotFound: ", "IntegrityError: "):
            text = text.removeprefix(prefix)
    return text
