"""Housekeeping of the stage beside the registry: in-flight markers of logs under way,
garbage collection of orphan packages, verification and export of packages."""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from mlreg.errors import InvalidInput
from mlreg.registry.rows import ModelRow
from mlreg.stage import StageEntry


@dataclass(frozen=True)
class VerifyResult:
    id: str
    name: str
    version: str
    ok: bool
    changed: list[str]
    missing: list[str]
    extra: list[str]


class MaintenanceMixin:
    """Relies on ``_store``, ``stage``, ``get_model`` and ``package_dir`` of the registry."""

    @contextmanager
    def _inflight(self, model_id: str) -> Iterator[None]:
        """Mark a package as being logged so a concurrent `gc` leaves it alone."""
        directory = self._store.path.parent / ".inflight"
        if not directory.is_dir():
            directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        path = directory / f"{model_id}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            # `gc` unlinks stale lock files while holding their lock: make sure ours is
            # still the file at that path, else a concurrent gc could not see it
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            yield
        finally:
            try:
                path.unlink()
            except OSError:
                pass
            os.close(fd)

    def _is_inflight(self, name: str) -> bool:
        model_id = name.removeprefix(".tmp-").split("-", 1)[0] if name.startswith(".tmp-") else name
        path = self._store.path.parent / ".inflight" / f"{model_id}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def export_package(self, model_name: str, model_version: str, dest: str | Path) -> ModelRow:
        """Write the model's package (its recorded files only), verified, to ``dest`` (a new
        or empty directory). Nothing is unpickled."""
        import shutil

        from mlreg.package.verify import verify_dir

        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise InvalidInput(f"output directory {dest} exists and is not empty")
        row, package = self.package_dir(model_name, model_version)
        try:
            for rel in sorted(row.files):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(package / rel, dest / rel)
        except OSError as exc:
            raise InvalidInput(f"cannot write {dest}: {exc.strerror or exc}") from None
        verify_dir(dest, row.files, f"{model_name}/{model_version}")  # the copy, as written
        return row

    def gc(self, dry_run: bool = False) -> list[StageEntry]:
        """Remove stage entries that no registry entry references (orphans of crashed or
        failed logs, packages kept by ``delete_artifact=False``). Returns what was (or, with
        ``dry_run``, would be) removed."""
        # Order matters against a concurrent log: an entry found not in flight is either
        # abandoned or already committed, so the registry must be read *after* the
        # in-flight checks (a log holds its in-flight lock until its commit is done).
        candidates = [e for e in self.stage.entries() if not self._is_inflight(e.name)]
        referenced = {r[0] for r in self._store.query("SELECT id FROM models")}
        removed = [e for e in candidates if e.temporary or e.name not in referenced]
        if not dry_run:
            for entry in removed:
                self.stage.delete_entry(entry)
            self._remove_stale_inflight()
        return removed

    def _remove_stale_inflight(self) -> None:
        """Delete the in-flight lock files that crashed logs left behind (no one holds them)."""
        directory = self._store.path.parent / ".inflight"
        try:
            names = os.listdir(directory)
        except OSError:
            return
        for name in names:
            path = directory / name
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()  # unlinked while locked: see _inflight
            except OSError:
                pass
            finally:
                os.close(fd)

    def verify(self, model_name: str | None = None, model_version: str | None = None) -> list[VerifyResult]:
        """Check packages against their recorded sha256: changed, missing and extra files."""
        if model_name is not None and model_version is not None:
            rows = [self.get_model(model_name, model_version)]
        else:
            with self._store.read() as con:
                rows = [
                    ModelRow(r[0], r[1], r[2], r[3], r[4], {}, json.loads(r[5]))
                    for r in con.execute("SELECT id, name, version, type, uri, files FROM models ORDER BY name, version").fetchall()
                ]
        from mlreg.package.verify import compare

        results = []
        for row in rows:
            report = compare(row.files, self.stage.hashes(row.id))
            results.append(VerifyResult(row.id, row.name, row.version, report.ok, report.changed, report.missing, report.extra))
        return results
