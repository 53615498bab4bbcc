"""Lines out of a byte stream: the same lines whatever the segmentation, bounded holding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.filters.base import Output
from engine.filters.lines import LineFilter, LineSplitter, Piece
from tests.engine.filters.conftest import Setup

MAX = 16


def split_all(data: bytes, cuts: list[int], max_line: int = MAX) -> tuple[list[Piece], bytes]:
    """Feed ``data`` cut at ``cuts``; the pieces, and what the end of stream gives up."""
    splitter = LineSplitter(max_line)
    pieces: list[Piece] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        pieces += splitter.feed(data[start:cut])
        assert splitter.held < max_line
        start = cut
    return pieces, splitter.flush()


def test_whole_lines_come_out_with_their_terminators() -> None:
    splitter = LineSplitter(MAX)
    assert splitter.feed(b"USER a\r\nPASS b\nNO") == [(b"USER a\r\n", True), (b"PASS b\n", True)]
    assert splitter.held == 2
    assert splitter.feed(b"OP\r\n") == [(b"NOOP\r\n", True)]
    assert splitter.flush() == b""


def test_a_partial_line_is_given_up_at_the_end_of_the_stream() -> None:
    splitter = LineSplitter(MAX)
    assert splitter.feed(b"QUIT") == []
    assert splitter.flush() == b"QUIT"


def test_a_line_at_the_bound_is_whole_one_byte_more_is_raw() -> None:
    at_bound = b"x" * (MAX - 1) + b"\n"
    assert LineSplitter(MAX).feed(at_bound) == [(at_bound, True)]
    over = b"x" * MAX + b"\n"
    assert LineSplitter(MAX).feed(over) == [(over, False)]


def test_an_over_long_line_passes_raw_until_the_next_line_starts() -> None:
    splitter = LineSplitter(MAX)
    first = splitter.feed(b"y" * (MAX + 5))
    assert first == [(b"y" * (MAX + 5), False)]
    assert splitter.held == 0
    assert splitter.feed(b"yyy\nok\n") == [(b"yyy\n", False), (b"ok\n", True)]


def test_a_bound_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LineSplitter(0)


@given(
    st.lists(st.sampled_from([b"a", b"b", b"\r", b"\n", b"x" * 7]), max_size=60).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=500), max_size=12),
)
def test_the_lines_do_not_depend_on_the_segmentation(data: bytes, cuts: list[int]) -> None:
    """Joined back, the pieces are the input; the whole lines are those of a one-shot feed."""
    cuts = [cut for cut in cuts if cut <= len(data)]
    pieces, rest = split_all(data, cuts)
    assert b"".join(chunk for chunk, _ in pieces) + rest == data
    one_shot, one_rest = split_all(data, [])
    assert [chunk for chunk, whole in pieces if whole] == [
        chunk for chunk, whole in one_shot if whole
    ]
    assert all(len(chunk) <= MAX for chunk, whole in pieces if whole)
    assert rest == one_rest


class Upper(LineFilter):
    """Rewrites the client's lines; answers ``HELLO`` from the server with a line to the server."""

    name = "upper"
    max_line = MAX

    def client_line(self, line: bytes) -> Output:
        return Output(to_server=line.upper())

    def server_line(self, line: bytes) -> Output:
        if line == b"HELLO\n":
            return Output(to_server=b"hi\n")
        return Output(to_client=line)


def test_a_line_filter_rewrites_lines_split_across_segments(setup: Setup) -> None:
    watcher = Upper(setup.filter_session)
    out = [watcher.client_data(part) for part in (b"he", b"llo\nwor", b"ld\npartial")]
    assert [o.to_server for o in out] == [b"", b"HELLO\n", b"WORLD\n"]
    assert watcher.client_data(b"") == Output(to_server=b"partial")


def test_a_line_filter_can_answer_the_side_that_spoke(setup: Setup) -> None:
    watcher = Upper(setup.filter_session)
    assert watcher.server_data(b"HELLO\nbye\n") == Output(to_server=b"hi\n", to_client=b"bye\n")


def test_over_long_runs_pass_a_line_filter_untouched(setup: Setup) -> None:
    watcher = Upper(setup.filter_session)
    long = b"z" * (MAX * 3)
    assert watcher.client_data(long) == Output(to_server=long)
    assert watcher.client_data(b"z\nabc\n") == Output(to_server=b"z\nABC\n")
