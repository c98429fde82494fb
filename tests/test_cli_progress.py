"""Progress bars are the CLI's: drawn on a terminal for slow stage transfers, never with
--quiet, NO_COLOR, TERM=dumb or off a terminal; the core only reports."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from mlreg.cli import progress as cli_progress
from mlreg.stage import progress
from tests.fixtures.progress import Recorder


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal(monkeypatch: pytest.MonkeyPatch) -> FakeTTY:
    """stderr a terminal that allows colour (set in the test itself: pytest's capture
    replaces sys.stderr again between fixture setup and the test)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    err = FakeTTY()
    monkeypatch.setattr("sys.stderr", err)
    return err


def test_bars_only_on_a_terminal_without_quiet_no_color_or_dumb_term(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal(monkeypatch)
    assert cli_progress.wanted(quiet=False)
    assert not cli_progress.wanted(quiet=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli_progress.wanted(quiet=False)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not cli_progress.wanted(quiet=False)
    monkeypatch.delenv("TERM")
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not cli_progress.wanted(quiet=False)


def slow_and_quick_transfers(now: list[float]) -> None:
    with progress.transfer("uploading quick", 100) as advance:
        advance(100)
    with progress.transfer("uploading slow", 100) as advance:
        advance(10)
        now[0] += 2.0
        advance(10)


def test_a_bar_appears_only_for_slow_transfers(monkeypatch: pytest.MonkeyPatch) -> None:
    err = terminal(monkeypatch)
    now = [0.0]
    with cli_progress.bars(quiet=False, clock=lambda: now[0]):
        slow_and_quick_transfers(now)
    assert "uploading slow" in err.getvalue()
    assert "uploading quick" not in err.getvalue()


def test_quiet_draws_nothing_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = terminal(monkeypatch)
    now = [0.0]
    with cli_progress.bars(quiet=True, clock=lambda: now[0]):
        slow_and_quick_transfers(now)
    assert err.getvalue() == ""


def test_nothing_is_drawn_off_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    now = [0.0]
    with cli_progress.bars(quiet=False, clock=lambda: now[0]):
        slow_and_quick_transfers(now)
    assert capsys.readouterr() == ("", "")


@pytest.fixture
def remote_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"memory://mlreg-{os.getpid()}-{tmp_path.name}"  # fsspec's in-process store: the runner is in-process
    monkeypatch.setenv("MLREG_STAGE", url)
    monkeypatch.setenv("MLREG_CACHE_DIR", str(tmp_path / "download-cache"))
    return url


@pytest.mark.parametrize("terminal_stderr", [True, False])
@pytest.mark.parametrize("quiet", [True, False])
def test_commands_report_transfers_to_the_cli_only_on_a_terminal_without_quiet(
        cli, model_file: Path, sample_csv: Path, remote_stage: str, monkeypatch: pytest.MonkeyPatch,
        terminal_stderr: bool, quiet: bool) -> None:
    """Each command runs with the CLI's reporter installed when bars are wanted; the
    runner's stderr is not a terminal, so "on a terminal" is what ``color_allowed`` says."""
    recorder = Recorder()
    monkeypatch.setattr(cli_progress, "BarReporter", lambda clock: recorder)
    if terminal_stderr:
        monkeypatch.setattr(cli_progress, "color_allowed", lambda stream: stream is sys.stderr)
    flags = ["-q"] if quiet else []
    assert cli(*flags, "create").exit_code == 0
    run = cli(*flags, "log", model_file, "-n", "m", "-V", "1", "--sample-input", sample_csv)
    assert (run.exit_code, run.stderr) == (0, ""), run
    package_id = run.stdout.strip()
    if terminal_stderr and not quiet:
        [(description, total, moved)] = recorder.transfers()
        assert description == f"uploading {package_id}" and total == moved > 0
    else:
        assert recorder.events == []
