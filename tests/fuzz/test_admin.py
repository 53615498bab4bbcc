"""Fuzz the admin socket's wire protocol: framing, requests, parameters, snapshot values.

``tests/engine/admin`` checks each rejection by example and that every
snapshot round-trips. These targets feed hostile input to the same steps the
server takes: byte streams of near-valid request lines (cut, spliced, with
junk, over a small line limit) through :class:`LineDecoder` at every split,
each message through ``parse_request`` and ``decode_params`` of its method;
and arbitrary or mutated JSON through ``from_json`` for every parameter and
snapshot type. Only ``ProtocolError`` / ``DecodeError`` may come out, each
reply is one ASCII line, and a ``bad-params`` message names the parameter.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from engine.admin import protocol, snapshots
from engine.admin.protocol import (
    BAD_PARAMS,
    BAD_REQUEST,
    LineDecoder,
    ProtocolError,
    SubscribeParams,
    decode_params,
    decode_protocol,
    encode_message,
    error_message,
    parse_request,
)
from engine.admin.values import DecodeError, from_json, to_json
from rules.errors import RuleFileError
from rules.loader import loads
from tests.engine.admin.test_protocol import strategy
from tests.fuzz.target import Target, attempt

PARAMS = {
    name: getattr(protocol, name)
    for name in protocol.__all__
    if name.endswith("Params") or name == "TomlText"
}
METHODS = {
    "status": "NoParams",
    "bind": "BindParams",
    "allow": "AllowParams",
    "terminate": "TerminateParams",
    "recheck": "RecheckParams",
    "put_rules": "TomlText",
    "unregister_protocol": "ProtocolParams",
    "subscribe": "SubscribeParams",
}
SNAPSHOTS = [
    getattr(snapshots, name)
    for name in snapshots.__all__
    if dataclasses.is_dataclass(getattr(snapshots, name))
]
TYPES = [*PARAMS.values(), *SNAPSHOTS]
ROOT = Path(__file__).resolve().parents[2]
CONTEXT = loads((ROOT / "examples/rules.toml").read_text())
PROTOCOL = (
    'version = 1\n[[protocol]]\nname = "Chat"\nguid = "a5b2c3d4-0000-4000-8000-000000006667"\n'
    'primary = { port = 6667, transport = "tcp", direction = "outbound" }\n'
)

JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([2**63, -(2**63) - 1, 10**400, -(10**400)]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


@st.composite
def mutated(draw: st.DrawFn, tree: Any) -> Any:
    """``tree`` with one hostile change somewhere: a key dropped or added, a value replaced."""
    if isinstance(tree, dict) and tree and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(tree)))
        how = draw(st.sampled_from(["inside", "inside", "drop", "add", "replace"]))
        copy = dict(tree)
        if how == "drop":
            del copy[key]
        elif how == "add":
            copy[draw(st.sampled_from([f"{key}_", "x", "", "a\nb", key.upper()]))] = draw(JSON)
        else:
            copy[key] = draw(mutated(tree[key])) if how == "inside" else draw(JSON)
        return copy
    if isinstance(tree, list) and tree and draw(st.integers(0, 3)):
        at = draw(st.integers(0, len(tree) - 1))
        how = draw(st.sampled_from(["inside", "drop", "append"]))
        if how == "drop":
            return tree[:at] + tree[at + 1 :]
        if how == "append":
            return [*tree, draw(JSON)]
        return [*tree[:at], draw(mutated(tree[at])), *tree[at + 1 :]]
    return draw(JSON)


@st.composite
def typed_json(draw: st.DrawFn) -> tuple[type, Any]:
    """A type, and JSON that is arbitrary, valid for it, or valid with one hostile change."""
    cls = draw(st.sampled_from(TYPES))
    kind = draw(st.sampled_from(["arbitrary", "valid", "mutated", "mutated"]))
    if kind == "arbitrary":
        return cls, draw(JSON)
    valid = json.loads(json.dumps(to_json(draw(strategy(cls)))))
    return cls, valid if kind == "valid" else draw(mutated(valid))


def check_from_json(case: tuple[type, Any]) -> None:
    """A value of the type, stable over another trip, or a ``DecodeError``."""
    cls, data = case
    value = attempt(lambda: from_json(cls, data), DecodeError)
    if isinstance(value, DecodeError):
        assert value.problem
        return
    assert isinstance(value, cls)
    assert from_json(cls, to_json(value)) == value


VALUES = Target("admin-values", typed_json(), check_from_json)


def test_any_json_for_any_parameter_or_snapshot_type_decodes_or_names_the_culprit() -> None:
    VALUES.run()


# -- framing and requests --------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """Bytes a client sends, and the line limit of the decoder that reads them."""

    data: bytes
    limit: int | None


@st.composite
def request_lines(draw: st.DrawFn) -> bytes:
    """One request line: valid, with mutated JSON, or with its bytes spoiled."""
    method = draw(st.sampled_from([*METHODS, "nonsense", ""]))
    cls = PARAMS[METHODS.get(method, "NoParams")]
    params = json.loads(json.dumps(to_json(draw(strategy(cls)))))
    message: Any = {"id": draw(st.integers(-1, 2**40)), "method": method, "params": params}
    if draw(st.booleans()):
        message = draw(mutated(message))
    line = json.dumps(message, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.sampled_from([b"", b"\xff", b"\n", b"}", b"NaN", b"\x00"]))
    return line


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    lines = draw(st.lists(st.one_of(request_lines(), st.binary(max_size=20)), max_size=4))
    ends = [draw(st.sampled_from([b"\n", b"\r\n", b"\n\n", b" \n"])) for _ in lines]
    data = b"".join(line + end for line, end in zip(lines, ends, strict=True))
    limit = draw(st.sampled_from([None, 4096, 64, 1]))
    return Stream(data, limit)


def serve(stream: Stream, chunks: list[bytes]) -> list[tuple[str, str]]:
    """What the server would answer: ``(code, message)`` per line, "ok" for a good request."""
    decoder = LineDecoder(stream.limit)
    answers = []
    for chunk in chunks:
        decoder.receive(chunk)
        while True:
            message = attempt(decoder.next_message, ProtocolError)
            if isinstance(message, ProtocolError):
                assert message.code == BAD_REQUEST
                assert message.request_id is None
                return [*answers, reply_of(message)]
            if message is None:
                break
            answers.append(answer(message))
    return answers


def answer(message: dict[str, Any]) -> tuple[str, str]:
    """The reply to one message: its request parsed and its parameters decoded."""
    request = attempt(lambda: parse_request(message), ProtocolError)
    if isinstance(request, ProtocolError):
        assert request.code == BAD_REQUEST
        return reply_of(request)
    cls = PARAMS[METHODS.get(request.method, "NoParams")]
    params = attempt(lambda: decode_params(cls, request.params, request.id), ProtocolError)
    if isinstance(params, ProtocolError):
        assert params.code == BAD_PARAMS
        assert params.request_id == request.id
        assert params.message.startswith("params")
        return reply_of(params)
    assert isinstance(params, cls)
    return ("ok", repr(params))


def reply_of(error: ProtocolError) -> tuple[str, str]:
    """The error as the server writes it: one ASCII line with a non-empty message."""
    line = encode_message(error_message(error.request_id, error.code, error.message))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert line.isascii()
    assert json.loads(line)["error"]["message"]
    return (error.code, error.message)


def check_stream(stream: Stream) -> None:
    """Every split of the stream gets the same answers (the first bad line ends them)."""
    data = stream.data
    whole = serve(stream, [data])
    step = max(1, len(data) // 64)
    for cut in range(0, len(data) + 1, step):
        assert serve(stream, [data[:cut], data[cut:]]) == whole
    assert serve(stream, [data[i : i + 1] for i in range(len(data))]) == whole


REQUESTS = Target("admin-requests", streams(), check_stream)


def test_request_streams_in_every_split_get_the_same_one_line_answers() -> None:
    REQUESTS.run()


# -- regressions the fuzzing found ----------------------------------------------------


def test_a_float_parameter_given_an_integer_past_float_range_is_bad_params() -> None:
    """Was OverflowError (an "internal" error): JSON integers have no size limit, floats do."""
    with pytest.raises(ProtocolError) as caught:
        decode_params(SubscribeParams, {"interval": 10**400}, 7)
    assert (caught.value.code, caught.value.message) == (
        BAD_PARAMS,
        "params.interval: number out of range",
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(PROTOCOL + "x = " + "[" * 1000 + "]" * 1000 + "\n", id="nested-too-deeply"),
        pytest.param(PROTOCOL.replace("port = 6667", "port = 0x" + "f" * 5000), id="hex-5000"),
    ],
)
def test_register_protocol_text_tomllib_cannot_take_is_refused_with_one_line(text: str) -> None:
    """Was RecursionError / ValueError out of ``decode_protocol``'s second look at the text."""
    with pytest.raises(RuleFileError) as caught:
        decode_protocol(text, CONTEXT)
    assert [len(str(problem).splitlines()) for problem in caught.value.problems] == [1]


def test_every_method_the_fuzzer_sends_has_a_parameter_class() -> None:
    assert set(METHODS.values()) == set(PARAMS)


TARGETS = (VALUES, REQUESTS)
