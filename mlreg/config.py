"""Where settings come from (SPEC §4).

Order: explicit value (command-line flag or ``connect()`` argument), environment
variable, the named connection of the config file, the project file, defaults.

A home is a directory, or a PostgreSQL URL (``postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME``)
for a registry shared by several machines. Its password is kept apart from the URL as
soon as the settings are resolved (``Settings.home_password``, never shown); it comes from
the URL of the home, or from a lower-priority source's URL of the same server, user and
database, or from the ``password`` key of the config file's connection; otherwise libpq
looks in PGPASSWORD and ~/.pgpass. A PostgreSQL home has no directory: what is kept per
machine (services' state files) goes to ``Settings.state_dir``,
``$XDG_STATE_HOME/mlreg/postgresql/<host>-<port>-<dbname>``.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mlreg.errors import InvalidInput, NotFound
from mlreg.redaction import SECRET_HINTS
from mlreg.store.location import PgLocation, is_pg_url, parse_pg_url


def _toml():  # imported when a file is read, not at startup
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    return tomllib


DEFAULT_DATABASE = "MODEL_REGISTRY"
DEFAULT_SCHEMA = "PUBLIC"
SETTING_KEYS = ("home", "stage", "database", "schema", "role")
ENV = {
    "home": "MLREG_HOME",
    "stage": "MLREG_STAGE",
    "database": "MLREG_DATABASE",
    "schema": "MLREG_SCHEMA",
    "role": "MLREG_ROLE",
}
class ConfigWarning(UserWarning):
    """A config file problem that does not stop mlreg (e.g. readable by others)."""


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``stage_options`` and ``home_password`` may hold secrets: never
    print them. ``home`` is a directory, or a PostgreSQL URL without its password;
    ``stage`` is "" for a PostgreSQL home that names none (see ``Session.stage``)."""

    home: Path | str
    stage: str
    database: str = DEFAULT_DATABASE
    role: str = ""
    #: the schema of the database: each is a separate registry (PUBLIC: the database's own)
    schema: str = DEFAULT_SCHEMA
    stage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    connection: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    home_password: str | None = field(default=None, repr=False, compare=False)
    #: where this machine keeps local state for the home (the home itself when it is a directory)
    state_dir: Path | None = None

    @property
    def is_shared(self) -> bool:
        """Whether the home is a PostgreSQL database (shared by machines) rather than a directory."""
        return isinstance(self.home, str)

    def as_options(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "stage": self.stage,
            "database": self.database,
            "schema": self.schema,
            "role": self.role,
            "stage_options": dict(self.stage_options),
            "connection": self.connection,
        }


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("MLREG_CONFIG"):
        return Path(env["MLREG_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "mlreg" / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    tomllib = _toml()
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"config file {path} is not valid TOML: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read config file {path}: {exc.strerror}") from None


def _has_secret(data: Any) -> bool:
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str) and any(h in k.lower() for h in SECRET_HINTS) and v:
                return True
            if k == "home" and is_pg_url(v) and _url_password(v):
                return True
            if _has_secret(v):
                return True
    elif isinstance(data, list):
        return any(_has_secret(v) for v in data)
    elif isinstance(data, str) and "://" in data and "@" in data:  # a password in a URL (sftp://ann:pw@host)
        from urllib.parse import urlsplit

        try:
            return bool(urlsplit(data).password)
        except ValueError:
            return False
    return False


def _url_password(url: str) -> str | None:
    try:
        return parse_pg_url(url).password
    except InvalidInput:
        return None


def _warn_if_exposed(path: Path, data: dict[str, Any]) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH) and _has_secret(data):
        warnings.warn(
            f"config file {path} holds a secret and is readable by others; run: chmod 600 {path}",
            ConfigWarning,
            stacklevel=3,
        )


def load_config_file(env: Mapping[str, str] | None = None) -> tuple[Path, dict[str, Any]]:
    path = config_path(env)
    if not path.is_file():
        return path, {}
    data = _read_toml(path)
    _warn_if_exposed(path, data)
    return path, data


