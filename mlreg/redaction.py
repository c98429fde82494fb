"""Where the secrets of settings and URLs are, so that no message, log line or record
shows them: the configuration (``mlreg.config``), the command line's error funnel and the
remote stages (``mlreg.stage.remote``) all find them here."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

#: a key naming one of these holds a secret (account_key, private_key, client_secret, ...)
SECRET_HINTS = ("secret", "password", "passphrase", "token", "key", "credential", "sas", "connection_string",
                "signature")

#: an environment variable whose name holds one of these holds a secret (PGPASSWORD,
#: AWS_SECRET_ACCESS_KEY, MLREG_SERVICE_TOKEN, AZURE_STORAGE_CONNECTION_STRING, ...)
SECRET_ENV_HINTS = ("SECRET", "PASSWORD", "PASSPHRASE", "TOKEN", "CREDENTIAL", "CONNECTION_STRING", "SAS",
                    "ACCOUNT_KEY", "PRIVATE_KEY")


def secret_values(data: Any, secret: bool = False) -> list[str]:
    """Every string held under a key that names a secret (at any depth of ``data``)."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for k, v in data.items():
            found += secret_values(v, secret or any(h in str(k).lower() for h in SECRET_HINTS))
    elif isinstance(data, (list, tuple)):
        for v in data:
            found += secret_values(v, secret)
    elif secret and isinstance(data, str) and len(data) >= 3:
        found.append(data)
    return found


def url_without_password(url: str) -> str:
    """The URL without a password (``sftp://user:pw@host`` -> ``sftp://user@host``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def secrets_of(options: Mapping[str, Any], url: str) -> list[str]:
    """The secrets of a URL (its password) and of the options that go with it, longest
    first (so that replacing them in a text never leaves part of a longer one)."""
    found = secret_values(options)
    password = urlsplit(url).password
    if password:
        found.append(password)
    return sorted(set(found), key=len, reverse=True)
