"""The root command group, lazily loaded: a command module is imported, and its command
turned into a Click command by Typer, only when that command is invoked (or completed,
or documented). Startup is a feature: `mlreg --help` imports no command module, and
`mlreg list` imports and converts `list` alone, not the other 16 commands.

The top-level help lists the commands from a static table, ``mlreg.cli.command_index``
(name, module, help panel, first paragraph of help), which ``scripts/gen_docs.py``
generates from the real commands; tests/test_cli_docs.py fails when it drifts, and
tests/test_cli_app.py checks that the help rendered from it equals the help rendered
from the real commands. ``build_index`` is what both use.

This subclasses Typer's ``TyperGroup`` through ``typer.Typer(cls=...)``, its documented
hook, because Typer has no lazy registration of its own; everything else (parsing,
help, errors, completion) stays Typer's. Typer's conversion functions
(``typer.main.get_command_from_info``, ``get_group_from_info``) are what
``app.add_typer``/``app.command`` end in; typer is pinned below 0.29.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Optional

import typer
import typer.core
import typer.main

#: one row of the command table: name, module in mlreg.cli.commands, rich_help_panel, and the
#: first paragraph of the command's help (all that a listing shows). A plain tuple: a
#: NamedTuple class costs 0.2 ms of every start
Entry = tuple[str, str, Optional[str], str]

PACKAGE = "mlreg.cli.commands"


def _registrations(module: str) -> typer.Typer:
    """A scratch Typer app with one command module's commands registered on it."""
    scratch = typer.Typer()
    importlib.import_module(f"{PACKAGE}.{module}").register(scratch)
    return scratch


def _command_name(info: Any) -> str:
    """The name Typer gives a registered command: its own, or its function's."""
    return str(info.name or typer.main.get_command_name(info.callback.__name__))


def _convert(scratch: typer.Typer, name: str, group: "LazyGroup") -> Any:
    """Typer's Click command for ``name`` of a scratch app, converted alone, with the
    settings the root group was built with."""
    for info in scratch.registered_commands:
        if _command_name(info) == name:
            return typer.main.get_command_from_info(
                info, pretty_exceptions_short=group.pretty_exceptions_short,
                rich_markup_mode=group.rich_markup_mode)
    for ginfo in scratch.registered_groups:
        if ginfo.name == name:
            return typer.main.get_group_from_info(
                ginfo, pretty_exceptions_short=group.pretty_exceptions_short,
                rich_markup_mode=group.rich_markup_mode, suggest_commands=group.suggest_commands)
    return None


def build_index(modules: list[str]) -> list[Entry]:
    """The command table from the real commands of ``modules``, in the order Typer lists
    them when every module registers on one app (commands first, then groups)."""
    scratch = typer.Typer()
    owner: dict[str, str] = {}
    for module in modules:
        before = len(scratch.registered_commands), len(scratch.registered_groups)
        importlib.import_module(f"{PACKAGE}.{module}").register(scratch)
        for info in scratch.registered_commands[before[0]:]:
            owner[_command_name(info)] = module
        for ginfo in scratch.registered_groups[before[1]:]:
            owner[str(ginfo.name)] = module
    root = typer.main.get_group(scratch)
    entries = []
    for name, cmd in root.commands.items():
        if cmd.short_help or cmd.hidden or cmd.deprecated:
            raise ValueError(f"command {name}: the command index carries no short_help, hidden or deprecated "
                             "flag; teach mlreg/cli/lazy.py and scripts/gen_docs.py about it")
        entries.append((name, owner[name], getattr(cmd, "rich_help_panel", None), (cmd.help or "").split("\n\n")[0]))
    return entries


class _Commands(MutableMapping):
    """``name -> command`` of the root group: the names from the table, a command loaded
    on first access. Iterating lists names and loads nothing; ``.items()`` loads all.
    The table itself is read on first use: ``--version`` or ``--show-completion`` never
    need it, and so scripts/gen_docs.py runs them even when the table is broken."""

    def __init__(self, group: "LazyGroup", added: MutableMapping[str, Any]):
        self._group = group
        self._table: Optional[dict[str, Entry]] = None
        self._loaded: dict[str, Any] = dict(added)

    @property
    def entries(self) -> dict[str, Entry]:
        if self._table is None:
            group = self._group
            index = group.index if group.index is not None else importlib.import_module(group.index_module).COMMANDS
            self._table = {entry[0]: entry for entry in index}
        return self._table

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self.entries:
                raise KeyError(name)
            module = self.entries[name][1]
            command = _convert(_registrations(module), name, self._group)
            if command is None:  # the table says the module has it, the module does not
                raise LookupError(f"mlreg.cli.commands.{module} registers no command {name!r}: "
                                  "regenerate mlreg/cli/command_index.py (python scripts/gen_docs.py)")
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self.entries.pop(name, None) is None and self._loaded.pop(name, None) is None:
            raise KeyError(name)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self.entries
        yield from (n for n in self._loaded if n not in self.entries)

    def __len__(self) -> int:
        return len(set(self.entries) | set(self._loaded))


class LazyGroup(typer.core.TyperGroup):
    """A TyperGroup whose commands come from a table (``index``, or the ``COMMANDS`` of the
    module ``index_module``, both set by a subclass) and load when resolved. Listings
    (help, completion of command names) show stand-ins built from the table, so they
    import nothing."""

    index: Optional[list[Entry]] = None
    index_module = ""
    #: what typer.Typer(pretty_exceptions_short=...) would pass down (its default)
    pretty_exceptions_short = True

    def __init__(self, **attrs: Any):
        super().__init__(**attrs)
        self.commands: _Commands = _Commands(self, self.commands)
        self._listing = False
        self._stubs: dict[str, typer.core.TyperCommand] = {}

    def _stub(self, name: str) -> typer.core.TyperCommand:
        """A stand-in that lists like the command: its name, panel and help."""
        if name not in self._stubs:
            _name, _module, panel, help_text = self.commands.entries[name]
            self._stubs[name] = typer.core.TyperCommand(name, help=help_text, rich_help_panel=panel,
                                                        rich_markup_mode=self.rich_markup_mode)
        return self._stubs[name]

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: nothing is loaded

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing and cmd_name in self.commands.entries:
            return self._stub(cmd_name)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        with self._listing_only():  # command names and their one-line help
            return super().shell_complete(ctx, incomplete)
