"""Where a registry lives, by name: the one mapping from (DATABASE, SCHEMA) to a store,
the same on every backend, and the parsing of PostgreSQL home URLs.

A registry is named by its database name and, optionally, a schema inside it:

    (DATABASE, PUBLIC or none)  ->  registry  ``DATABASE``
    (DATABASE, SCHEMA)          ->  registry  ``DATABASE/SCHEMA``

Names never contain ``/``, so the pair is never ambiguous. On a directory home the
registry ``DATABASE`` is the file ``<home>/DATABASE.duckdb`` and ``DATABASE/SCHEMA`` is
``<home>/DATABASE/SCHEMA.duckdb``; on a PostgreSQL home each registry is one schema of
the PostgreSQL database named in the URL, the schema named exactly like the registry
(a quoted identifier: case is kept, and ``/`` is allowed in it).

PostgreSQL homes: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=...]``
(``postgres://`` too). The password is taken out of the URL as soon as it is parsed and
kept apart (:class:`PgLocation` never shows it): URLs shown anywhere are written by
:meth:`PgLocation.public_url`, without it. A store URL adds the registry as the fragment:
``postgresql://alice@db.example.com:5432/ml#MODEL_REGISTRY``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from mlreg.errors import InvalidInput
from mlreg.names import validate_name

PG_SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
PUBLIC = "PUBLIC"


def registry_name(database: str, schema: str | None = None) -> str:
    """The registry of (database, schema): ``DATABASE``, or ``DATABASE/SCHEMA`` for a schema
    other than PUBLIC. Every backend names its registries with this function."""
    name = validate_name(database, "database name")
    if schema is None or schema.upper() == PUBLIC:
        return name
    return f"{name}/{validate_name(schema, 'schema name')}"


def registry_file(home: str | Path, registry: str) -> Path:
    """The DuckDB file of a registry (see :func:`registry_name`) in a directory home."""
    database, _, schema = registry.partition("/")
    if schema:
        return Path(home) / database / f"{schema}.duckdb"
    return Path(home) / f"{database}.duckdb"


def is_pg_url(text: object) -> bool:
    """Whether ``text`` is a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    if not isinstance(text, str) or "://" not in text:
        return False
    return text.split("://", 1)[0].lower() in PG_SCHEMES


@dataclass(frozen=True)
class PgLocation:
    """A PostgreSQL database: server, user, database name, connection parameters. The
    password, when one was given, is kept out of every representation."""

    host: str  # a host name or address; a directory for a Unix-domain socket; "" for libpq's default
    port: int
    dbname: str
    user: str = ""
    params: tuple[tuple[str, str], ...] = ()  # e.g. (("sslmode", "require"),)
    password: str | None = field(default=None, repr=False, compare=False)
    registry: str | None = None  # the registry (schema) in a store URL's fragment

    @property
    def address(self) -> str:
        """``host:port`` (or the socket directory) for messages."""
        host = self.host or "localhost"
        if host.startswith("/"):
            return f"{host} (Unix socket, port {self.port})"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def public_url(self, registry: str | None = None) -> str:
        """The URL without the password (and with the registry as fragment, if any)."""
        user = quote(self.user, safe="") + "@" if self.user else ""
        host = self.host
        query_params = list(self.params)
        if host.startswith("/"):
            query_params = [("host", host), *query_params]
            netloc = f"{user}:{self.port}"
        else:
            shown = f"[{host}]" if ":" in host else host
            netloc = f"{user}{shown}:{self.port}"
        text = f"postgresql://{netloc}/{quote(self.dbname, safe='')}"
        if query_params:
            text += "?" + urlencode(query_params)
        fragment = registry if registry is not None else self.registry
        if fragment:
            text += "#" + fragment
        return text

    def with_registry(self, registry: str) -> "PgLocation":
        return PgLocation(self.host, self.port, self.dbname, self.user, self.params, self.password, registry)

    def with_password(self, password: str | None) -> "PgLocation":
        return PgLocation(self.host, self.port, self.dbname, self.user, self.params, password, self.registry)

    def same_server(self, other: "PgLocation") -> bool:
        """Same server, user and database (what a password belongs to)."""
        return (self.host, self.port, self.dbname, self.user) == (other.host, other.port, other.dbname, other.user)

    def connect_kwargs(self) -> dict[str, str]:
        """libpq connection parameters (the password only if one was given: else libpq's
        own PGPASSWORD and ~/.pgpass apply)."""
        kwargs = dict(self.params)
        kwargs["dbname"] = self.dbname
        kwargs["port"] = str(self.port)
        if self.host:
            kwargs["host"] = self.host
        if self.user:
            kwargs["user"] = self.user
        if self.password:
            kwargs["password"] = self.password
        return kwargs


_FORBIDDEN_PARAMS = {"dbname", "user", "port", "passfile", "service", "replication"}


def parse_pg_url(text: str) -> PgLocation:
    """Parse a PostgreSQL URL; InvalidInput (never quoting a password) when it is not one."""
    if not is_pg_url(text):
        raise InvalidInput("not a PostgreSQL URL: it must start with postgresql:// or postgres://")
    scheme = text.split("://", 1)[0]
    try:
        parts = urlsplit(text)
        port = parts.port
        hostname = parts.hostname or ""
    except ValueError as exc:
        raise InvalidInput(f"invalid PostgreSQL URL {_redact(text)}: {exc}") from None
    user = unquote(parts.username) if parts.username else ""
    password = unquote(parts.password) if parts.password is not None else None
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise InvalidInput(
            f"PostgreSQL URL {_redact(text)} names no database: write {scheme}://USER@HOST[:PORT]/DBNAME")
    if "," in parts.netloc:
        raise InvalidInput(f"PostgreSQL URL {_redact(text)} names several hosts: name one")
    params: list[tuple[str, str]] = []
    host = hostname
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key == "password":
            password = value
        elif key == "host" and not host:
            host = value
        elif key in _FORBIDDEN_PARAMS or key == "host":
            raise InvalidInput(f"PostgreSQL URL {_redact(text)}: give {key} in the URL itself, not as ?{key}=")
        else:
            params.append((key, value))
    registry = unquote(parts.fragment) if parts.fragment else None
    return PgLocation(host=host, port=port or DEFAULT_PORT, dbname=dbname, user=user, params=tuple(params),
                      password=password or None, registry=registry)


def _redact(text: str) -> str:
    """A URL as it may be shown: any password in it replaced by ***."""
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostport = netloc.rpartition("@")
            netloc = userinfo.split(":", 1)[0] + ":***@" + hostport
        query = "&".join(("password=***" if q.split("=", 1)[0] == "password" else q)
                         for q in parts.query.split("&")) if parts.query else ""
        return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
                + (f"#{parts.fragment}" if parts.fragment else ""))
    except ValueError:
        return text.split("://", 1)[0] + "://***"


def redact(text: str) -> str:
    """A home or URL as it may be shown: a PostgreSQL URL without its password."""
    return _redact(text) if is_pg_url(text) else text
