"""Fuzz the rule-file loader with near-valid files: the mistakes people and attackers make.

``tests/rules`` loads TOML documents hypothesis builds from the schema's key
names. Those are always well-formed TOML; the bugs hide one step away from a
valid file. These targets start from real rule files (the good fixtures, the
starter file, the example rules) and apply one to three edits: a value
replaced (by a huge, hex, negative, non-finite or wrongly typed value, a
string with control characters, a deep nesting, a name from elsewhere in the
file), a key renamed (a typo, a quoted key with a newline in it), a line
deleted, doubled or moved, a table doubled, a header turned from ``[[x]]``
into ``[x]``, text inserted, the file cut short; and for ``load`` the bytes
re-encoded (UTF-16, Latin-1, a byte order mark) and spoiled (NUL, lone
continuation bytes, encoded surrogates).

Property: ``loads`` returns a rule set that validates and survives a save
and a reload unchanged, or raises ``RuleFileError`` whose problems are each
one printable line ``PATH:LINE[:COL]: ...`` and at most ``MAX_PROBLEMS`` + 1
of them. The admin socket's ``decode_protocol`` answers the same text with
a definition or a ``RuleFileError``.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import strategies as st

from engine.admin.protocol import decode_protocol
from rules.errors import RuleFileError, RuleFileUnreadable
from rules.loader import load, loads
from rules.locate import MAX_PROBLEMS
from rules.saver import dumps
from rules.starter import STARTER_TEXT
from rules.validate import validate
from tests.fuzz.target import Target, attempt

ROOT = Path(__file__).resolve().parents[2]
BASES = (
    *(path.read_text() for path in sorted((ROOT / "tests/rules/data/good").glob("*.toml"))),
    (ROOT / "examples/rules.toml").read_text(),
    STARTER_TEXT,
)
CONTEXT = loads((ROOT / "examples/rules.toml").read_text())
PATH = "fuzz.toml"
LONGEST_LINE = 1200
"""A generous bound on one problem line: key and message are cut, the path is ours."""

_VALUE = re.compile(r"""=[ \t]*("[^"\n]*"|'[^'\n]*'|[^,}\]\n#\[{"']+)""")
_KEY = re.compile(r"(?m)(?:^|[{,])[ \t]*([A-Za-z0-9_-]+)[ \t]*=")
_STRING = re.compile(r'"[^"\n]*"')

HOSTILE_VALUES = st.sampled_from(
    [
        "0", "-1", "65536", "1" + "0" * 30, "9" * 400, "-" + "9" * 4300, "0x" + "f" * 5000,
        "0o777", "0b2", "1_000", "inf", "-inf", "nan", "1e400", "-0.0", "true", "1979-05-27",
        "07:32:00", "1979-05-27T07:32:00Z", '""', '" "', '"any"', '"\\u0000"', '"a\\nb"',
        '"\\u2028"', '"\\u001b[2J"', '"%s%n"', "'''x\ny'''", '"' + "x" * 5000 + '"', "[]",
        "[[]]", '["any", 1]', "{}", "{ port = 1 }", "[" * 600 + "]" * 600,
        "{a=" * 200 + "1" + "}" * 200, '"1.2.3.4/33"', '"::1-10.0.0.1"', '"1024-1"',
        '"a5b2c3d4-0000-4000-8000-000000000021"', '"{}"', '"outbound"', '"send-receive"',
    ]
)  # fmt: skip
HOSTILE_KEYS = st.sampled_from(
    ["nme", "Name", "name ", '"a\\nb"', '""', '"a.b"', '"\\u2028"', "x" * 300, "rule", "version"]
)
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\n[[rule]]\n", "\n[service]\n", "[", "]", "=", '"', "'''", "\\", "\x00"]),
    st.sampled_from(["\ufeff", "\r", "\x1b", "#", "\t", "\u2028", "\ud800"]),
    st.text(max_size=6),
)


