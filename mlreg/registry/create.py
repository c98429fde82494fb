"""Creating (or upgrading) a registry."""

from __future__ import annotations

import warnings

from mlreg.names import validate_name
from mlreg.session import Session


class RegistryExistsWarning(UserWarning):
    """create_model_registry on a registry that already exists."""


def create_model_registry(session: Session, database_name: str | None = None,
                          schema_name: str | None = None) -> bool:
    """Create the registry ``database_name`` (schema ``schema_name``, default the
    session's, PUBLIC unless set) in the session's home (by default a DuckDB file in that
    directory). Each schema of a database is a separate registry.

    Returns True when it was created; False, with a warning, when it already existed (an
    older schema is then upgraded). A registry written by a newer mlreg is refused.
    """
    validate_name(database_name or session.database, "database name")
    name = session.registry_name(database_name, schema_name)
    store = session.open_store(database_name, schema_name)
    created, applied = store.create_or_upgrade()
    if not created:
        detail = f"; upgraded its schema ({', '.join(applied)})" if applied else ""
        warnings.warn(f"registry {name} already exists at {store.url}{detail}", RegistryExistsWarning, stacklevel=2)
    return created
