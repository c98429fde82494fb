"""Copying a whole registry to another home: a directory or a PostgreSQL database, in
either direction (how a team moves from a laptop registry to a shared one, and back).

What is copied, unchanged: every model version (ID, name, version, type, creation time
and role, context, environment, signatures, manifest, files and their sha256), its
description, tags and metrics, its deployment records, and the complete history
(every event, also of versions deleted since, with its time, role and values, in
order). Event numbers are kept when the target starts empty (or holds an earlier,
interrupted copy of this source); copied into a registry that holds other models,
the events are numbered after its own, version by version, each version's in order.

Packages stay where they are unless ``to_stage`` is given: then each is copied under
the target's name on that stage and verified against its recorded sha256 before its
version is registered there (and the version's URI is the new location).

Safe to repeat: each version is copied in one transaction of the target, with its
events and deployments, so an interrupted copy leaves whole versions; running it again
skips what is there (identical) and copies the rest. Before anything is written, the
target is checked: a version of the same name and version but another ID, the same ID
under another name, a version already there whose history differs, or a deployment
name taken by another version, is a conflict, and nothing is copied.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mlreg import _faults
from mlreg.errors import AlreadyExists, InvalidInput
from mlreg.names import validate_name
from mlreg.records import Deployment, Event, NewVersion

if TYPE_CHECKING:
    from mlreg.registry.registry import ModelRegistry
    from mlreg.stage import Stage
    from mlreg.store import MetadataStore


@dataclass
class CopyResult:
    """What a copy did."""

    target: str  # the target registry's store URL (no password)
    versions_copied: int = 0
    versions_present: int = 0  # already in the target (an earlier, interrupted copy)
    histories_copied: int = 0  # deleted versions whose history was copied
    events_copied: int = 0
    deployments_copied: int = 0
    packages_copied: int = 0
    warnings: list[str] = field(default_factory=list)


def _event_key(e: Event, with_id: bool) -> tuple:
    core = (e.timestamp, e.model_id, e.model_name, e.model_version, e.role, e.operation, e.attribute, e.key,
            e.old_value, e.new_value)
    return (e.event_id, *core) if with_id else core


def copy_registry(
    source: "ModelRegistry",
    to_home: str,
    database_name: str | None = None,
    to_stage: str | None = None,
    to_stage_options: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CopyResult:
    """Copy every version, deployment record and event of ``source`` to the registry
    ``database_name`` (default: the source's name) of ``to_home`` (a directory or a
    PostgreSQL URL; its password, if any, from the URL, PGPASSWORD or ~/.pgpass), creating
    it if needed. See the module docstring for what is kept and how conflicts are refused."""
    import mlreg

    database = validate_name(database_name or source.database_name, "database name")
    if not isinstance(to_home, str) or not to_home:
        raise InvalidInput("the target home must be a directory or a postgresql:// URL")
    src_session = source.session
    stage_url = to_stage or src_session.stage
    options = dict(to_stage_options if to_stage_options is not None else src_session.stage_options)
    target_session = mlreg.connect(home=to_home, stage=stage_url, database=database, role=src_session.role,
                                   stage_options=options, schema=source.schema_name)
    target = target_session.open_store(database)
    if target.url == source.url:
        raise InvalidInput(f"the target is the source registry itself ({source.url})")
    source_name = src_session.registry_name(source.database_name, source.schema_name)
    if to_stage is None and target_session.registry_name(database) != source_name:
        raise InvalidInput(
            f"packages live under <stage>/{source_name}/: a copy named {database} must take them along; "
            "pass to_stage (--to-stage URL), which may be the same stage")
    result = CopyResult(target=target.url)
    if to_stage is None and target_session.settings.is_shared and "://" not in src_session.stage:
        result.warnings.append(
            f"packages stay on this machine's disk ({src_session.stage}): other machines cannot load them; "
            "copy them along with --to-stage URL (e.g. s3://bucket/prefix)")

    with source.store.read() as reader:
        versions = reader.export_versions()
        events = reader.events()
        deployments = reader.deployments()
    if not target.exists():
        target.create_or_upgrade()
    with target.read() as treader:
        t_versions = treader.export_versions()
        t_events = treader.events()
        t_deployments = treader.deployments()

    plan = _plan(versions, events, deployments, t_versions, t_events, t_deployments)
    keep_ids = plan.keep_ids
    src_stage = source.stage
    dst_stage = _stage(target_session, target_session.registry_name(database)) if to_stage is not None else None
    total = len(plan.units)
    for done, (model_id, version, unit_events, unit_deps) in enumerate(plan.units, start=1):
        if model_id in plan.present:
            result.versions_present += version is not None
        else:
            if version is not None and dst_stage is not None:
                with target.inflight(version.id):
                    copied = _copy_package(src_stage, dst_stage, version)
                    version = _relocated(version, dst_stage)
                    _import(target, target_session.role, version, unit_events, unit_deps, keep_ids)
                result.packages_copied += copied
            else:
                _import(target, target_session.role, version, unit_events, unit_deps, keep_ids)
            _faults.checkpoint("copy:version")
            result.versions_copied += version is not None
            result.histories_copied += version is None
            result.events_copied += len(unit_events)
            result.deployments_copied += len(unit_deps)
        if progress is not None:
            progress(done, total)
    from datetime import datetime, timezone

    with source.store.read() as reader:
        models = [info for info in reader.models() if info.attributes]
    with target.write(target_session.role, datetime.now(timezone.utc)) as writer:
        if keep_ids:
            writer.sync_event_ids()
        for info in models:  # aliases, default versions, model-level description and tags
            there = writer.model(info.name)
            if there is not None and set(info.versions) <= set(there.versions):
                writer.import_model_attributes(info.name, info.attributes)
    return result


def _stage(session: Any, database: str) -> "Stage":
    from mlreg.stage import open_stage

    return open_stage(session.stage, database, session.stage_options)


def _import(target: "MetadataStore", role: str, version: NewVersion | None, events: list[Event],
            deployments: list[Deployment], keep_ids: bool) -> None:
    from datetime import datetime, timezone

    with target.write(role, datetime.now(timezone.utc)) as writer:
        writer.import_version(version, events, deployments, keep_ids)


def _relocated(version: NewVersion, stage: "Stage") -> NewVersion:
    from dataclasses import replace

    return replace(version, uri=stage.uri(version.id))


def _copy_package(src: "Stage", dst: "Stage", version: NewVersion) -> int:
    """Copy one package (verified against its recorded sha256); 0 if it is there already."""
    import shutil

    from mlreg.errors import IntegrityError
    from mlreg.package.verify import compare

    if dst.url == src.url and src.uri(version.id) == dst.uri(version.id):
        return 0
    if dst.exists(version.id) and compare(version.files, dst.hashes(version.id)).ok:
        return 0
    if dst.exists(version.id):
        dst.delete(version.id)  # a damaged earlier copy
    local = src.local_dir(version.id, version.files)
    workdir = dst.begin(version.id)
    try:
        for rel in sorted(version.files):
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local / rel, workdir / rel)
        dst.publish(version.id, workdir, dict(version.files))
    except BaseException:
        dst.abort(version.id, workdir)
        raise
    report = compare(version.files, dst.hashes(version.id))
    if not report.ok:
        dst.delete(version.id)
        raise IntegrityError(f"the copy of {version.name}/{version.version} on {dst.url} does not match its "
                             f"recorded sha256 (changed {report.changed}, missing {report.missing}); nothing "
                             "of it was registered there")
    return 1


@dataclass
class _Plan:
    keep_ids: bool
    units: list[tuple[str, NewVersion | None, list[Event], list[Deployment]]]
    present: set[str]


def _plan(versions: list[NewVersion], events: list[Event], deployments: list[Deployment],
          t_versions: list[NewVersion], t_events: list[Event], t_deployments: list[Deployment]) -> _Plan:
    """What to copy, in what order; AlreadyExists (before anything is written) on a conflict."""
    by_model: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_model[e.model_id or ""].append(e)
    t_by_model: dict[str, list[Event]] = defaultdict(list)
    for e in t_events:
        t_by_model[e.model_id or ""].append(e)
    source_keys = {_event_key(e, True) for e in events}
    keep_ids = all(_event_key(e, True) in source_keys for e in t_events)

    t_by_name = {(v.name, v.version): v for v in t_versions}
    t_by_id = {v.id: v for v in t_versions}
    conflicts: list[str] = []
    present: set[str] = set()
    for v in versions:
        other = t_by_name.get((v.name, v.version))
        if other is not None and other.id != v.id:
            conflicts.append(f"{v.name}/{v.version} is another model there (ID {other.id}, here {v.id})")
        same = t_by_id.get(v.id)
        if same is not None and (same.name, same.version) != (v.name, v.version):
            conflicts.append(f"model ID {v.id} is {same.name}/{same.version} there, {v.name}/{v.version} here")
    for model_id, unit in by_model.items():
        there = t_by_model.get(model_id)
        if not there:
            continue
        if [_event_key(e, keep_ids) for e in there] == [_event_key(e, keep_ids) for e in unit]:
            present.add(model_id)
        else:
            conflicts.append(f"the history of model ID {model_id} differs there")
    t_deps = {d.name: d for d in t_deployments}
    for d in deployments:
        other_dep = t_deps.get(d.name)
        if other_dep is not None and (other_dep.model_id != d.model_id or d.model_id not in present):
            conflicts.append(f"deployment {d.name} exists there (of {other_dep.model_name}/{other_dep.model_version})")
    if conflicts:
        shown = "; ".join(conflicts[:5]) + (f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise AlreadyExists(f"the target registry holds conflicting entries, nothing was copied: {shown}")

    deps_by_model: dict[str, list[Deployment]] = defaultdict(list)
    for d in deployments:
        deps_by_model[d.model_id].append(d)
    registered = {v.id: v for v in versions}
    units = [(model_id, registered.get(model_id), unit, deps_by_model.get(model_id, []))
             for model_id, unit in by_model.items()]
    units += [(v.id, v, [], deps_by_model.get(v.id, [])) for v in versions if v.id not in by_model]
    # in the order of the history; the registered versions among them in registration order
    # (the target's listing order is the order they are copied in)
    units.sort(key=lambda u: u[2][0].event_id if u[2] else 0)
    order = {v.id: i for i, v in enumerate(versions)}
    listed = iter(sorted((u for u in units if u[1] is not None), key=lambda u: order[u[0]]))
    return _Plan(keep_ids, [next(listed) if u[1] is not None else u for u in units], present)
