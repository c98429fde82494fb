"""Bad input, fuzzed: arbitrary text and bytes thrown at every user input of the command
line. Each is either accepted (and then reads back exactly) or refused with a one-line
error and the documented exit code, leaving the registry file and the stage
byte-identical. `--where` is read-only by construction: it never changes anything.

The commands run in-process (Typer's CliRunner) to keep hundreds of examples fast;
tests/test_security.py and the reliability tests run the installed `mlreg`.
"""

from __future__ import annotations

import json
import pickle
import re
import string
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlreg.cli.app import app
from mlreg.cli.params import parse_metric_value
from mlreg.errors import InvalidInput
from tests.data.harness import SIGNATURES, fingerprint, write_model_pickle, write_signatures
from tests.fixtures.models import SumModel
from tests.jsoncompare import same

FUZZ = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
VALID_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,255}")
EXIT_INVALID, EXIT_USAGE, EXIT_NOT_FOUND = 1, 2, 3

# text that stresses parsers: control characters, quotes, SQL and path syntax, unicode
NASTY = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list("\x00\n\r\t'\"`;\\/.-=%$*()[]{}<>|&~#") + ["..", "--", "/*", "NaN", "null", "../"]),
    ),
    max_size=60,
).map("".join)


def is_valid_name(text: str) -> bool:
    return bool(VALID_NAME.fullmatch(text)) and not text.startswith(".")


class Cli:
    def __init__(self, home: Path):
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str):
        return self.runner.invoke(app, list(args))

    def snapshot(self) -> dict[str, str]:
        return fingerprint(self.home)

    def refused(self, result, codes=(EXIT_INVALID,)) -> None:
        assert result.exit_code in codes, (result.exit_code, result.stdout, result.stderr, result.exception)
        lines = [line for line in result.stderr.splitlines() if not line.startswith("Warning: ")]
        if result.exit_code == EXIT_USAGE and lines and lines[0].startswith("Usage:"):
            return  # Click's own usage errors come with the usage line
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "Traceback" not in result.stderr


@pytest.fixture
def cli(registry, hermetic_env, tmp_path, monkeypatch) -> Cli:
    # build the Click command tree once, not for every one of hundreds of invocations
    import typer.main
    import typer.testing

    command = typer.main.get_command(app)
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: command)
    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES, tags={"t": "v"})
    write_model_pickle(tmp_path / "m.pkl", SumModel())
    write_signatures(tmp_path / "sig.json")
    return Cli(hermetic_env)


_counter = iter(range(10**9))


def fresh_version() -> str:
    return f"v{next(_counter)}"


# -- names and versions ------------------------------------------------------------------------

NAME_COMMANDS = [
    lambda t: ["log", "m.pkl", f"--name={t}", "--version=1", "--signatures", "sig.json"],
    lambda t: ["log", "m.pkl", "--name=m", f"--version={t}", "--signatures", "sig.json"],
    lambda t: ["show", "--", t, "1"],
    lambda t: ["tag", "set", "--", "m", t, "k", "v"],
    lambda t: ["metric", "set", "--", t, "1", "k", "1"],
    lambda t: ["delete", "--yes", "--", t, "1"],
    lambda t: [f"--database={t}", "list"],
]


@FUZZ
@given(text=NASTY, command=st.sampled_from(range(len(NAME_COMMANDS))))
def test_fuzz_model_names_and_versions(cli, text, command):
    assume(not is_valid_name(text))
    args = NAME_COMMANDS[command](text)
    assume(not (args[0] == "--database=" and text == ""))  # an empty database name means the default
    before = cli.snapshot()
    result = cli(*args)
    cli.refused(result)
    assert "invalid" in result.stderr or "must not be empty" in result.stderr or "characters long" in result.stderr
    assert cli.snapshot() == before


# -- tags --------------------------------------------------------------------------------------

@FUZZ
@given(key=NASTY, value=NASTY)
@example(key="=", value="=")  # found by a run: read as two pairs, neither with a key
@example(key="00=", value="0=")  # found by a run: two good pairs, set together
def test_fuzz_tags(cli, registry, key, value):
    before = cli.snapshot()
    result = cli("tag", "set", "--", "m", "1", key, value)
    if "=" in key and "=" in value:
        # both hold '=': read as two TAG=VALUE pairs, set together when both are good; a pair
        # without a key, or the same key twice, is a usage error (2), a bad key or value an
        # invalid input (1)
        pairs = dict(arg.partition("=")[::2] for arg in (key, value))
        if len(pairs) == 2 and all(_good_key(k) and "\x00" not in v for k, v in pairs.items()):
            assert result.exit_code == 0, result.stderr
            assert {k: registry.get_tag_value("m", "1", k) for k in pairs} == pairs
            for k in pairs:
                registry.remove_tag("m", "1", k)
        else:
            cli.refused(result, codes=(EXIT_INVALID, EXIT_USAGE))
            assert cli.snapshot() == before
    elif _good_key(key) and "\x00" not in value:
        assert result.exit_code == 0, result.stderr
        assert registry.get_tag_value("m", "1", key) == value  # exactly what was set
        registry.remove_tag("m", "1", key)
    else:
        cli.refused(result, codes=(EXIT_INVALID,))
        assert cli.snapshot() == before