def find_project_file(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """``mlreg.toml``, or ``[tool.mlreg]`` in ``pyproject.toml``, here or in the nearest parent."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "mlreg.toml"
        if candidate.is_file():
            return candidate, _read_toml(candidate)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            tool = _read_toml(pyproject).get("tool", {}).get("mlreg")
            if isinstance(tool, dict):
                return pyproject, tool
    return None


def default_home(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / ".mlreg"
        if candidate.is_dir():
            return candidate
    return here / ".mlreg"


def default_role() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database entry (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


MAX_ROLE = 255


def check_role(role: str, where: str) -> str:
    """The role recorded with every event: printable text of at most MAX_ROLE characters."""
    from mlreg.names import has_invisible

    if not isinstance(role, str) or not role.strip() or len(role) > MAX_ROLE or has_invisible(role):
        shown = repr(role[:40]) + ("..." if isinstance(role, str) and len(role) > 40 else "")
        raise InvalidInput(
            f"invalid role {shown} (from {where}): 1 to {MAX_ROLE} printable characters, no control "
            "characters, line breaks or escape codes")
    return role


def _check_section(section: Any, where: str, secrets_allowed: bool = True) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise InvalidInput(f"{where} must be a table of settings")
    allowed = {"stage_options", "password"} if secrets_allowed else {"stage_options"}
    unknown = set(section) - set(SETTING_KEYS) - allowed
    if unknown:
        hint = ("; a password does not belong in a project file: put it in the config file's connection "
                "(mode 0600), PGPASSWORD or ~/.pgpass") if "password" in unknown else ""
        raise InvalidInput(
            f"{where} has unknown setting(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(SETTING_KEYS)}, {', '.join(sorted(allowed))}{hint}"
        )
    for key in (*SETTING_KEYS, "password"):
        if key in section and not isinstance(section[key], str):
            raise InvalidInput(f"{where}: {key} must be a string")
    home = section.get("home")
    if not secrets_allowed and isinstance(home, str) and is_pg_url(home) and _url_password(home):
        raise InvalidInput(f"{where}: home holds a password, which does not belong in a project file: put it in "
                           "the config file's connection (mode 0600), PGPASSWORD or ~/.pgpass")
    if "stage_options" in section and not isinstance(section["stage_options"], dict):
        raise InvalidInput(f"{where}: stage_options must be a table")
    return section


def _anchor(value: str, base: Path | None) -> str:
    """Expand ~ and make a relative local path relative to the file that named it."""
    if "://" in value or is_pg_url(value):
        return value
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)


def resolve(
    overrides: Mapping[str, Any] | None = None,
    connection: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings from every source, highest priority first."""
    env = os.environ if env is None else env
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    sources: dict[str, str] = {}
    values: dict[str, Any] = {}
    stage_options: dict[str, Any] = {}
    homes: list[str] = []  # every source's home, lowest priority first (for a URL home's password)
    config_password: str | None = None

    # lowest priority first; later layers overwrite
    project = find_project_file(cwd)
    if project is not None:
        ppath, pdata = project
        _warn_if_exposed(ppath, pdata)  # a project file is as readable as the checkout it sits in
        section = _check_section(pdata, f"project file {ppath}", secrets_allowed=False)
        for key in SETTING_KEYS:
            if key in section:
                values[key] = _anchor(section[key], ppath.parent) if key in ("home", "stage") else section[key]
                sources[key] = str(ppath)
        homes.append(values.get("home", ""))
        stage_options.update(section.get("stage_options", {}))

    cpath, cdata = load_config_file(env)
    name = connection or env.get("MLREG_CONNECTION") or cdata.get("default_connection")
    if name is not None:
        connections = cdata.get("connections", {})
        if not isinstance(connections, dict) or name not in connections:
            known = ", ".join(sorted(connections)) if isinstance(connections, dict) else ""
            raise NotFound(
                f"connection {name!r} is not defined in {cpath}"
                + (f"; defined: {known}" if known else "; it defines no connections")
            )
        section = _check_section(connections[name], f"connection {name!r} in {cpath}")
        for key in SETTING_KEYS:
            if key in section:
                values[key] = _anchor(section[key], None) if key in ("home", "stage") else section[key]
                sources[key] = f"{cpath} [connections.{name}]"
        homes.append(section.get("home", ""))
        stage_options.update(section.get("stage_options", {}))
        config_password = section.get("password") or None

    for key, var in ENV.items():
        if env.get(var):
            values[key] = env[var]
            sources[key] = var
    homes.append(env.get(ENV["home"], ""))

    for key in SETTING_KEYS:
        if key in overrides:
            values[key] = overrides[key]
            sources[key] = "argument"
    if "stage_options" in overrides:
        stage_options.update(overrides["stage_options"])

    home: Path | str
    password: str | None = None
    state_dir: Path
    if is_pg_url(values.get("home")):
        location = parse_pg_url(values["home"])
        password = location.password or _password_for(location, homes) or config_password
        home = location.public_url()
        state_dir = shared_state_dir(location, env)
    else:
        raw = values.get("home")
        if isinstance(raw, str) and "://" in raw:
            from mlreg.store.location import redact

            raise InvalidInput(f"home {redact(raw)!r} is neither a directory nor a postgresql:// URL")
        home = Path(raw).expanduser() if raw else default_home(cwd)
        if not home.is_absolute():
            home = (cwd or Path.cwd()) / home
        state_dir = home
    stage = values.get("stage") or ("" if isinstance(home, str) else str(home / "stage"))
    if stage and "://" not in stage:
        sp = Path(stage).expanduser()
        stage = str(sp if sp.is_absolute() else (cwd or Path.cwd()) / sp)
    return Settings(
        home=home,
        home_password=password,
        state_dir=state_dir,
        stage=stage,
        database=values.get("database") or DEFAULT_DATABASE,
        schema=values.get("schema") or DEFAULT_SCHEMA,
        role=check_role(values.get("role") or default_role(), sources.get("role", "the role")),
        stage_options=stage_options,
        connection=name,
        sources=sources,
    )


def _password_for(location: PgLocation, homes: list[str]) -> str | None:
    """The password of the highest-priority source whose home URL names the same server,
    user and database (e.g. MLREG_HOME's, when an argument repeats that URL without it)."""
    for text in reversed(homes):
        if is_pg_url(text):
            try:
                other = parse_pg_url(text)
            except InvalidInput:
                continue
            if other.password and other.same_server(location):
                return other.password
    return None


def shared_state_dir(location: PgLocation, env: Mapping[str, str] | None = None) -> Path:
    """Where this machine keeps its own state for a PostgreSQL home (services' state files):
    ``$XDG_STATE_HOME/mlreg/postgresql/<host>-<port>-<dbname>`` (``~/.local/state/...``)."""
    env = os.environ if env is None else env
    base = Path(env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")).expanduser()
    import re

    host = location.host.strip("/") or "localhost"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{host}-{location.port}-{location.dbname}")
    return base / "mlreg" / "postgresql" / ("_" + name if name.startswith(".") else name)