@st.composite
def one_edit(draw: st.DrawFn, text: str) -> str:
    """``text`` with one hostile edit (see the module docstring)."""
    how = draw(
        st.sampled_from(
            ["value", "value", "value", "swap", "key", "line", "block", "header", "insert", "cut"]
        )
    )
    if how in ("value", "swap", "key"):
        spans = list((_KEY if how == "key" else _VALUE).finditer(text))
        if spans:
            start, end = draw(st.sampled_from(spans)).span(1)
            if how == "value":
                new = draw(HOSTILE_VALUES)
            elif how == "swap":
                new = draw(st.sampled_from(_STRING.findall(text) or ['"x"']))
            else:
                new = draw(HOSTILE_KEYS)
            return text[:start] + new + text[end:]
    lines = text.split("\n")
    if how == "line":
        at = draw(st.integers(0, len(lines) - 1))
        change = draw(st.sampled_from(["drop", "double", "move"]))
        line = lines.pop(at)
        if change != "drop":
            lines.insert(at if change == "double" else draw(st.integers(0, len(lines))), line)
        if change == "double":
            lines.insert(at, line)
        return "\n".join(lines)
    if how in ("block", "header"):
        headers = [n for n, line in enumerate(lines) if line.startswith("[")]
        if headers:
            at = draw(st.sampled_from(headers))
            if how == "header":
                lines[at] = lines[at].replace("[[", "[").replace("]]", "]")
                return "\n".join(lines)
            end = next((n for n in headers if n > at), len(lines))
            return "\n".join([*lines[:end], *lines[at:end], *lines[end:]])
    at = draw(st.integers(0, len(text)))
    if how == "cut":
        return text[:at]
    return text[:at] + draw(HOSTILE_TEXT) + text[at:]


@st.composite
def near_valid_texts(draw: st.DrawFn) -> str:
    """A real rule file with one to three hostile edits."""
    text = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 3))):
        text = draw(one_edit(text))
    return text


def check_problems(error: RuleFileError, path: str) -> None:
    """Each problem is one printable line that says where; there are not too many of them."""
    assert error.problems
    assert len(error.problems) <= MAX_PROBLEMS + 1
    for problem in error.problems:
        line = str(problem)
        assert line.startswith(f"{path}:"), line
        assert len(line.splitlines()) == 1, line
        assert line.isprintable(), line
        assert len(line) <= LONGEST_LINE + len(path), line
        if not isinstance(error, RuleFileUnreadable):
            assert problem.line is not None, line


def check_text(text: str) -> None:
    """A valid rule set that saves and reloads unchanged, or one-line located problems."""
    loaded = attempt(lambda: loads(text, PATH), RuleFileError)
    if isinstance(loaded, RuleFileError):
        check_problems(loaded, PATH)
    else:
        assert validate(loaded) == []
        assert loads(dumps(loaded)) == loaded
    definition = attempt(lambda: decode_protocol(text, CONTEXT), RuleFileError)
    if isinstance(definition, RuleFileError):
        assert all(len(str(problem).splitlines()) == 1 for problem in definition.problems)


NEAR_VALID = Target("rules-near-valid", near_valid_texts(), check_text)
ANY_TEXT = Target(
    "rules-any-text",
    st.one_of(st.text(max_size=300), st.lists(HOSTILE_TEXT, max_size=40).map("".join)),
    check_text,
)


def test_near_valid_rule_files_load_and_round_trip_or_give_located_one_line_problems() -> None:
    NEAR_VALID.run()


def test_any_text_loads_or_gives_located_one_line_problems() -> None:
    ANY_TEXT.run()


# -- bytes: encodings ------------------------------------------------------------------

ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "latin-1", "cp1252"])
HOSTILE_BYTES = st.sampled_from(
    [b"\x00", b"\xff", b"\xfe\xff", b"\xef\xbb\xbf", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\r"]
)


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """A near-valid rule file in some encoding, perhaps with a hostile byte inserted."""
    text = draw(near_valid_texts()) if draw(st.booleans()) else draw(st.sampled_from(BASES))
    if draw(st.booleans()):
        text = text.replace('name = "', 'name = "Zoë ')
    encoding = draw(ENCODINGS)
    data = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(HOSTILE_BYTES) + data[at:]
    return data


def check_file(data: bytes) -> None:
    """``load`` of the bytes: a rule set, or one-line problems naming the file."""
    with tempfile.TemporaryDirectory(prefix="fwx-fuzz-") as folder:
        path = Path(folder) / "rules.toml"
        path.write_bytes(data)
        loaded = attempt(lambda: load(path), RuleFileError)
    if isinstance(loaded, RuleFileError):
        assert not isinstance(loaded, RuleFileUnreadable)
        check_problems(loaded, str(path))
    else:
        assert validate(loaded) == []


FILE_BYTES = Target("rules-file-bytes", file_bytes(), check_file)


def test_rule_files_in_any_encoding_with_hostile_bytes_load_or_say_where() -> None:
    FILE_BYTES.run()


TARGETS = (NEAR_VALID, ANY_TEXT, FILE_BYTES)
