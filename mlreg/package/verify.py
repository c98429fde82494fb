"""Check a package directory against the checksums recorded in the registry: BLAKE3
where the package has it (logged since it was added), sha256 otherwise."""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlreg.errors import IntegrityError
from typing import Mapping

from mlreg.package.hashing import BLAKE3, SHA256, NotRegularFile, digest_path, open_regular, sha256_path


@dataclass
class Report:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def summary(self) -> str:
        parts = []
        for label, names in (("changed", self.changed), ("missing", self.missing), ("extra", self.extra)):
            if names:
                parts.append(f"{label}: {', '.join(names[:5])}" + (f" (+{len(names) - 5} more)" if len(names) > 5 else ""))
        return "; ".join(parts)


def compare(expected: dict[str, str], actual: dict[str, str]) -> Report:
    report = Report()
    for rel, digest in sorted(expected.items()):
        if rel not in actual:
            report.missing.append(rel)
        elif actual[rel] != digest:
            report.changed.append(rel)
    report.extra = sorted(set(actual) - set(expected))
    return report


def is_bytecode_cache(path: Path) -> bool:
    """True when ``path`` is a ``__pycache__/<stem>.<tag>[.opt-N].pyc`` that is exactly the
    compiled code of the sibling ``<stem>.py``, for this interpreter.

    Python writes these into a package's code paths when a loaded model imports from
    them; they are not part of the package but are harmless, so `verify` does not report
    them. Anything else in ``__pycache__`` (another interpreter's, or bytecode that is not
    the source's) is reported as an extra file, and refused in code paths by a load.
    """
    if path.parent.name != "__pycache__" or path.suffix != ".pyc" or path.is_symlink() or not path.is_file():
        return False
    parts = path.name[: -len(".pyc")].split(".")
    optimize = 0
    if len(parts) >= 3 and parts[-1].startswith("opt-") and parts[-1][4:].isdigit():
        optimize = int(parts.pop()[4:])
    if len(parts) < 2 or parts[-1] != sys.implementation.cache_tag:
        return False
    source = path.parent.parent / (".".join(parts[:-1]) + ".py")
    if source.is_symlink() or not source.is_file():
        return False
    try:
        with open(open_regular(path), "rb") as f:
            data = f.read()
        with open(open_regular(source), "rb") as f:
            src = f.read()
        if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER:
            return False
        flags = int.from_bytes(data[4:8], "little")
        if flags & 0b1:  # hash-based pyc
            if data[8:16] != importlib.util.source_hash(src):
                return False
        elif int.from_bytes(data[12:16], "little") != len(src) & 0xFFFFFFFF:
            return False
        # code objects compare equal regardless of the file name they were compiled under
        return marshal.loads(data[16:]) == compile(src, str(source), "exec", dont_inherit=True, optimize=optimize)
    except Exception:  # noqa: BLE001 - unreadable, not marshal data, source that does not compile
        return False


def hash_dir(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            full = Path(dirpath) / name
            try:
                out[full.relative_to(root).as_posix()] = sha256_path(full)
            except NotRegularFile as exc:  # never read: a FIFO or a device could block
                out[full.relative_to(root).as_posix()] = f"special:{exc.kind}"
    return out


def checksums(files: Mapping[str, str], blake3: Mapping[str, str] | None) -> dict[str, tuple[str, str]]:
    """What to check each file against: relative path -> (algorithm, digest). BLAKE3 where
    it is recorded for that file, its sha256 otherwise (packages logged before BLAKE3)."""
    fast = blake3 or {}
    return {rel: (BLAKE3, fast[rel]) if rel in fast else (SHA256, sha) for rel, sha in files.items()}


def verify_dir(root: Path, expected: dict[str, str], what: str, keep: bool = False,
               blake3: Mapping[str, str] | None = None) -> None:
    """Raise IntegrityError unless every expected file is present and unchanged, and the
    code paths hold nothing else. ``expected``: the files' sha256; ``blake3``: their
    BLAKE3 where recorded, which is then what is checked (see :func:`checksums`).

    ``keep=True`` is for a caller about to load the model: the model's large pickle is
    then read once, its buffers straight into the memory the loaded arrays will use, while
    it is hashed, and the load that follows unpickles the bytes that were checked instead
    of reading the file again (``mlreg.package.pickles``). It holds the model's size in
    memory until that load, so it is not for callers that only copy or inspect packages."""
    from mlreg.package import pickles

    actual = {}
    real_root = root.resolve()
    if keep:
        pickles.drop_kept()
    wanted = checksums(expected, blake3)
    for rel, (algorithm, want) in wanted.items():
        p = root / rel
        # a symlink anywhere on the way (the file or a directory above it) could point
        # outside the package: such a file counts as missing
        if p.is_file() and p.resolve() == real_root / rel:
            digest = pickles.read_verified(p, want, algorithm) if keep and rel.startswith("model/") else None
            actual[rel] = digest if digest is not None else digest_path(p, algorithm)
    report = compare({rel: want for rel, (_a, want) in wanted.items()}, actual)
    # Other extra files do not stop a load, except in the code paths, which go on
    # sys.path: a planted module (or bytecode) there would run on import.
    report.extra = _extra_code(root, expected)
    if not report.ok:
        if keep:
            pickles.drop_kept()
        raise IntegrityError(
            f"model package of {what} failed its checksum check ({report.summary()}); "
            "it was changed after it was logged, refusing to load it"
        )


def _extra_code(root: Path, expected: dict[str, str]) -> list[str]:
    code = root / "code"
    if not code.is_dir():
        return []
    extra = []
    for dirpath, dirs, names in os.walk(code):
        for name in names + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel not in expected and not is_bytecode_cache(p):
                extra.append(rel)
    return sorted(extra)
