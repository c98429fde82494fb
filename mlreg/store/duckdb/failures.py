"""What a DuckDB error says about the registry file: held by another process, or damaged."""

from __future__ import annotations

import re


def is_lock_error(exc: Exception) -> bool:
    msg = str(exc)
    return "Could not set lock" in msg or "Conflicting lock" in msg


def duckdb_holder(exc: Exception) -> str:
    """The process DuckDB names as holding the file (its message says "(PID n)")."""
    m = re.search(r"\(PID (\d+)\)", str(exc))
    return f" (held by pid {m.group(1)})" if m else ""


def is_corruption(exc: Exception) -> bool:
    """Whether DuckDB's message says the file is damaged or not a database at all."""
    msg = str(exc).lower()
    return any(
        s in msg
        for s in (
            "not a valid duckdb database",
            "corrupt",
            "checksum",
            "invalid block",
            "unable to read",
            "serialization",
            "could not read enough bytes",
            "the file is not a valid",
            "database file",
        )
    )


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
