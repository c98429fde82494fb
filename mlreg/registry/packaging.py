"""Building a model package: serialize, record checksums and environment, publish.

``build_package`` writes everything into the stage's upload directory and returns
what the registry row needs; the caller publishes and commits.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlreg import handlers, provenance, model_signature
from mlreg._version import __version__
from mlreg.errors import InvalidInput
from mlreg.package import FORMAT_VERSION
from mlreg.package.writer import PackageWriter

KNOWN_OPTIONS = {"embed_local_ml_library", "target_methods", "model_type"}


@dataclass
class BuiltPackage:
    type_name: str
    manifest: dict[str, Any]
    files: dict[str, str]
    signatures: dict[str, model_signature.ModelSignature]
    environment: dict[str, Any]


def check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = set(options) - KNOWN_OPTIONS
    if unknown:
        raise InvalidInput(
            f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KNOWN_OPTIONS))}"
        )
    if "embed_local_ml_library" in options and not isinstance(options["embed_local_ml_library"], bool):
        raise InvalidInput("option embed_local_ml_library must be True or False")
    methods = options.get("target_methods")
    if methods is not None and (
        not isinstance(methods, (list, tuple)) or not methods or not all(isinstance(m, str) for m in methods)
    ):
        raise InvalidInput("option target_methods must be a non-empty list of method names")
    return options


def check_string_list(values: Sequence[str] | None, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not all(isinstance(v, str) and v.strip() for v in values):
        raise InvalidInput(f"{what} must be a list of non-empty strings")
    for v in values:
        if any(c in v for c in "\n\r\x00"):
            raise InvalidInput(f"{what}: {v!r} must be one line")
    return list(values)


def check_pip_requirements(values: Sequence[str] | None) -> list[str]:
    """Each a PEP 508 requirement (``name[extras] specifier ; marker`` or ``name @ URL``):
    never a pip option such as ``--index-url=...``, which requirements.txt would obey."""
    checked = check_string_list(values, "pip_requirements")
    if not checked:
        return checked  # the parser costs ~15 ms to import: not for a log without requirements
    from packaging.requirements import InvalidRequirement, Requirement

    for spec in checked:
        try:
            Requirement(spec)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]
            raise InvalidInput(f"pip requirement {spec!r} is not a PEP 508 requirement "
                               f"(e.g. 'scikit-learn>=1.3'): {reason}") from None
    return checked


def check_code_paths(code_paths: Sequence[str | Path] | None) -> list[Path]:
    if code_paths is None:
        return []
    if isinstance(code_paths, (str, Path)):
        code_paths = [code_paths]
    out = []
    names = set()
    for p in code_paths:
        path = Path(p)
        if path.is_symlink():
            raise InvalidInput(f"code path {path} is a symbolic link; name the real directory")
        if not path.exists():
            raise InvalidInput(f"code path {path} does not exist")
        if path.resolve().name in names:
            raise InvalidInput(f"two code paths are named {path.resolve().name!r}")
        names.add(path.resolve().name)
        out.append(path.resolve())
    return out


def resolve_signatures(
    handler: handlers.ModelHandler,
    model: Any,
    methods: list[str],
    sample_input_data: Any,
    signatures: Any,
) -> dict[str, model_signature.ModelSignature]:
    if signatures is not None and sample_input_data is not None:
        raise InvalidInput(
            "Signatures and sample_input both cannot be specified at the same time: pass one of them"
        )
    if signatures is not None:
        sigs = model_signature.normalize_signatures(signatures)
        missing = sorted(set(sigs) - set(methods))
        if missing:
            raise InvalidInput(
                f"signatures name method(s) {', '.join(missing)} that the model does not have; "
                f"it has: {', '.join(methods) or 'none'}"
            )
        return sigs
    if sample_input_data is not None:
        return handler.infer_signatures(model, methods, sample_input_data)
    native = handler.native_signatures(model)
    if native:
        return native
    raise InvalidInput(
        "Signatures and sample_input both cannot be None at the same time for this kind of model: "
        "pass sample_input_data=<a few rows> or signatures={'predict': ModelSignature(...)}"
    )


def build_package(
    *,
    root: Path,
    model: Any,
    model_id: str,
    model_name: str,
    model_version: str,
    code_paths: list[Path],
    conda_dependencies: list[str],
    pip_requirements: list[str],
    options: dict[str, Any],
    sample_input_data: Any,
    signatures: Any,
    registry_id: str | None = None,
) -> BuiltPackage:
    model_type = options.get("model_type")
    handler = handlers.get_handler(model_type) if model_type else handlers.detect(model)
    methods = handler.target_methods(model)
    wanted = options.get("target_methods")
    if wanted:
        unknown = [m for m in wanted if m not in methods]
        if unknown:
            raise InvalidInput(
                f"target method(s) {', '.join(unknown)} not found on the model; it has: {', '.join(methods) or 'none'}"
            )
        methods = list(wanted)
    if not methods:
        raise InvalidInput(
            f"a {type(model).__name__} has no target method (predict, predict_proba, transform, __call__, ...)"
        )
    sigs = resolve_signatures(handler, model, methods, sample_input_data, signatures)
    methods = [m for m in methods if m in sigs] or methods

    packages = list(handler.model_packages(model))
    for spec in pip_requirements + conda_dependencies:
        name = provenance.requirement_name(spec)
        if name:
            packages.append(name)
    environment = provenance.environment_spec(packages)

    writer = PackageWriter(root)
    info = handler.save(model, writer)
    code_dirs = []
    for path in code_paths:
        writer.copy_tree(path, f"code/{path.name}" if path.is_dir() else "code")
        code_dirs.append(f"code/{path.name}" if path.is_dir() else "code")
    if pip_requirements:
        writer.write_text("env/requirements.txt", "\n".join(pip_requirements) + "\n")
    if conda_dependencies:
        deps = "".join(f"  - {d}\n" for d in conda_dependencies)
        writer.write_text("env/conda.yml", f"name: {model_name}\ndependencies:\n{deps}")
    if options.get("embed_local_ml_library"):
        writer.copy_tree(Path(__file__).resolve().parent.parent, "mlreg")

    manifest = {
        "format_version": FORMAT_VERSION,
        "mlreg_version": __version__,
        "id": model_id,
        # the registry that logged it: its gc removes the package only if it carries this
        **({"registry_id": registry_id} if registry_id else {}),
        "name": model_name,
        "version": model_version,
        "type": handler.type_name,
        "handler": info,
        "target_methods": methods,
        "signatures": {m: s.to_dict() for m, s in sigs.items()},
        "environment": environment,
        "code_paths": sorted(set(code_dirs)),
        "pip_requirements": pip_requirements,
        "conda_dependencies": conda_dependencies,
        "embed_local_ml_library": bool(options.get("embed_local_ml_library")),
        "python": sys.version.split()[0],
    }
    writer.write_manifest(manifest)
    # the registry's copy of the manifest also holds the BLAKE3 of MANIFEST.json itself
    manifest["blake3"] = dict(sorted(writer.blake3.items()))
    return BuiltPackage(handler.type_name, manifest, dict(writer.files), sigs, environment)
