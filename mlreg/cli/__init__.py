"""The ``mlreg`` command line (Typer). See ``mlreg.cli.app``.

Writing a command module: put it in ``mlreg/cli/commands/``, expose
``register(app: typer.Typer)``, add its name to ``COMMAND_MODULES`` in ``app.py`` and
run ``make docs``, which regenerates the command table (``command_index.py``) that the
root group lists commands from without importing them (``lazy.py``).
Each command takes ``ctx: typer.Context`` first and is wrapped in
``mlreg.cli.context.funnel`` (errors, warnings, broken pipes); it reaches the core
through ``get_state(ctx).registry()`` / ``.session()``, makes one call, and renders
with ``get_state(ctx).out`` and the shared ``--format`` option (``params.FormatOpt``).
Import DuckDB, pandas, numpy and frameworks inside the command, never at module level.
"""
