#!/usr/bin/env python3
"""Generate the shell completion scripts, man pages and the command table from the
mlreg Typer app.

    python scripts/gen_docs.py [OUTDIR]      (default: the repository root)

writes OUTDIR/completions/{mlreg.bash,_mlreg,mlreg.fish}, OUTDIR/man/mlreg.1 and one
OUTDIR/man/mlreg-<command>.1 per command (a command group such as `tag` gets one
page that documents each of its subcommands), OUTDIR/mlreg/cli/command_index.py,
the table of commands the root group lists and loads them from (see mlreg/cli/lazy.py),
and OUTDIR/mlreg/cli/root_help.py, `mlreg --help` as Typer prints it off a terminal
(see mlreg/cli/entry.py).
The output depends only on the app, so tests/test_cli_docs.py regenerates it and
compares it with the committed files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import typer  # noqa: E402

from mlreg._version import __version__  # noqa: E402
from mlreg.cli.app import COMMAND_MODULES, MlregGroup, app  # noqa: E402
from mlreg.cli.entry import COMPLETE_VAR  # noqa: E402
from mlreg.cli.lazy import Entry, build_index  # noqa: E402

PROG = "mlreg"
#: the date on every page; bump it with a release (a date from the clock would make the
#: committed pages drift every day)
MANUAL_DATE = "2026-11-29"
COMPLETIONS = {"bash": "mlreg.bash", "zsh": "_mlreg", "fish": "mlreg.fish"}

EXIT_CODES = [
    ("0", "Success."),
    ("1", "Error: invalid input (a bad name, value or file), or any other failure."),
    ("2", "Usage error: a missing or unknown option or argument, malformed KEY=VALUE, an invalid "
          "--where, --order-by or --columns expression, delete without --yes when stdin is not a terminal."),
    ("3", "Not found: the registry, a model version, a tag, a metric, a deployment or a connection."),
    ("4", "Already exists: the model version (or deployment) is registered already; or a promotion lost a race (the alias moved, or was not where --expect said)."),
    ("5", "Registry busy: the registry lock was not acquired within MLREG_LOCK_TIMEOUT seconds."),
    ("6", "Integrity failure: a package file changed, missing or extra (verify), or a corrupt registry."),
    ("7", "Gate failed: a policy rule did not pass (gate, promote, a protected alias)."),
    ("130", "Interrupted (Ctrl-C)."),
]
ENVIRONMENT = [
    ("MLREG_HOME", "Directory that holds the registry files (like --home). Default: the nearest .mlreg "
                   "directory at or above the working directory, else ./.mlreg."),
    ("MLREG_STAGE", "Stage directory or fsspec URL for model packages (like --stage). Default: <home>/stage."),
    ("MLREG_DATABASE", "Registry name (like --database). Default: MODEL_REGISTRY."),
    ("MLREG_SCHEMA", "Schema of the database (like --schema); each schema is a separate registry. Default: PUBLIC."),
    ("MLREG_ROLE", "Who acts, recorded with every change (like --role). Default: the OS user name."),
    ("MLREG_CONNECTION", "Named connection of the config file to use (like --connection)."),
    ("MLREG_CONFIG", "Path of the config file. Default: $XDG_CONFIG_HOME/mlreg/config.toml."),
    ("MLREG_LOCK_TIMEOUT", "Seconds to wait for the registry lock before exiting 5. Default: 30."),
    ("NO_COLOR", "When set, no colour and no progress bars, even on a terminal."),
    ("MLREG_CACHE_DIR", "Download cache of remote stages. Default: $XDG_CACHE_HOME/mlreg (~/.cache/mlreg)."),
    ("MLREG_CACHE_MAX_BYTES", "Size cap of the download cache (e.g. 5G). Default: 5 GiB."),
    ("MLREG_SERVICE_TOKEN", "Bearer token for a service deployed with auth_token (predict from another process, mlreg serve). Never recorded."),
    ("MLREG_SERVICE_HOST, MLREG_SERVICE_PORT, MLREG_SERVICE_WORKERS", "Defaults of mlreg serve --host, --port and --workers."),
    ("XDG_CONFIG_HOME", "Base directory of the config file. Default: ~/.config."),
]
FILES = [
    ("$MLREG_CONFIG, $XDG_CONFIG_HOME/mlreg/config.toml, ~/.config/mlreg/config.toml",
     "Config file (TOML): default_connection, and [connections.NAME] tables with home, stage, "
     "database, role and [connections.NAME.stage_options] (passed to fsspec). A file that holds a "
     "secret and is readable by others gets a warning."),
    ("mlreg.toml, or [tool.mlreg] in pyproject.toml",
     "Project file, in the working directory or its nearest parent: the same settings as a connection."),
    ("<home>/<DATABASE>.duckdb", "The registry (DuckDB)."),
    ("<home>/<DATABASE>.duckdb.lock", "Lock file: every write holds it for one short transaction."),
    ("<stage>/<DATABASE>/<ID>/", "A model package: MANIFEST.json, model/, code/, env/."),
]
RESOLUTION = ("Settings resolve in this order: command-line option, environment variable, the named "
              "connection of the config file (--connection, else MLREG_CONNECTION, else "
              "default_connection), the project file, defaults.")
FORMATS = ("Commands that print data take --format table|json|jsonl|csv|tsv|markdown. Data goes to "
           "stdout; messages, warnings and errors go to stderr. table is aligned text (a Rich table on "
           "a terminal); json is one document: an array of objects for tables, an object for one "
           "record, tags or metrics, the bare value for one value; jsonl is one compact object per line; "
           "markdown is a GitHub table for CI job summaries. JSON keys are the column names in upper "
           "case; timestamps are ISO 8601 with a UTC offset; NaN and infinities are written NaN, "
           "Infinity and -Infinity.")
ERRORS = ("An error is one line on stderr, \"Error: ...\", and a documented exit code; --verbose adds "
          "the Python traceback. Python warnings are one line each, \"Warning: ...\". --quiet silences "
          "messages and warnings, not errors. A closed output pipe (mlreg list | head -1) ends mlreg "
          "quietly with exit code 0.")


# -- roff -------------------------------------------------------------------------------------
def esc(text: str) -> str:
    """Escape running text for roff."""
    text = text.replace("\\", "\\e")
    text = "".join(ch if ord(ch) < 128 else f"\\[u{ord(ch):04X}]" for ch in text)
    text = re.sub(r"(?<![A-Za-z0-9])-", r"\\-", text)  # options and negatives, not hyphenated words
    return text


def line(text: str) -> str:
    """Running text as roff input lines of at most 80 bytes (mandoc's style check)."""
    wrapped = textwrap.wrap(esc(" ".join(text.split())), width=78, break_long_words=False,
                            break_on_hyphens=False) or [""]
    return "\n".join("\\&" + w if w.startswith((".", "'")) else w for w in wrapped)


def literal(text: str) -> str:
    """One line of a no-fill (.nf) block: escaped, not wrapped."""
    text = esc(text)
    return "\\&" + text if text.startswith((".", "'")) else text


def paragraphs(text: str, first: bool = False) -> list[str]:
    """Help text → roff paragraphs (Click's \\b no-rewrap markers dropped). ``first``: right
    after a section heading, where a paragraph macro is redundant."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", (text or "").strip("\n")):
        para = para.replace("\b", "").rstrip()
        if not para.strip():
            continue
        lines = para.splitlines()
        if all(ln.startswith("    ") for ln in lines):  # an indented example: keep it as typed
            out += [".PP", ".nf", *[literal("    " + ln.strip()) for ln in lines], ".fi"]
        else:
            out += [".PP", line(para)]
    return out[1:] if first and out else out


def bold(text: str) -> str:
    return f"\\fB{esc(text)}\\fR"


def ital(text: str) -> str:
    return f"\\fI{esc(text)}\\fR"


# -- the command tree ---------------------------------------------------------------------------
def walk(cmd: Any, ctx: Any) -> Iterator[tuple[list[str], Any, Any]]:
    """(path, command, context) of every subcommand, depth first, in help order."""
    for name in cmd.list_commands(ctx):
        sub = cmd.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = typer.Context(sub, parent=ctx, info_name=name)
        yield [name], sub, sub_ctx
        if hasattr(sub, "list_commands"):
            for path, c, cctx in walk(sub, sub_ctx):
                yield [name, *path], c, cctx


def short(cmd: Any) -> str:
    return cmd.get_short_help_str(limit=200).rstrip(".")


def metavar(param: Any, ctx: Any) -> str:
    if param.metavar:
        return param.metavar
    choices = (getattr(getattr(param, "type_descriptor", None), "choices", None)  # typer 0.29
               or getattr(getattr(param, "type", None), "choices", None))  # a click Choice
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    return param.name.upper()


def default_of(param: Any) -> str | None:
    if isinstance(getattr(param, "show_default", None), str):  # a described default
        return param.show_default
    if getattr(param, "is_flag", False) or param.required or param.default is None:
        return None
    value = getattr(param.default, "value", param.default)
    return None if value in ((), [], "") else str(value)


def param_items(params: list[Any], ctx: Any, kind: str) -> list[str]:
    out: list[str] = []
    for p in params:
        if p.hidden or (p.param_type_name == "argument") != (kind == "argument"):
            continue
        if kind == "argument":
            head = ital(metavar(p, ctx))
        else:
            opts = sorted(p.opts + p.secondary_opts, key=lambda o: (o.startswith("--"), o))
            head = ", ".join(bold(o) for o in opts)
            if not getattr(p, "is_flag", False):
                head += " " + ital(metavar(p, ctx))
        notes = []
        if p.required:
            notes.append("Required.")
        if getattr(p, "multiple", False) and "repeat" not in (p.help or "").lower():
            notes.append("Repeatable.")
        default = default_of(p)
        if default is not None:
            notes.append(f"Default: {default}.")
        if p.envvar:
            notes.append(f"Environment: {', '.join(envvars(p))}.")
        help_text = " ".join(((p.help or "").strip() + " " + " ".join(notes)).split())
        out += [".TP", head, line(help_text)]
    return out


def envvars(param: Any) -> list[str]:
    env = param.envvar or []
    return [env] if isinstance(env, str) else list(env)


def option_envvars(root: Any, ctx: Any) -> list[tuple[str, str]]:
    """Environment variables that stand in for a command's option (e.g. mlreg serve --port)."""
    out = []
    for path, cmd, _ in walk(root, ctx):
        for p in getattr(cmd, "params", []):
            for var in envvars(p):
                out.append((var, f"Default of mlreg {' '.join(path)} {max(p.opts, key=len)}; see mlreg-{path[0]}(1)."))
    return out


def usage_line(path: list[str], cmd: Any, ctx: Any) -> str:
    """Click's usage pieces, with Typer's {REQUIRED} braces dropped."""
    pieces = [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in cmd.collect_usage_pieces(ctx)]
    return " ".join([PROG, "[GLOBAL OPTIONS]", *path, *pieces])


# -- pages ---------------------------------------------------------------------------------------
def header(title: str, description: str) -> list[str]:
    return [
        f'.TH {esc(title.upper())} 1 {MANUAL_DATE} "{PROG} {__version__}" "mlreg manual"',
        ".nh",  # never hyphenate names such as MLREG_LOCK_TIMEOUT
        ".ad l",
        ".SH NAME",
        line(f"{title} - {description}"),
    ]


def section(title: str, items: list[tuple[str, str]], ital_head: bool = False) -> list[str]:
    out = [f".SH {title}"]
    for head, text in items:
        out += [".TP", (ital if ital_head else bold)(head), line(text)]
    return out


def command_body(path: list[str], cmd: Any, ctx: Any, labels: bool = False) -> list[str]:
    """Description, arguments and options of one command. ``labels``: inside a group's
    page, where they are paragraphs of a subsection rather than sections."""
    out = paragraphs(cmd.help or "", first=not labels)
    for kind, title in (("argument", "ARGUMENTS"), ("option", "OPTIONS")):
        items = param_items(cmd.params, ctx, kind)
        if items:
            out += [".PP", f"\\fB{title.capitalize()}:\\fR", *items] if labels else [f".SH {title}", *items]
    return out


def command_page(path: list[str], cmd: Any, ctx: Any) -> str:
    name = "-".join([PROG, *path])
    summary = short(cmd)
    out = header(name, summary[:1].lower() + summary[1:])
    if hasattr(cmd, "list_commands"):  # a group: one subsection per subcommand
        subs = [(n, cmd.get_command(ctx, n)) for n in cmd.list_commands(ctx)]
        subs = [(n, c, typer.Context(c, parent=ctx, info_name=n)) for n, c in subs if c is not None and not c.hidden]
        out += [".SH SYNOPSIS", ".nf"]
        out += [literal(usage_line([*path, n], c, cctx)) for n, c, cctx in subs] + [".fi"]
        out += [".SH DESCRIPTION", *paragraphs(cmd.help or "", first=True)]
        out += [".SH COMMANDS"]
        for n, c, cctx in subs:
            out += [f'.SS "{esc(" ".join([*path, n]))}"', ".nf", literal(usage_line([*path, n], c, cctx)), ".fi"]
            out += command_body([*path, n], c, cctx, labels=True)
    else:
        out += [".SH SYNOPSIS", ".nf", literal(usage_line(path, cmd, ctx)), ".fi"]
        body = command_body(path, cmd, ctx)
        out += [".SH DESCRIPTION", *body]
    out += [".SH EXIT STATUS", line("0 success, 1 error, 2 usage error, 3 not found, 4 already exists, "
                                     "5 registry busy, 6 integrity failure, 7 gate failed, 130 interrupted; see mlreg(1).")]
    out += [".SH SEE ALSO", f"{bold(PROG)}(1)"]
    return "\n".join(out) + "\n"


def root_page(root: Any, ctx: Any) -> str:
    out = header(PROG, "a model registry that lives in a file")
    out += [".SH SYNOPSIS", ".nf", literal(f"{PROG} [GLOBAL OPTIONS] COMMAND [ARGS]..."), ".fi"]
    out += [".SH DESCRIPTION", *paragraphs(root.help or "", first=True)]
    out += paragraphs("Every command has its own page, mlreg-COMMAND(1), and its own -h/--help.")
    out += [".SH GLOBAL OPTIONS", *param_items(root.params, ctx, "option")]
    out += [".SH COMMANDS"]
    for path, cmd, _ in walk(root, ctx):
        if len(path) > 1:
            continue
        page = "\\-".join([PROG, *path])
        out += [".TP", bold(" ".join(path)), line(short(cmd) + "."), f"See \\fB{page}\\fR(1)."]
    out += [".SH OUTPUT", line(FORMATS), ".PP", line(ERRORS)]
    out += section("EXIT STATUS", EXIT_CODES)
    out += section("ENVIRONMENT", ENVIRONMENT + option_envvars(root, ctx)) + [".PP", line(RESOLUTION)]
    out += section("FILES", FILES, ital_head=True)
    out += [".SH EXAMPLES", ".nf", *[literal(x) for x in EXAMPLES], ".fi"]
    out += [".SH SEE ALSO", ", ".join(f"{bold('-'.join([PROG, *p]))}(1)" for p, _, _ in walk(root, ctx) if len(p) == 1)]
    return "\n".join(out) + "\n"


EXAMPLES = [
    "mlreg create",
    "mlreg log model.pkl --name churn --version 3 --sample-input sample.csv \\",
    "    --tag stage=testing --metric auc=0.91",
    "mlreg list --where \"TAGS->>'stage' = 'prod'\" --format json",
    "mlreg tag set churn 3 stage prod",
    "mlreg metric get churn 3 auc",
    "mlreg verify --format json || echo 'a package was changed'",
]


# -- completions -----------------------------------------------------------------------------------
def completion(shell: str) -> str:
    """What `mlreg --show-completion SHELL` prints (shell detection off, as in Typer's tests)."""
    env = dict(os.environ, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "mlreg", "--show-completion", shell],
        capture_output=True, text=True, env=env, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"mlreg --show-completion {shell} failed: {proc.stderr.strip()}")
    return proc.stdout.rstrip("\n") + "\n"


