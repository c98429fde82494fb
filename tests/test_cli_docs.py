"""Generated docs do not drift: completions/ and man/ equal what scripts/gen_docs.py makes
from the app now, and every man page is clean for groff -ww."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REGENERATE = "regenerate them with `make docs` (python scripts/gen_docs.py)"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate()


def test_generator_covers_every_command(generated):
    from typer.main import get_command

    from mlreg.cli.app import app

    pages = {p for p in generated if p.startswith("man/")}
    assert pages == {"man/mlreg.1"} | {f"man/mlreg-{name}.1" for name in get_command(app).commands}
    assert {p for p in generated if p.startswith("completions/")} == {
        "completions/mlreg.bash", "completions/_mlreg", "completions/mlreg.fish"}


def test_committed_files_match_the_app(generated):
    stale = [rel for rel, text in sorted(generated.items())
             if not (REPO / rel).is_file() or (REPO / rel).read_text(encoding="utf-8") != text]
    assert stale == [], f"out of date: {stale}; {REGENERATE}"
    committed = {f"{d}/{p.name}" for d in ("man", "completions") for p in (REPO / d).iterdir() if p.is_file()}
    assert committed - set(generated) == set(), f"no longer generated: {committed - set(generated)}; delete them"


def test_regenerating_into_a_directory(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_docs.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for rel in ("man/mlreg.1", "man/mlreg-log.1", "completions/mlreg.bash"):
        assert (tmp_path / rel).read_text() == (REPO / rel).read_text()


def test_man_pages_are_groff_clean(generated):
    groff = shutil.which("groff")
    assert groff, "groff is needed to check the man pages (apt-get install groff-base)"
    for rel, text in sorted(generated.items()):
        if not rel.startswith("man/"):
            continue
        proc = subprocess.run([groff, "-ww", "-z", "-man", "-Tutf8"], input=text, capture_output=True, text=True)
        assert (proc.returncode, proc.stderr) == (0, ""), rel


def test_root_page_documents_exit_codes_environment_and_files(generated):
    page = generated["man/mlreg.1"]
    for code in ("0", "1", "2", "3", "4", "5", "6", "7", "130"):
        assert f"\n.TP\n\\fB{code}\\fR\n" in page
    for var in ("MLREG_HOME", "MLREG_STAGE", "MLREG_DATABASE", "MLREG_ROLE", "MLREG_CONNECTION", "MLREG_CONFIG",
                "MLREG_LOCK_TIMEOUT", "NO_COLOR"):
        assert f"\\fB{var}\\fR" in page
    assert "config.toml" in page and ".SH FILES" in page


def test_completion_scripts_call_back_into_mlreg(generated):
    assert "_MLREG_COMPLETE=complete_bash" in generated["completions/mlreg.bash"]
    assert generated["completions/_mlreg"].startswith("#compdef mlreg")
    assert "_MLREG_COMPLETE=complete_fish" in generated["completions/mlreg.fish"]


def test_completion_of_subcommands(mlreg_bin):
    run = mlreg_bin(env={"_MLREG_COMPLETE": "complete_bash", "COMP_WORDS": "mlreg ta", "COMP_CWORD": "1"})
    assert run.exit_code == 0 and run.stdout.split() == ["tag"]


def test_completion_of_model_names_versions_and_tags(mlreg_bin, logged):
    def complete(words: str) -> list[str]:
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        run = mlreg_bin(env={"_MLREG_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
        assert run.exit_code == 0 and run.stderr == "", run
        return run.stdout.split()

    assert complete("mlreg show ") == ["m"]
    assert complete("mlreg show m ") == ["1", "DEFAULT", "FIRST", "LAST"]  # a version, or an alias
    assert mlreg_bin("alias", "set", "m", "prod", "1").exit_code == 0
    assert complete("mlreg show m P") == ["PROD"]
    assert complete("mlreg alias unset m ") == ["PROD"]
    assert complete("mlreg tag get m 1 ") == ["stage"]
    assert complete("mlreg metric get m 1 a") == ["acc"]
    assert complete("mlreg -d NOPE show ") == []  # no registry: no suggestions, no error
