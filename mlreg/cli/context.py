"""Per-invocation state (the global options) and the one error funnel.

The root callback stores a :class:`State` in ``ctx.obj``; commands reach the session,
the registry and the output sink through it. Nothing here imports DuckDB or any
framework at import time: the registry is opened only by commands that need it.
"""

from __future__ import annotations

import functools
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import typer

from mlreg.cli.output import Output
from mlreg.cli.progress import bars
from mlreg.cli.terminal import silence_stdout
from mlreg.errors import MlregError

if TYPE_CHECKING:
    from mlreg.registry.registry import ModelRegistry
    from mlreg.session import Session

F = TypeVar("F", bound=Callable[..., Any])

#: exit code of a broken output pipe (`mlreg list | head -1`): the reader chose to stop
BROKEN_PIPE_EXIT = 0


@dataclass
class State:
    """The global options of one invocation."""

    connection: str | None = None
    home: str | Path | None = None
    stage: str | None = None
    database: str | None = None
    role: str | None = None
    schema: str | None = None
    quiet: bool = False
    verbose: bool = False
    out: Output = field(default_factory=Output)

    def session(self) -> "Session":
        import mlreg

        return mlreg.connect(home=self.home, stage=self.stage, database=self.database,
                             role=self.role, connection=self.connection, schema=self.schema)

    def registry(self) -> "ModelRegistry":
        from mlreg.store import prepare

        session = self.session()
        prepare(session.store_url())  # DuckDB starts in the background while the registry loads
        from mlreg.model_registry import ModelRegistry

        return ModelRegistry(session=session, database_name=session.database, schema_name=session.schema)


def get_state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


def _show_warning(out: Output) -> Callable[..., None]:
    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = str(message).strip().splitlines()
        out.warning(text[0] if text else category.__name__)

    return show


def funnel(func: F) -> F:
    """Run a command: every MlregError becomes ``Error: <message>`` on stderr and its exit
    code; Python warnings become one ``Warning: ...`` line; a closed stdout pipe ends the
    command quietly; stage transfers draw progress bars on a terminal (not with --quiet).
    ``--verbose`` adds the traceback. Commands take ``ctx`` first."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx") or next((a for a in args if isinstance(a, typer.Context)), None)
        state = get_state(ctx) if ctx is not None else State()
        out = state.out
        try:
            # catch_warnings: Python's filters stay (no DeprecationWarning noise)
            with warnings.catch_warnings(), bars(state.quiet):
                warnings.showwarning = _show_warning(out)
                result = func(*args, **kwargs)
                sys.stdout.flush()
                return result
        except MlregError as exc:
            if state.verbose:
                _print_traceback(state)
            out.error(_one_line(exc.message))
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            silence_stdout()
            raise typer.Exit(BROKEN_PIPE_EXIT) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug, or an OS error nobody translated
            if state.verbose:
                _print_traceback(state)
            hint = "" if state.verbose else " (run with --verbose for the traceback)"
            out.error(f"{type(exc).__name__}: {_one_line(str(exc))}{hint}")
            raise typer.Exit(1) from None

    return run  # type: ignore[return-value]


#: ``user:password@`` in a URL, or in what a library made of one (``KEY:SECRET@bucket``)
_URL_PASSWORD = re.compile(r"(?P<user>[^\s/:@'\"]+):(?P<password>[^\s/@'\"]+)@")


def _print_traceback(state: State) -> None:
    """The traceback of the exception being handled, every secret mlreg knows of (and
    any password written into a URL) replaced by ``***``: libraries' own messages, chained
    below ours, may quote a URL or an option as given."""
    import traceback

    text = traceback.format_exc()
    for secret in _known_secrets(state):
        text = text.replace(secret, "***")
    sys.stderr.write(_URL_PASSWORD.sub(lambda m: f"{m['user']}:***@", text))


def _known_secrets(state: State) -> list[str]:
    """The secrets of this invocation's settings (stage URL password, secret stage
    options, the PostgreSQL password) and of the environment, longest first."""
    import os
    from urllib.parse import urlsplit

    from mlreg.redaction import SECRET_ENV_HINTS, secret_values

    found = [v for k, v in os.environ.items() if any(h in k.upper() for h in SECRET_ENV_HINTS) and len(v) >= 3]
    try:
        settings = state.session().settings
    except MlregError:  # the settings are what failed: the environment is all there is to hide
        return sorted(set(found), key=len, reverse=True)
    found += secret_values(settings.stage_options)
    for url in (settings.stage, str(settings.home)):
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    if settings.home_password:
        found.append(settings.home_password)
    return sorted({s for s in found if s}, key=len, reverse=True)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else "unknown error"
