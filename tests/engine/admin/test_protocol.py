"""The admin wire protocol without sockets: framing, requests, values, rule sets as TOML."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.admin import snapshots
from engine.admin.protocol import (
    BAD_PARAMS,
    BAD_REQUEST,
    MAX_LINE,
    AllowParams,
    LineDecoder,
    ProtocolError,
    Request,
    SubscribeParams,
    decode_params,
    decode_protocol,
    decode_rules,
    encode_message,
    encode_protocol,
    encode_rules,
    error_message,
    parse_request,
)
from engine.admin.snapshots import BindSnapshot, IpFilterSpec, Outcome, RecheckResult
from engine.admin.values import DecodeError, from_json, to_json
from engine.core.results import HResult
from rules.errors import RuleFileError
from rules.loader import loads
from rules.model import Direction, PrimaryConnection, ProtocolDefinition, RuleSet, Transport
from rules.starter import STARTER_TEXT

SNAPSHOT_TYPES = [
    getattr(snapshots, name)
    for name in snapshots.__all__
    if dataclasses.is_dataclass(getattr(snapshots, name))
]


def decoded(*chunks: bytes, limit: int | None = MAX_LINE) -> list[dict[str, Any]]:
    """Every message the decoder yields after receiving ``chunks`` one by one."""
    decoder = LineDecoder(limit)
    messages = []
    for chunk in chunks:
        decoder.receive(chunk)
        while (message := decoder.next_message()) is not None:
            messages.append(message)
    return messages


def line_of(size: int) -> bytes:
    """A JSON object line of exactly ``size`` bytes (without its newline)."""
    head, tail = b'{"id":1,"method":"', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


# -- framing -------------------------------------------------------------------------


def test_messages_are_reassembled_across_chunks_and_split_within_one() -> None:
    assert decoded(b'{"a":', b"1}\n", b'{"b":2}\n{"c":', b"3}\n") == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_a_message_waits_for_its_newline_and_blank_lines_are_skipped() -> None:
    assert decoded(b'{"a":1}') == []
    assert decoded(b"\n  \r\n", b'{"a":1}\r\n') == [{"a": 1}]


def test_a_line_of_exactly_the_limit_is_read() -> None:
    assert decoded(line_of(MAX_LINE) + b"\n")[0]["id"] == 1


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([line_of(MAX_LINE + 1) + b"\n"], id="whole-line"),
        pytest.param([b"x" * MAX_LINE, b"x"], id="no-newline-yet"),
    ],
)
def test_a_line_over_the_limit_is_a_bad_request(chunks: list[bytes]) -> None:
    with pytest.raises(ProtocolError) as caught:
        decoded(*chunks)
    assert caught.value.code == BAD_REQUEST
    assert str(MAX_LINE) in caught.value.message


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{'id': 1}", "not JSON"),
        (b'{"id": NaN}', "not JSON"),
        (b'{"id": Infinity}', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b"[1, 2]", "expected a JSON object, got array"),
        (b'"hello"', "expected a JSON object, got str"),
    ],
)
def test_malformed_lines_are_bad_requests(line: bytes, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decoded(line + b"\n")
    assert caught.value.code == BAD_REQUEST
    assert words in caught.value.message
    assert caught.value.request_id is None


def test_messages_are_ascii_lines_and_a_lone_surrogate_survives() -> None:
    line = encode_message({"user": "b\udcffd", "name": "Zoë"})
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    line.decode("ascii")
    assert decoded(line) == [{"user": "b\udcffd", "name": "Zoë"}]


def test_nan_is_never_sent() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode_message({"time": float("nan")})


def test_error_messages_are_one_line() -> None:
    reply = error_message(3, BAD_PARAMS, "first\nsecond\r\n  third")
    assert reply == {"id": 3, "error": {"code": BAD_PARAMS, "message": "first second third"}}


# -- requests ------------------------------------------------------------------------


def test_a_request_has_an_id_a_method_and_optional_params() -> None:
    assert parse_request({"id": 7, "method": "binds"}) == Request(7, "binds", {})
    assert parse_request({"id": 8, "method": "bind", "params": {"id": 1}}).params == {"id": 1}


@pytest.mark.parametrize(
    ("message", "request_id", "words"),
    [
        ({"method": "binds"}, None, "integer 'id'"),
        ({"id": "7", "method": "binds"}, None, "integer 'id'"),
        ({"id": True, "method": "binds"}, None, "integer 'id'"),
        ({"id": 7}, 7, "string 'method'"),
        ({"id": 7, "method": "bind", "params": [1]}, 7, "'params' must be an object"),
        ({"id": 7, "method": "binds", "extra": 1}, 7, "unexpected key 'extra'"),
    ],
)
def test_ill_formed_requests_are_bad_requests(
    message: dict[str, Any], request_id: int | None, words: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(message)
    assert (caught.value.code, caught.value.request_id) == (BAD_REQUEST, request_id)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"protocol": None}, "params.bind_id: missing"),
        ({"bind_id": "1", "protocol": None}, "params.bind_id: expected int, got str"),
        ({"bind_id": True, "protocol": None}, "params.bind_id: expected int, got bool"),
        ({"bind_id": 1, "protocol": 5}, "params.protocol: expected str or null, got int"),
        ({"bind_id": 1, "protocol": None, "colour": 1}, "params.colour: unexpected"),
        (
            {"bind_id": 1, "protocol": None, "ip_filter": {"include": [1]}},
            "params.ip_filter.include[0]: expected str, got int",
        ),
        (
            {"bind_id": 1, "protocol": None, "ip_filter": "any"},
            "params.ip_filter: expected an object (IpFilterSpec), got str",
        ),
    ],
)
def test_bad_params_name_the_parameter(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_params(AllowParams, params, 4)
    assert (caught.value.code, caught.value.request_id) == (BAD_PARAMS, 4)
    assert caught.value.message.startswith(message)


def test_params_with_defaults_may_be_left_out() -> None:
    assert decode_params(AllowParams, {"bind_id": 1, "protocol": None}, 1) == AllowParams(1, None)
    assert decode_params(SubscribeParams, {"interval": 1}, 1) == SubscribeParams(1.0)
    assert decode_params(SubscribeParams, {}, 1).interval == 0.5


# -- values --------------------------------------------------------------------------


def strategy(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the declared type ``tp`` (finite floats: JSON has no NaN)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of(*(strategy(arm) for arm in typing.get_args(tp)))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy(args[0]), max_size=3).map(tuple)
        return st.tuples(*(strategy(arg) for arg in args))
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = {field.name: strategy(hints[field.name]) for field in dataclasses.fields(tp)}
        return st.builds(tp, **fields)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    scalars: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        str: st.text(),
    }
    return scalars[tp]


def over_the_wire(value: object) -> Any:
    """``to_json(value)`` after a trip through a message line."""
    return decoded(encode_message({"value": to_json(value)}))[0]["value"]


@pytest.mark.parametrize("cls", SNAPSHOT_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=50)
@given(data=st.data())
def test_every_snapshot_type_round_trips_exactly(cls: type, data: st.DataObject) -> None:
    value = data.draw(strategy(cls))
    assert from_json(cls, over_the_wire(value)) == value


def test_result_codes_travel_by_name() -> None:
    assert to_json(HResult.NOT_FOUND) == "NOT_FOUND"
    assert from_json(HResult, "S_FALSE") is HResult.S_FALSE
    assert over_the_wire(Outcome(HResult.E_INVALIDARG, ("a",))) == {
        "result": "E_INVALIDARG",
        "problems": ["a"],
        "message": "",
    }


def test_lists_of_snapshots_round_trip() -> None:
    value = [RecheckResult(1, HResult.S_OK), RecheckResult(2, HResult.NOT_FOUND)]
    assert from_json(list[RecheckResult], over_the_wire(value)) == value


@pytest.mark.parametrize(
    ("tp", "data", "message"),
    [
        (HResult, "S_MAYBE", "expected one of S_OK, S_FALSE"),
        (HResult, 0, "expected one of S_OK"),
        (RecheckResult, {"bind_id": 1}, "result: missing"),
        (tuple[str, int], ["a"], "expected 2 items, got 1"),
        (tuple[str, ...], "abc", "expected an array, got str"),
        (list[RecheckResult], [{"bind_id": 1, "result": 5}], "[0].result: expected one of"),
        (float, True, "expected float, got bool"),
        (type(None), 0, "expected null, got int"),
    ],
)
def test_values_that_do_not_fit_their_type_are_refused(tp: Any, data: Any, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        from_json(tp, data)
    assert message in str(caught.value)


@given(bind=strategy(BindSnapshot))
def test_a_field_without_default_may_not_be_left_out(bind: BindSnapshot) -> None:
    raw = over_the_wire(bind)
    del raw["last_seen"]
    with pytest.raises(DecodeError, match="last_seen: missing"):
        from_json(BindSnapshot, raw)


def test_ip_filter_specs_fill_in_their_defaults() -> None:
    assert from_json(IpFilterSpec, {"mode": "block"}) == IpFilterSpec("block")


def test_values_that_cannot_travel_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="UUID"):
        to_json(uuid.UUID(int=1))


# -- rule sets -----------------------------------------------------------------------


def test_rule_sets_travel_as_toml() -> None:
    ruleset = loads(STARTER_TEXT)
    assert decode_rules(encode_rules(ruleset)) == ruleset


def test_a_rule_set_that_does_not_load_reports_every_problem_under_admin() -> None:
    with pytest.raises(RuleFileError) as caught:
        decode_rules('version = 1\n[[rule]]\nname = "x"\naction = "allow"\nprotocols = ["Nope"]\n')
    assert all(str(problem).startswith("<admin>:") for problem in caught.value.problems)


def test_a_protocol_definition_travels_as_a_rule_set_holding_only_it() -> None:
    for definition in loads(STARTER_TEXT).protocols:
        assert decode_protocol(encode_protocol(definition)) == definition
    minimal = ProtocolDefinition(
        uuid.UUID(int=5), "Echo", PrimaryConnection(7, Transport.UDP, Direction.SEND_RECEIVE)
    )
    assert decode_protocol(encode_protocol(minimal)) == minimal


def test_r73_a_protocol_that_does_not_load_is_checked_with_the_rules_in_force() -> None:
    """R73: every problem at once, the clash with the rules in force included."""
    rules = loads(STARTER_TEXT)
    ftp = rules.protocols[0]
    receive = dataclasses.replace(ftp.primary, direction=Direction.RECEIVE)
    text = encode_protocol(dataclasses.replace(ftp, guid=uuid.UUID(int=77), primary=receive))
    with pytest.raises(RuleFileError) as alone:
        decode_protocol(text)
    assert [problem.key for problem in alone.value.problems] == ["protocol[0].primary.direction"]
    with pytest.raises(RuleFileError) as together:
        decode_protocol(text, rules)
    added = f"protocol[{len(rules.protocols)}]"
    assert [str(problem) for problem in together.value.problems] == [
        f"{added}.name: duplicate name 'FTP' (also protocol[0])",
        f"{added}.primary.direction: 'receive' is not a tcp direction (use inbound, outbound)",
    ]


def test_a_protocol_text_that_is_not_toml_keeps_its_own_problem() -> None:
    with pytest.raises(RuleFileError, match="<admin>:1:"):
        decode_protocol("[[protocol", loads(STARTER_TEXT))


@pytest.mark.parametrize("count", [0, 2])
def test_a_protocol_text_must_hold_exactly_one_protocol(count: int) -> None:
    protocols = loads(STARTER_TEXT).protocols
    text = encode_rules(RuleSet(protocols=protocols[:count]))
    assert len(protocols) >= 2
    expected = re.escape(f"exactly one [[protocol]] table, found {count}")
    with pytest.raises(RuleFileError, match=expected):
        decode_protocol(text)


def test_json_of_a_value_is_plain_json() -> None:
    spec = IpFilterSpec("ranges", include=("10.0.0.0/8",))
    assert json.loads(json.dumps(to_json(spec))) == {
        "mode": "ranges",
        "set_name": "",
        "include": ["10.0.0.0/8"],
        "exclude": [],
    }