def _good_key(key: str) -> bool:
    # no C0/C1 controls, formatting (bidi, zero-width) characters or line/paragraph separators
    invisible = any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in key)
    return 0 < len(key) <= 255 and "=" not in key and not re.search(r"[\x00-\x1f\x7f]", key) and not invisible


# -- metrics -----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


@FUZZ
@given(text=st.one_of(NASTY, JSON_VALUES.map(json.dumps)))
def test_fuzz_metric_values(cli, registry, text):
    before = cli.snapshot()
    result = cli("metric", "set", "--", "m", "1", "acc", text)
    try:
        expected = parse_metric_value(text)  # JSON, else a bare word; broken JSON is refused
        refuse = _has_nul(expected)
    except (InvalidInput, RecursionError):
        refuse = True
    if refuse:
        cli.refused(result)
        assert cli.snapshot() == before
        return
    assert result.exit_code == 0, result.stderr
    assert same(registry.get_metric_value("m", "1", "acc"), expected)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_fuzz_metric_files(cli, registry, tmp_path, data):
    path = tmp_path / "metric.json"
    path.write_bytes(data)
    before = cli.snapshot()
    result = cli("metric", "set", "m", "1", "acc", "--file", str(path))
    try:
        expected = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        cli.refused(result)
        assert cli.snapshot() == before
        return
    if _has_nul(expected):
        cli.refused(result)
        assert cli.snapshot() == before
        return
    assert result.exit_code == 0, result.stderr
    assert same(registry.get_metric_value("m", "1", "acc"), expected)


# -- --where -----------------------------------------------------------------------------------

SQLISH = st.lists(
    st.sampled_from([
        "NAME", "VERSION", "TAGS", "METRICS", "ID", "=", "<>", "'m'", "'", "1", "0", "AND", "OR", "NOT", "(",
        ")", ";", "--", "/*", "DROP TABLE models", "SELECT", "FROM", "query(", "read_blob(", "ATTACH", "COPY",
        "TAGS->>'t'", "::INT", "NULL", "IS", "LIKE", "'%'", ",", "*", "reg.models", "\x00", "CREATE",
    ]),
    max_size=12,
).map(" ".join)


@FUZZ
@given(where=st.one_of(NASTY, SQLISH), option=st.sampled_from(["--where", "--order-by", "--columns"]))
def test_fuzz_where_is_read_only(cli, where, option):
    before = cli.snapshot()
    result = cli("list", option, where, "--format", "json")
    if result.exit_code == 0:
        json.loads(result.stdout)
    else:
        cli.refused(result, codes=(EXIT_USAGE,))
    assert cli.snapshot() == before


# -- files given to `log` ------------------------------------------------------------------------

SIGNATURE_LIKE = st.fixed_dictionaries({
    "predict": st.fixed_dictionaries({
        "inputs": st.lists(st.fixed_dictionaries({
            "name": st.one_of(st.sampled_from(["a", "b"]), NASTY),
            "type": st.one_of(st.sampled_from(["DOUBLE", "INT64", "STRING", "double", "BLOB"]), NASTY),
        }, optional={"shape": st.one_of(st.lists(st.integers(-2, 3), max_size=3), NASTY), "nullable": JSON_VALUES}),
            max_size=3),
        "outputs": st.one_of(st.lists(st.fixed_dictionaries({"name": NASTY, "type": st.just("DOUBLE")}), max_size=2),
                             JSON_VALUES),
    }),
}) | st.dictionaries(NASTY, JSON_VALUES, max_size=3)


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), JSON_VALUES.map(json.dumps).map(str.encode),
                      SIGNATURE_LIKE.map(json.dumps).map(str.encode)))
def test_fuzz_signature_files(cli, registry, tmp_path, data):
    path = tmp_path / "fuzz-sig.json"
    path.write_bytes(data)
    before = cli.snapshot()
    version = fresh_version()
    result = cli("log", "m.pkl", "-n", "m", "-V", version, "--signatures", str(path))
    if result.exit_code == 0:  # a valid signature after all: registered as given
        sig = registry.get_model("m", version).manifest["signatures"]
        assert set(sig) == {"predict"}
        return
    cli.refused(result)
    assert cli.snapshot() == before


