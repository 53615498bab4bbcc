"""The admin socket's wire protocol: JSON lines, sans-I/O, shared by server and client.

Wire format (protocol 1)
========================

Framing
    UTF-8 JSON objects, one per line, each ending in ``\\n``. Blank lines are
    ignored. A line longer than 1 MiB (:data:`MAX_LINE`), invalid UTF-8,
    invalid JSON (``NaN`` and ``Infinity`` included), nesting too deep to
    parse, or a value that is not an object is answered with a
    ``bad-request`` error, and the server then closes that connection; the
    service and its other connections go on.

Greeting
    On accept the server checks the peer's credentials (``SO_PEERCRED``):
    root, the service's own user and configured uids may connect. A permitted
    peer first receives::

        {"hello": {"service": "fwx", "protocol": 1, "version": "0.1.0",
                   "actor": "admin:alice(uid 1000)"}}

    A refused peer receives one error line, and the connection closes (the
    refusal is logged on ``fwx.admin`` at WARNING)::

        {"error": {"code": "refused", "message": "uid 65534 (nobody) may not use this socket"}}

Requests and replies
    A request is ``{"id": <int>, "method": "<name>", "params": {...}}``
    (``params`` may be left out when empty). A request without an integer
    ``id``, a string ``method`` or an object ``params`` is a ``bad-request``.
    Requests on one connection are answered in order, each with::

        {"id": <same>, "result": <value>}
        {"id": <same>, "error": {"code": "<code>", "message": "<one line>"}}

    Error codes: ``bad-request`` (framing, JSON, request shape: the
    connection closes; ``id`` is null when it could not be read),
    ``unknown-method``, ``bad-params`` (a missing, unexpected or ill-typed
    parameter; the message names it, e.g. ``params.ip_filter.include[0]:
    expected str, got int``), ``not-found`` (``bind`` of an id that is not
    live), ``refused`` (the greeting above) and ``internal`` (an unexpected
    failure in the service, logged there with its traceback).

Values
    A dataclass travels as an object of its fields, a tuple or list as an
    array, an :class:`~engine.core.results.HResult` as its name (``"S_OK"``).
    :func:`from_json` reads values back by the declared field types, so every
    snapshot of :mod:`engine.admin.snapshots` round-trips exactly. Unknown or
    missing fields are errors (fields with defaults may be left out). Rule
    sets travel as rule-file TOML text (:func:`encode_rules`); a protocol
    definition as the TOML of a rule set holding only it
    (:func:`encode_protocol`).

Methods (params -> result)
    - ``status`` ``{}`` -> ``StatusSnapshot``; ``info`` ``{}`` -> ``ServiceInfo``
    - ``binds``, ``sessions``, ``protocols``, ``rules``, ``ip_filters``,
      ``openings``: ``{}`` -> an array of the matching snapshots
    - ``bind`` ``{"id": int}`` -> ``BindSnapshot``, or the error ``not-found``
    - ``get_rules`` ``{}`` -> ``{"toml": str}``
    - ``allow`` ``{"bind_id": int, "protocol": str | null, "flags": int = 0,
      "ip_filter": IpFilterSpec = {"mode": "none"}}`` -> ``HResult``
      (``protocol``: GUID text or a known protocol's name)
    - ``terminate`` ``{"bind_id": int}`` -> ``HResult``
    - ``recheck`` ``{"bind_ids": [int]}`` -> ``[RecheckResult]``
    - ``register_protocol`` ``{"toml": str}`` (a rule file holding exactly one
      ``[[protocol]]`` table, the definition; its other tables are not used) -> ``Outcome``
    - ``unregister_protocol`` ``{"protocol": str}`` (GUID or name) -> ``Outcome``
    - ``put_rules`` ``{"toml": str}`` -> ``Outcome``
    - ``reload`` ``{}`` -> ``ReloadOutcome``
    - ``subscribe`` ``{"interval": float = 0.5}`` (0.05 to 10 seconds): see below

    A TOML text that does not load is not an error reply: the answer is an
    ``Outcome`` with ``E_INVALIDARG`` and every problem. ``allow``,
    ``terminate`` and the rest answer exactly the service's result codes.

Subscriptions
    ``subscribe`` answers ``{"id": N, "result": {"subscribed": true}}``, then
    sends ``{"id": N, "batch": EventBatch}`` lines, at most one per interval,
    until the client closes the connection or the service stops. The
    connection takes no further requests: lines the client sends are read
    and ignored. When the client reads slowly, batches waiting to be sent are
    merged into one (:meth:`EventBatch.merge`, keeping the newest events), so
    a slow subscriber costs the service a bounded amount of memory.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import tomli_w

from engine.admin.snapshots import IpFilterSpec
from engine.admin.values import DecodeError, from_json, json_kind
from rules.errors import Problem, RuleFileError
from rules.loader import loads
from rules.model import ProtocolDefinition, RuleSet
from rules.saver import dumps

__all__ = [
    "BAD_PARAMS",
    "BAD_REQUEST",
    "INTERNAL",
    "INTERVAL_DEFAULT",
    "INTERVAL_MAX",
    "INTERVAL_MIN",
    "MAX_LINE",
    "NOT_FOUND",
    "PROTOCOL_VERSION",
    "REFUSED",
    "UNKNOWN_METHOD",
    "AllowParams",
    "BindParams",
    "LineDecoder",
    "NoParams",
    "ProtocolError",
    "ProtocolParams",
    "RecheckParams",
    "Request",
    "SubscribeParams",
    "TerminateParams",
    "TomlText",
    "decode_params",
    "decode_protocol",
    "decode_rules",
    "encode_message",
    "encode_protocol",
    "encode_rules",
    "error_message",
    "parse_request",
]

PROTOCOL_VERSION = 1
MAX_LINE = 1024 * 1024
"""The longest line (without its newline) the server reads."""

INTERVAL_MIN, INTERVAL_DEFAULT, INTERVAL_MAX = 0.05, 0.5, 10.0
"""Bounds and default of a subscription's interval, in seconds."""