# -- the command table ------------------------------------------------------------------------------
INDEX_PATH = "mlreg/cli/command_index.py"


def index_source(entries: list[Entry]) -> str:
    """mlreg/cli/command_index.py: the commands as the root group lists them."""
    rows = "".join(f"    ({name!r}, {module!r}, {panel!r},\n     {help_text!r}),\n"
                   for name, module, panel, help_text in entries)
    return (
        '"""The commands of `mlreg`, in help order: (name, module in mlreg.cli.commands, help panel,\n'
        'first paragraph of their help). The root group lists them from here without importing a\n'
        'command module (see mlreg/cli/lazy.py).\n\n'
        'Generated by scripts/gen_docs.py from the commands themselves (`make docs`); do not edit.\n'
        'tests/test_cli_docs.py fails when it is out of date.\n"""\n\n'
        "from mlreg.cli.lazy import Entry\n\n"
        f"COMMANDS: list[Entry] = [\n{rows}]\n"
    )


ROOT_HELP_PATH = "mlreg/cli/root_help.py"


def root_help_source() -> str:
    """mlreg/cli/root_help.py: the root help as Typer prints it off a terminal at 80 columns
    or more (Click wraps help at 80 at most), which ``mlreg --help`` prints from there."""
    env = {k: v for k, v in os.environ.items() if k != COMPLETE_VAR}
    env.update(COLUMNS="80", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    # a process of its own, as the console script runs (Click's test runner wraps differently)
    # with the commands as they are now, also when the committed table is out of date
    code = ("from mlreg.cli.app import COMMAND_MODULES, MlregGroup, main; from mlreg.cli.lazy import build_index; "
            "MlregGroup.index = build_index(COMMAND_MODULES); main()")
    run = subprocess.run([sys.executable, "-c", code, "--help"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("Usage: mlreg"), run.stderr
    return (
        '"""`mlreg --help` as Typer prints it when its output is not a terminal and has 80 columns\n'
        "or more (see mlreg/cli/entry.py).\n\n"
        "Generated by scripts/gen_docs.py from the app (`make docs`); do not edit.\n"
        'tests/test_cli_docs.py fails when it is out of date.\n"""\n\n'
        "TEXT = (\n" + "".join(f"    {line!r}\n" for line in run.stdout.splitlines(keepends=True)) + ")\n"
    )


def generate() -> dict[str, str]:
    """Relative path → content of every generated file."""
    index = build_index(COMMAND_MODULES)
    # document the commands as they are now, also when the committed table is out of date
    MlregGroup.index = index
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name=PROG)
    files = {f"completions/{name}": completion(shell) for shell, name in COMPLETIONS.items()}
    files[INDEX_PATH] = index_source(index)
    files[ROOT_HELP_PATH] = root_help_source()
    files["man/mlreg.1"] = root_page(root, ctx)
    for path, cmd, cctx in walk(root, ctx):
        if len(path) == 1:
            files[f"man/{'-'.join([PROG, *path])}.1"] = command_page(path, cmd, cctx)
    return files


def write(outdir: Path) -> list[Path]:
    written = []
    for rel, content in sorted(generate().items()):
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    for p in write(target):
        print(p)