SAMPLE_SUFFIXES = [".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt", ".xlsx", ""]


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), NASTY.map(str.encode)), suffix=st.sampled_from(SAMPLE_SUFFIXES))
def test_fuzz_sample_input_files(cli, registry, tmp_path, data, suffix):
    path = tmp_path / f"sample{suffix}"
    path.write_bytes(data)
    before = cli.snapshot()
    version = fresh_version()
    result = cli("log", "m.pkl", "-n", "m", "-V", version, "--sample-input", str(path))
    if result.exit_code == 0:  # a few numeric rows after all: the model was logged
        assert registry.get_model("m", version).manifest["signatures"]["predict"]["inputs"]
        return
    cli.refused(result)
    assert cli.snapshot() == before


MODEL_SUFFIXES = [".pkl", ".joblib", ".json", ".ubj", ".txt", ".bin", ""]


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from(MODEL_SUFFIXES))
def test_fuzz_model_files(cli, tmp_path, data, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(data)
    before = cli.snapshot()
    result = cli("log", str(path), "-n", "m", "-V", fresh_version(), "--signatures", "sig.json")
    cli.refused(result)
    assert cli.snapshot() == before


WRONG_THINGS = [b"", pickle.dumps(5), pickle.dumps("a model"), pickle.dumps({"predict": 1}), pickle.dumps([1, 2]),
                pickle.dumps(None), pickle.dumps(b"bytes"), pickle.dumps(3.5), pickle.dumps(SIGNATURES),
                b"\x80\x05", b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7f",
                # a pickle that calls os.system("true"): pickles are code (log only what you trust);
                # what it returns (0) is still not a model
                b"cos\nsystem\n(S'true'\ntR.",
                b"(\x00" * 50, b"{", b'{"learner": 1}', b"tree\nversion=v4\n", b"PK\x03\x04garbage"]


@pytest.mark.parametrize("data", WRONG_THINGS, ids=range(len(WRONG_THINGS)))
@pytest.mark.parametrize("suffix", [".pkl", ".json", ".txt", ""])
def test_wrong_model_files(cli, tmp_path, data, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(data)
    before = cli.snapshot()
    result = cli("log", str(path), "-n", "m", "-V", fresh_version(), "--signatures", "sig.json")
    cli.refused(result)
    assert str(path) in result.stderr or "has no target method" in result.stderr
    assert cli.snapshot() == before


@pytest.mark.parametrize("data", [b"", b"\x80\x05K\x05.", b"PK\x03\x04" + bytes(range(256)), bytes(range(256))],
                         ids=["empty", "pickled-int", "broken-zip", "bytes"])
def test_wrong_torch_files(cli, tmp_path, data):
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    before = cli.snapshot()
    result = cli("log", str(path), "-n", "m", "-V", fresh_version(), "--signatures", "sig.json")
    cli.refused(result)
    assert cli.snapshot() == before


# -- config files ------------------------------------------------------------------------------

TOML_KEYS = st.sampled_from(["home", "stage", "database", "role", "stage_options", "default_connection",
                             "connections", "secret", "x"]) | st.text(string.ascii_letters, min_size=1, max_size=8)
TOML_VALUES = st.one_of(st.text(max_size=20).map(json.dumps), st.integers().map(str), st.sampled_from(["true", "false"]),
                        st.just("[]"), st.just("{}"), st.just('["a"]'))


@st.composite
def toml_documents(draw) -> str:
    lines = [f"{draw(TOML_KEYS)} = {draw(TOML_VALUES)}" for _ in range(draw(st.integers(0, 3)))]
    for _ in range(draw(st.integers(0, 3))):
        lines.append(f"[{draw(st.sampled_from(['connections.a', 'connections.b.stage_options', 'tool.mlreg', 'x']))}]")
        lines += [f"{draw(TOML_KEYS)} = {draw(TOML_VALUES)}" for _ in range(draw(st.integers(0, 3)))]
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=st.one_of(NASTY, toml_documents()), connection=st.sampled_from([None, "a", "b"]))
def test_fuzz_config_files(cli, tmp_path, monkeypatch, text, connection):
    import os

    config = Path(os.environ["MLREG_CONFIG"])
    config.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = cli.snapshot()
    args = (["--connection", connection] if connection else []) + ["list", "--format", "json"]
    result = cli(*args)
    if result.exit_code != 0:
        cli.refused(result, codes=(EXIT_INVALID, EXIT_NOT_FOUND))
    assert cli.snapshot() == before
