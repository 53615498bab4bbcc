"""Line numbers for key paths (tomllib gives none), and tomllib's syntax errors as Problems."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.locate import KeyLocator, syntax_problem

TEXT = """\
version = 1
# a comment with [brackets] and key = "value"
[service]
listen = "127.0.0.1:1080"   # trailing comment

[[protocol]]
name = "FTP # not a comment"
primary = { port = 21, transport = "tcp" }
secondary = [{ ports = "1024-65535" },
    { ports = "20" }]

[[protocol]]
name = 'literal \\ string'
description = \"\"\"
[[protocol]]
fake = "inside a multi-line string"
\"\"\"
primary.port = 53

[protocol.extra]
port = 5

[[protocol.secondary]]
ports = "a"

[[protocol.secondary]]
ports = "b"

[[ip_filter]]
include = [
    "192.0.2.0/24",  # first
    "198.51.100.0/24",
]
"quoted.key" = 1
"""


@pytest.fixture(scope="module")
def locator() -> KeyLocator:
    tomllib.loads(TEXT)  # the locator is only ever used on text tomllib accepts
    return KeyLocator(TEXT)


@pytest.mark.parametrize(
    ("key_path", "position"),
    [
        ("version", (1, 1)),
        ("service", (3, 1)),
        ("service.listen", (4, 1)),
        ("protocol", (6, 1)),
        ("protocol[0]", (6, 1)),
        ("protocol[0].name", (7, 1)),
        ("protocol[0].primary", (8, 1)),
        ("protocol[0].primary.transport", (8, 24)),
        ("protocol[0].secondary[0].ports", (9, 16)),
        ("protocol[0].secondary[1]", (10, 5)),
        ("protocol[1]", (12, 1)),
        ("protocol[1].description", (14, 1)),
        ("protocol[1].primary.port", (18, 1)),
        ("protocol[1].extra.port", (21, 1)),
        ("protocol[1].secondary[0].ports", (24, 1)),
        ("protocol[1].secondary[1]", (26, 1)),
        ("protocol[1].secondary[1].ports", (27, 1)),
        ("ip_filter[0].include[1]", (32, 5)),
        ("ip_filter[0].quoted.key", (34, 1)),
    ],
)
def test_positions_of_keys_headers_and_elements(
    locator: KeyLocator, key_path: str, position: tuple[int, int]
) -> None:
    assert locator.position(key_path) == position


def test_strings_and_comments_do_not_create_keys(locator: KeyLocator) -> None:
    assert locator.position("protocol[2]") == (6, 1)  # falls back to the array's first header
    assert locator.position("fake") == (1, 1)
    assert locator.line("protocol[1].fake") == 12


def test_missing_key_falls_back_to_its_table_header(locator: KeyLocator) -> None:
    assert locator.line("service.external") == 3
    assert locator.line("protocol[0].primary.direction") == 8
    assert locator.line("protocol[0].guid") == 6


def test_missing_table_falls_back_to_the_document_start(locator: KeyLocator) -> None:
    assert locator.position("user[0].name") == (1, 1)


@given(st.text(max_size=200))
def test_locator_never_raises_on_any_text(text: str) -> None:
    KeyLocator(text).line("a[0].b")


def test_syntax_problem_takes_line_and_column_from_tomllib() -> None:
    text = 'version = 1\nlisten = "x\n'
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    problem = syntax_problem(caught.value, "r.toml", text)
    assert str(problem) == "r.toml:2:12: TOML syntax error: illegal character '\\n'"


def test_syntax_problem_at_end_of_document_points_at_the_last_line() -> None:
    text = 'version = 1\nname = "unterminated'
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    problem = syntax_problem(caught.value, "r.toml", text)
    assert (problem.line, problem.col) == (2, None)
    assert problem.message == "TOML syntax error: unterminated string"


@pytest.mark.parametrize("text", ["[ ", "[", "a =", "a = ", "[[x]]\nb = ", "x = { y = ", "a.", '"'])
def test_a_text_that_ends_where_a_key_or_value_should_start_is_located_at_once(text: str) -> None:
    """Hostile input: these texts used to loop for ever (an empty peek matched a quote)."""
    assert KeyLocator(text).line("a[0].b") >= 1