BAD_REQUEST = "bad-request"
UNKNOWN_METHOD = "unknown-method"
BAD_PARAMS = "bad-params"
NOT_FOUND = "not-found"
REFUSED = "refused"
INTERNAL = "internal"

ADMIN_SOURCE = "<admin>"
"""The file name problems of TOML received over the socket are reported under."""

_T = TypeVar("_T")


class ProtocolError(Exception):
    """A request the server answers with an error: ``code`` and a one-line ``message``."""

    def __init__(self, code: str, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


# -- framing -------------------------------------------------------------------------


class LineDecoder:
    """Incremental JSON-lines decoder: feed bytes, take whole messages.

    ``limit`` is the longest line accepted (None: no limit). Errors are
    :class:`ProtocolError` with code ``bad-request``; after one, the stream is
    out of step and the connection should be closed.
    """

    def __init__(self, limit: int | None = MAX_LINE) -> None:
        """An empty decoder."""
        self._limit = limit
        self._buffer = bytearray()
        self._scanned = 0

    def receive(self, data: bytes) -> None:
        """Append ``data`` received from the peer."""
        self._buffer += data

    def next_message(self) -> dict[str, Any] | None:
        """The next complete message, or None until more data arrives."""
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                self._scanned = len(self._buffer)
                if self._limit is not None and self._scanned > self._limit:
                    raise ProtocolError(BAD_REQUEST, f"line longer than {self._limit} bytes")
                return None
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._scanned = 0
            if self._limit is not None and len(line) > self._limit:
                raise ProtocolError(BAD_REQUEST, f"line longer than {self._limit} bytes")
            if line.strip():
                return _parse_line(line)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _parse_line(line: bytes) -> dict[str, Any]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProtocolError(BAD_REQUEST, f"not UTF-8 (byte {err.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise ProtocolError(BAD_REQUEST, f"not JSON: {err}") from None
    except RecursionError:
        raise ProtocolError(BAD_REQUEST, "not JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise ProtocolError(BAD_REQUEST, f"expected a JSON object, got {json_kind(value)}")
    return value


def encode_message(message: Mapping[str, Any]) -> bytes:
    """One message as a line: compact ASCII JSON and a newline (never a bare NaN)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"


def error_message(request_id: int | None, code: str, message: str) -> dict[str, Any]:
    """The error reply to request ``request_id`` (None: no request id could be read)."""
    return {"id": request_id, "error": {"code": code, "message": " ".join(message.split())}}


@dataclass(frozen=True, slots=True)
class Request:
    """One request read off the wire; ``params`` is still raw JSON."""

    id: int
    method: str
    params: dict[str, Any]


def parse_request(message: Mapping[str, Any]) -> Request:
    """The request ``message`` holds, or :class:`ProtocolError` (``bad-request``)."""
    request_id = message.get("id")
    if type(request_id) is not int:
        raise ProtocolError(BAD_REQUEST, "a request needs an integer 'id'")
    method, params = message.get("method"), message.get("params", {})
    if not isinstance(method, str):
        raise ProtocolError(BAD_REQUEST, "a request needs a string 'method'", request_id)
    if not isinstance(params, dict):
        raise ProtocolError(BAD_REQUEST, "'params' must be an object", request_id)
    extra = sorted(set(message) - {"id", "method", "params"})
    if extra:
        raise ProtocolError(BAD_REQUEST, f"unexpected key {extra[0]!r} in a request", request_id)
    return Request(request_id, method, params)


# -- parameters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoParams:
    """The parameters of a method that takes none."""


@dataclass(frozen=True, slots=True)
class BindParams:
    """``bind``: the id of a live bind."""

    id: int


@dataclass(frozen=True, slots=True)
class AllowParams:
    """``allow``: retroactive allow of one bind (``protocol``: GUID text, a name, or null)."""

    bind_id: int
    protocol: str | None
    flags: int = 0
    ip_filter: IpFilterSpec = dataclasses.field(default_factory=IpFilterSpec)


@dataclass(frozen=True, slots=True)
class TerminateParams:
    """``terminate``: the bind to end."""

    bind_id: int


@dataclass(frozen=True, slots=True)
class RecheckParams:
    """``recheck``: the pending binds to decide again."""

    bind_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TomlText:
    """``put_rules``/``register_protocol`` parameters and the ``get_rules`` result."""

    toml: str


@dataclass(frozen=True, slots=True)
class ProtocolParams:
    """``unregister_protocol``: the protocol's GUID or name."""

    protocol: str


@dataclass(frozen=True, slots=True)
class SubscribeParams:
    """``subscribe``: seconds between two batches."""

    interval: float = INTERVAL_DEFAULT


def decode_params(cls: type[_T], params: Mapping[str, Any], request_id: int) -> _T:
    """The parameters of a request, or :class:`ProtocolError` ``bad-params`` naming the culprit."""
    try:
        return from_json(cls, dict(params))
    except DecodeError as err:
        where = f"params.{err.path}" if err.path else "params"
        raise ProtocolError(BAD_PARAMS, f"{where}: {err.problem}", request_id) from None


# -- rule sets as TOML ---------------------------------------------------------------


def encode_rules(ruleset: RuleSet) -> str:
    """``ruleset`` as rule-file TOML text."""
    return dumps(ruleset)


def decode_rules(text: str) -> RuleSet:
    """The rule set in ``text``; :class:`RuleFileError` (every problem) when it does not load.

    Users may come without a password: hashes never travel over the socket
    (``get_rules`` leaves them out; ``put_rules`` keeps the ones in force).
    """
    return loads(text, ADMIN_SOURCE, allow_missing_passwords=True)


def encode_protocol(definition: ProtocolDefinition) -> str:
    """A protocol definition as the TOML of a rule set holding only it."""
    return dumps(RuleSet(protocols=(definition,)))


def decode_protocol(text: str, context: RuleSet | None = None) -> ProtocolDefinition:
    """The one ``[[protocol]]`` of ``text``; :class:`RuleFileError` otherwise.

    The other tables of the text are not used. When the definition does not
    load and ``context`` (the rules in force) is given, the problems are
    those of ``context`` with the definition added, so a clashing name is
    reported along with the definition's own faults, as a local register
    reports them.
    """
    try:
        ruleset = decode_rules(text)
    except RuleFileError as err:
        problems = [] if context is None else _problems_in(context, text)
        raise RuleFileError(problems or err.problems) from None
    if len(ruleset.protocols) != 1:
        count = len(ruleset.protocols)
        message = f"expected exactly one [[protocol]] table, found {count}"
        raise RuleFileError([Problem(ADMIN_SOURCE, None, None, "protocol", message)])
    return ruleset.protocols[0]


def _problems_in(context: RuleSet, text: str) -> list[Problem]:
    """The problems of ``context`` plus the one protocol table of ``text`` (none if unreadable)."""
    try:
        tables = tomllib.loads(text).get("protocol")
    except (ValueError, RecursionError):  # a syntax error, an overlong integer, deep nesting
        return []
    if not isinstance(tables, list) or len(tables) != 1:
        return []
    data = tomllib.loads(encode_rules(context))
    data["protocol"] = [*data.get("protocol", []), tables[0]]
    try:
        loads(tomli_w.dumps(data), ADMIN_SOURCE)
    except RuleFileError as err:
        return [Problem("", None, None, problem.key, problem.message) for problem in err.problems]
    except (ValueError, RecursionError):  # tomli_w cannot write it (an integer past 4300 digits)
        return []
    return []
