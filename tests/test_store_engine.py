"""The process's DuckDB engine made in the background (``engine.start``): each case runs in
a fresh process, where no engine exists yet."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.fixtures.cli import subprocess_env


def _python(code: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_start_makes_the_engine_in_a_thread_that_engine_then_hands_out():
    out = _python("""
        from mlreg.store.duckdb import engine
        engine.start()
        thread = engine._STARTING[0]
        engine.start()  # already being made: nothing more
        assert engine._STARTING[0] is thread and thread.name == "mlreg-duckdb-start" and not thread.daemon
        con = engine.engine()
        assert not thread.is_alive() and engine._STARTING is None and engine.engine() is con
        print(con.execute("SELECT 42, current_setting('threads')").fetchone())
    """).stdout
    assert out == "(42, 1)\n"


def test_an_error_while_starting_is_raised_unchanged_where_the_engine_is_wanted():
    out = _python("""
        import duckdb
        from mlreg.store.duckdb import engine
        real = engine._new_engine
        def fail():
            raise duckdb.OutOfMemoryException("no room for an instance")
        engine._new_engine = fail
        engine.start()
        try:
            engine.engine()
        except duckdb.OutOfMemoryException as exc:
            print(exc)
        engine._new_engine = real
        print(engine.engine().execute("SELECT 1").fetchone())  # the next call makes one
    """).stdout
    assert out == "no room for an instance\n(1,)\n"


def test_a_forked_child_makes_its_own_engine_and_leaves_the_parents_start_alone():
    out = _python("""
        import os
        from mlreg.store.duckdb import engine
        engine.start()
        pid = os.fork()
        if pid == 0:  # the parent's thread does not exist here: no join, a new instance
            code = 0 if engine.engine().execute("SELECT 7").fetchone() == (7,) else 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), engine.engine().execute("SELECT 8").fetchone())
    """).stdout
    assert out == "0 (8,)\n"


def test_mlreg_list_starts_duckdb_before_typer_and_the_registry_load(logged):
    """The instance's start (≈ 20 ms) overlaps loading Typer, the command and the registry:
    DuckDB and its engine are imported first (``mlreg.cli.early``), the rest after."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlreg", "list"], capture_output=True,
                          text=True, env=subprocess_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    order = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert order.index("mlreg.store.duckdb.engine") < order.index("typer")
    assert order.index("mlreg.store.duckdb.engine") < order.index("mlreg.records")
    assert order.index("mlreg.store.duckdb.engine") < order.index("mlreg.registry.registry")
