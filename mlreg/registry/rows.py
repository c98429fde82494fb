"""The registry row of one model version, as the core passes it around."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelRow:
    id: str
    name: str
    version: str
    type: str
    uri: str
    manifest: dict[str, Any]
    files: dict[str, str]
