"""Housekeeping of a registry's packages: garbage collection of orphan packages on the
stage, verification and export of packages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlreg.errors import InvalidInput
from mlreg.records import ModelRow
from mlreg.registry.core import RegistryCore
from mlreg.stage import StageEntry
from mlreg.stage.base import owner_tag


@dataclass(frozen=True)
class VerifyResult:
    id: str
    name: str
    version: str
    ok: bool
    changed: list[str]
    missing: list[str]
    extra: list[str]


class Maintenance:
    """gc, verify and export of a registry's packages."""

    def __init__(self, core: RegistryCore):
        self._core = core

    def _inflight(self, entry: StageEntry) -> bool:
        name = entry.name
        model_id = name.removeprefix(".tmp-").split("-", 1)[0] if name.startswith(".tmp-") else name
        return self._core.store.is_inflight(model_id)

    def gc(self, dry_run: bool = False) -> list[StageEntry]:
        """Remove (or, ``dry_run``, list) the stage entries this registry owns and no
        longer needs: its packages that no version references, and its abandoned
        temporaries. It owns only what proves it (see ``Stage.owner``): a package whose
        manifest carries this registry's ID, a temporary tagged with it. Anything else is
        never touched: another registry's packages on a shared stage, whatever is not an
        mlreg package, and packages logged before registry IDs (mlreg 0.2 and earlier: no ID in
        their manifest), which stay until removed by hand."""
        # Order matters against a concurrent log: an entry found not in flight is either
        # abandoned or already committed, so the registry must be read *after* the
        # in-flight checks (a log holds its in-flight marker until its commit is done).
        stage = self._core.stage
        mine = owner_tag(self._core.store.registry_id())
        candidates = [e for e in stage.entries() if stage.owner(e) == mine and not self._inflight(e)]
        with self._core.read() as reader:
            referenced = reader.version_ids()
        removed = [e for e in candidates if e.temporary or e.name not in referenced]
        if not dry_run:
            for entry in removed:
                stage.delete_entry(entry)
            self._core.store.clear_stale_inflight()
        return removed

    def verify(self, model_name: str | None = None, model_version: str | None = None) -> list[VerifyResult]:
        from mlreg.package.verify import checksums, compare

        if model_name is not None and model_version is not None:
            rows = [self._core.resolve(model_name, model_version)]
        else:
            with self._core.read() as reader:  # whole rows: their manifests hold the BLAKE3 digests
                rows = [row for r in reader.versions() if (row := reader.version(r.name, r.version)) is not None]
        stage = self._core.stage
        results = []
        for row in rows:
            fast = row.manifest.get("blake3") or {}
            wanted = {rel: digest for rel, (_algorithm, digest) in checksums(row.files, fast).items()}
            report = compare(wanted, stage.hashes(row.id, fast))
            results.append(VerifyResult(row.id, row.name, row.version, report.ok, report.changed, report.missing,
                                        report.extra))
        return results

    def export(self, model_name: str, model_version: str, dest: str | Path) -> ModelRow:
        import shutil

        from mlreg.package.verify import verify_dir
        from mlreg.runtime import loading

        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise InvalidInput(f"output directory {dest} exists and is not empty")
        row = self._core.resolve(model_name, model_version)
        package = loading.verified(self._core.package(row))
        try:
            for rel in sorted(row.files):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(package / rel, dest / rel)
        except OSError as exc:
            raise InvalidInput(f"cannot write {dest}: {exc.strerror or exc}") from None
        verify_dir(dest, row.files, f"{model_name}/{model_version}",  # the copy, as written
                   blake3=row.manifest.get("blake3"))
        return row
