"""The download cache of remote stages and their progress reports (no server needed)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from mlreg.errors import IntegrityError, InvalidInput
from mlreg.stage import progress
from mlreg.stage.cache import DEFAULT_MAX_BYTES, STALE_TMP_SECONDS, Cache, cache_root, max_bytes
from tests.fixtures.progress import Recorder


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(cache: Cache, data: bytes, mtime: float | None = None) -> Path:
    path = cache.store(sha(data), iter([data[:3], data[3:]]), "test file")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_cache_root_resolution(tmp_path: Path) -> None:
    home = Path.home()
    assert cache_root({"MLREG_CACHE_DIR": str(tmp_path / "x"), "XDG_CACHE_HOME": "/elsewhere"}) == tmp_path / "x"
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "mlreg"
    assert cache_root({}) == home / ".cache" / "mlreg"


@pytest.mark.parametrize(
    "raw, expected",
    [("", DEFAULT_MAX_BYTES), ("1000", 1000), ("5G", 5 << 30), ("5GiB", 5 << 30), ("1.5k", 1536), (" 2M ", 2 << 20), ("0", 0)],
)
def test_max_bytes(raw: str, expected: int) -> None:
    assert max_bytes({"MLREG_CACHE_MAX_BYTES": raw}) == expected


@pytest.mark.parametrize("raw", ["lots", "-1", "5X", "G"])
def test_bad_max_bytes_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="MLREG_CACHE_MAX_BYTES"):
        max_bytes({"MLREG_CACHE_MAX_BYTES": raw})


def test_store_verifies_while_writing(tmp_path: Path) -> None:
    cache = Cache(tmp_path, limit=1 << 20)
    path = stored(cache, b"hello world")
    assert path.read_bytes() == b"hello world" and cache.lookup(sha(b"hello world")) == path
    with pytest.raises(IntegrityError, match="^thing does not match the sha256 recorded"):
        cache.store(sha(b"expected"), iter([b"something else"]), "thing")
    assert cache.lookup(sha(b"expected")) is None
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_changed_blob_is_dropped_on_lookup(tmp_path: Path) -> None:
    cache = Cache(tmp_path, limit=1 << 20)
    path = stored(cache, b"hello world")
    path.chmod(0o644)
    path.write_bytes(b"hello wOrld")
    assert cache.lookup(sha(b"hello world")) is None
    assert not path.exists()


def test_invalid_digest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError):
        Cache(tmp_path).lookup("../../etc/passwd")


def test_lru_eviction_keeps_recent_and_in_use_blobs(tmp_path: Path) -> None:
    cache = Cache(tmp_path, limit=250)
    old = stored(cache, b"a" * 100, mtime=1_000)
    in_use = stored(cache, b"b" * 100, mtime=2_000)
    recent = stored(cache, b"c" * 100, mtime=3_000)
    cache.evict(keep=[in_use], now=4_000)
    assert (old.exists(), in_use.exists(), recent.exists()) == (False, True, True)
    assert cache.lookup(sha(b"c" * 100)) == recent  # a use refreshes the LRU time
    assert recent.stat().st_mtime > 3_000


def test_views_are_links_and_go_when_their_blob_goes(tmp_path: Path) -> None:
    cache = Cache(tmp_path, limit=1 << 20)
    a, b = stored(cache, b"model bytes"), stored(cache, b"manifest")
    view = cache.view("pkg", {"model/m.bin": a, "MANIFEST.json": b})
    assert (view / "model/m.bin").read_bytes() == b"model bytes"
    assert os.path.samefile(view / "model/m.bin", a)
    assert cache.view("pkg", {"model/m.bin": a, "MANIFEST.json": b}) == view
    cache.limit = 0
    cache.evict(keep=[b], now=0)
    assert not a.exists() and not view.exists()


def test_a_view_whose_file_was_replaced_is_rebuilt(tmp_path: Path) -> None:
    cache = Cache(tmp_path, limit=1 << 20)
    a = stored(cache, b"model bytes")
    view = cache.view("pkg", {"m": a})
    (view / "m").unlink()
    (view / "m").write_bytes(b"other")
    assert (cache.view("pkg", {"m": a}) / "m").read_bytes() == b"model bytes"


def test_abandoned_downloads_are_removed_after_a_day(tmp_path: Path) -> None:
    cache = Cache(tmp_path, limit=1 << 20)
    tmp = cache.tmp_dir()
    (tmp / "dl-old").write_bytes(b"x")
    (tmp / "dl-new").write_bytes(b"x")
    os.utime(tmp / "dl-old", (0, 0))
    cache.evict(now=STALE_TMP_SECONDS + 10)
    assert sorted(p.name for p in tmp.iterdir()) == ["dl-new"]


# -- progress ---------------------------------------------------------------------------------
def test_transfers_are_reported_to_the_installed_reporter_only() -> None:
    outer, inner = Recorder(), Recorder()
    with progress.transfer("unheard", 5) as advance:
        advance(5)
    with progress.reporting(outer):
        with progress.transfer("uploading a", 10) as advance:
            advance(4)
            advance(6)
        with progress.reporting(inner), progress.transfer("downloading b", None) as advance:
            advance(1)
        with progress.reporting(None), progress.transfer("silenced", 1) as advance:
            advance(1)
        with pytest.raises(OSError), progress.transfer("failing", 3) as advance:
            advance(1)
            raise OSError("gone")
    with progress.transfer("unheard again", 5) as advance:
        advance(5)
    assert outer.events == [("start", "uploading a", 10), ("advance", 4), ("advance", 6), ("finish",),
                            ("start", "failing", 3), ("advance", 1), ("finish",)]
    assert inner.events == [("start", "downloading b", None), ("advance", 1), ("finish",)]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_core_draws_nothing_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    err = FakeTTY()
    monkeypatch.setattr("sys.stderr", err)
    with progress.transfer("uploading x", 10) as advance:
        advance(10)
    assert err.getvalue() == ""
    assert capsys.readouterr() == ("", "")
