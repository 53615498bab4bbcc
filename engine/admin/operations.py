"""What an operator can ask of a running service, answered as snapshot values.

:class:`Operations` is the one implementation behind both the in-process
console and the admin socket: every listing copies engine state into
snapshots, every change goes through the engine (or the rule file, saved
safely, then reloaded) and is recorded with its actor in the audit log. All
methods run on the service's event loop.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from engine.admin.batches import BatchBuilder
from engine.admin.convert import (
    bind_snapshot,
    ip_filter_set_snapshot,
    key_values,
    opening_snapshot,
    protocol_snapshot,
    rule_snapshots,
    session_snapshot,
)
from engine.admin.snapshots import (
    BindSnapshot,
    IpFilterSetSnapshot,
    IpFilterSpec,
    OpeningSnapshot,
    Outcome,
    ProtocolSnapshot,
    RecheckResult,
    ReloadOutcome,
    RuleSnapshot,
    ServiceInfo,
    SessionSnapshot,
    StatusSnapshot,
    Timebase,
    endpoint_text,
)
from engine.core import KNOWN_FLAGS, BindState, Engine, HResult, IpFilter, Subscription
from rules.errors import RuleFileError
from rules.model import ProtocolDefinition, RuleSet
from rules.saver import save
from rules.validate import validate

if TYPE_CHECKING:
    from engine.service import Service

__all__ = ["Auditor", "Operations", "build_ip_filter", "resolve_protocol"]

logger = logging.getLogger("fwx.admin")


class Auditor(Protocol):
    """Where operator actions are recorded (the audit log)."""

    def record(
        self,
        kind: str,
        actor: str,
        detail: Mapping[str, object],
        *,
        bind_id: int | None = None,
        session_id: int | None = None,
    ) -> Awaitable[None]:
        """Record one action durably; returns once it is on disk."""
        ...


def build_ip_filter(spec: IpFilterSpec, ruleset: RuleSet) -> IpFilter | None:
    """The engine IP filter ``spec`` stands for; ValueError when it does not parse."""
    if spec.mode == "none":
        return None
    if spec.mode == "block":
        return IpFilter()
    if spec.mode == "set":
        named = ruleset.ip_filter(spec.set_name)
        if named is None:
            raise ValueError(f"no IP filter set named {spec.set_name!r}")
        return IpFilter.from_specs(named.include, named.exclude)
    if spec.mode == "ranges":
        return IpFilter.from_specs(spec.include, spec.exclude)
    raise ValueError(f"{spec.mode!r} is not an IP filter mode (none, block, set, ranges)")


def resolve_protocol(text: str, known: Iterable[ProtocolDefinition]) -> uuid.UUID:
    """The GUID ``text`` names: GUID text (braces allowed) or a known protocol's name.

    ValueError with a one-line message for anything else.
    """
    try:
        return uuid.UUID(text.strip().strip("{}"))
    except ValueError:
        pass
    wanted = text.strip().casefold()
    for definition in known:
        if definition.name.casefold() == wanted:
            return definition.guid
    raise ValueError(f"{text!r} is neither a GUID nor the name of a known protocol")


class Operations:
    """Listings and changes on one :class:`~engine.service.Service`, with audit records.

    ``clock`` must be the engine's clock; ``wall_clock`` dates snapshots.
    ``auditor`` receives one record per change request (None: not recorded).
    """

    def __init__(
        self,
        service: Service,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        auditor: Auditor | None = None,
    ) -> None:
        """Operations on ``service``; nothing runs until a method is awaited."""
        self._service = service
        self._clock = clock
        self._wall_clock = wall_clock
        self._auditor = auditor
        self._version = _version()
        self._started = wall_clock()

    @property
    def _engine(self) -> Engine:
        return self._service.engine

    def timebase(self) -> Timebase:
        """One reading of the engine's clock and the wall clock."""
        return Timebase(self._clock(), self._wall_clock())

    @property
    def version(self) -> str:
        """The installed fwx version (``unknown`` when run from a bare checkout)."""
        return self._version

    def subscribe(self) -> Subscription:
        """A new subscription to the engine's events (close it when done)."""
        return self._engine.subscribe()

    def batch_builder(self) -> BatchBuilder:
        """A builder of event batches for one subscriber."""
        return BatchBuilder(self._engine, self.timebase)

    # -- listings --------------------------------------------------------------------

    def info(self, notes: tuple[str, ...] = ()) -> ServiceInfo:
        """Where the service listens, its external address and rule file."""
        service = self._service
        return ServiceInfo(
            listen=endpoint_text(*service.address),
            external=service.external,
            rules_path=str(service.rules_path),
            packet_filtering=self._engine.rules.service.packet_filtering,
            notes=notes,
        )

    def status(self) -> StatusSnapshot:
        """The service at a glance: addresses, files, and totals."""
        service, engine = self._service, self._engine
        binds = engine.binds()
        states = [bind.state for bind in binds]
        audit = service.audit
        return StatusSnapshot(
            version=self._version,
            pid=os.getpid(),
            started=self._started,
            listen=endpoint_text(*service.address),
            external=service.external,
            rules_path=str(service.rules_path),
            packet_filtering=engine.rules.service.packet_filtering,
            admin_socket=None if service.admin_socket is None else str(service.admin_socket),
            audit_path=None if audit is None else str(audit.stats.path),
            audit_error=None if audit is None else audit.stats.last_error,
            connections=service.connections,
            sessions=len(engine.sessions()),
            binds=len(binds),
            pending=states.count(BindState.PENDING),
            allowed=states.count(BindState.ALLOWED),
            terminating=states.count(BindState.TERMINATING),
            openings=len(engine.openings()),
            protocols=len(engine.protocols()),
            rules=len(engine.rules.rules),
            accepted=sum(bind.accepted for bind in binds),
            discarded=sum(sum(bind.discarded.values()) for bind in binds),
        )

    def binds(self) -> list[BindSnapshot]:
        """Every live bind, by id."""
        time_ = self.timebase()
        names = self._protocol_names()
        return [bind_snapshot(bind, time_, names) for bind in self._engine.binds()]

    def bind(self, bind_id: int) -> BindSnapshot | None:
        """One live bind, or None."""
        bind = self._engine.get_bind(bind_id)
        if bind is None:
            return None
        return bind_snapshot(bind, self.timebase(), self._protocol_names())

    def sessions(self) -> list[SessionSnapshot]:
        """Every live session, by id."""
        time_ = self.timebase()
        return [session_snapshot(session, time_) for session in self._engine.sessions()]

    def protocols(self) -> list[ProtocolSnapshot]:
        """Every protocol the engine knows, with where it comes from."""
        from_file = {proto.guid for proto in self._engine.rules.protocols}
        return [
            protocol_snapshot(proto, "rules" if proto.guid in from_file else "registered")
            for proto in self._engine.protocols()
        ]

    def rules(self) -> list[RuleSnapshot]:
        """The protocol rules in evaluation order."""
        return rule_snapshots(self._engine.rules)

    def ip_filters(self) -> list[IpFilterSetSnapshot]:
        """The named IP filter sets."""
        return [ip_filter_set_snapshot(item) for item in self._engine.rules.ip_filters]

    def openings(self) -> list[OpeningSnapshot]:
        """The packet-filter openings."""
        return [opening_snapshot(item) for item in self._engine.openings()]

    def get_rules(self) -> RuleSet:
        """The rule set in force, without password hashes: they never leave the service."""
        ruleset = self._engine.rules
        users = tuple(dataclasses.replace(user, password=None) for user in ruleset.users)
        return dataclasses.replace(ruleset, users=users)

    def _protocol_names(self) -> dict[uuid.UUID, str]:
        return {proto.guid: proto.name for proto in self._engine.protocols()}

    # -- changes ---------------------------------------------------------------------

    async def allow(
        self,
        bind_id: int,
        protocol: str | None,
        flags: int,
        spec: IpFilterSpec,
        *,
        actor: str,
    ) -> HResult:
        """``RetroactiveAllowBind`` on bind ``bind_id``, for its own session.

        ``protocol`` is GUID text or a known protocol's name (None: no
        protocol, which policy denies). A protocol or IP filter that does not
        parse, or unknown flag bits, answer ``E_INVALIDARG``; a bind id that
        is not live answers ``NOT_FOUND``.
        """
        result = self._allow(bind_id, protocol, flags, spec, actor)
        detail = {
            "protocol": protocol,
            "flags": flags,
            "ip_filter": dataclasses.asdict(spec),
            "result": result.name,
        }
        await self._record("allow", actor, detail, bind_id=bind_id)
        return result

    def _allow(
        self, bind_id: int, protocol: str | None, flags: int, spec: IpFilterSpec, actor: str
    ) -> HResult:
        engine = self._engine
        try:
            guid = None if protocol is None else resolve_protocol(protocol, engine.protocols())
            ip_filter = build_ip_filter(spec, engine.rules)
        except ValueError:
            return HResult.E_INVALIDARG
        if flags & ~int(KNOWN_FLAGS):
            return HResult.E_INVALIDARG
        bind = engine.get_bind(bind_id)
        if bind is None:
            return HResult.NOT_FOUND
        return engine.retroactive_allow_bind(
            bind.session,
            int(bind.transport),
            bind.address,
            None,
            guid,
            flags,
            ip_filter,
            actor=actor,
        )

    async def terminate(self, bind_id: int, *, actor: str) -> HResult:
        """End the bind: the service closes its socket, the engine removes its opening."""
        result = await self._service.terminate(bind_id)
        await self._record("terminate", actor, {"result": result.name}, bind_id=bind_id)
        return result

    async def recheck(self, bind_ids: Iterable[int], *, actor: str) -> list[RecheckResult]:
        """Apply the bind-time decision again to pending binds (after a reload)."""
        ids = list(bind_ids)
        answers = [
            RecheckResult(bind_id, result)
            for bind_id, result in zip(ids, self._engine.recheck(ids), strict=True)
        ]
        detail = {"binds": {str(item.bind_id): item.result.name for item in answers}}
        await self._record("recheck", actor, detail)
        return answers

    async def register_protocol(self, definition: ProtocolDefinition, *, actor: str) -> Outcome:
        """Add ``definition`` to the rule file and apply it (``ALREADY_EXISTS``: GUID known)."""
        if any(proto.guid == definition.guid for proto in self._engine.protocols()):
            outcome = Outcome(HResult.ALREADY_EXISTS, message=f"{definition.guid} is registered")
        else:
            current = self._engine.rules
            ruleset = dataclasses.replace(current, protocols=(*current.protocols, definition))
            outcome = self._put(ruleset)
        detail = {"protocol": str(definition.guid), "name": definition.name}
        await self._record("register-protocol", actor, {**detail, **_outcome_detail(outcome)})
        return outcome

    async def unregister_protocol(self, protocol: str, *, actor: str) -> Outcome:
        """Remove a protocol (GUID or name): from the rule file, or a run-time registration.

        Binds already allowed for it stay allowed (R76).
        """
        outcome = self._unregister(protocol)
        await self._record(
            "unregister-protocol", actor, {"protocol": protocol, **_outcome_detail(outcome)}
        )
        return outcome

    def _unregister(self, protocol: str) -> Outcome:
        engine = self._engine
        try:
            guid = resolve_protocol(protocol, engine.protocols())
        except ValueError as err:
            return Outcome(HResult.NOT_FOUND, message=str(err))
        current = engine.rules
        kept = tuple(proto for proto in current.protocols if proto.guid != guid)
        if len(kept) != len(current.protocols):
            return self._put(dataclasses.replace(current, protocols=kept))
        result = engine.unregister_protocol(guid)
        if result is HResult.NOT_FOUND:
            return Outcome(result, message=f"no protocol {guid} is registered")
        return Outcome(result, message=f"{guid} unregistered")

    async def put_rules(self, ruleset: RuleSet, *, actor: str) -> Outcome:
        """Validate, save (keeping the previous file) and apply; on refusal nothing changes.

        A user without a password keeps the hash in force (``get_rules`` sends none).
        """
        outcome = self._put(self._with_kept_passwords(ruleset))
        await self._record("put-rules", actor, _outcome_detail(outcome))
        return outcome

    def _with_kept_passwords(self, ruleset: RuleSet) -> RuleSet:
        kept = {user.name: user.password for user in self._engine.rules.users}
        users = tuple(
            user
            if user.password is not None
            else dataclasses.replace(user, password=kept.get(user.name))
            for user in ruleset.users
        )
        return dataclasses.replace(ruleset, users=users)

    def _put(self, ruleset: RuleSet) -> Outcome:
        problems = validate(ruleset)
        if problems:
            return Outcome(HResult.E_INVALIDARG, tuple(str(problem) for problem in problems))
        path = self._service.rules_path
        previous = self._engine.rules
        try:
            save(ruleset, path)
        except RuleFileError as err:
            return Outcome(HResult.E_INVALIDARG, tuple(str(p) for p in err.problems))
        except OSError as err:
            return Outcome(HResult.E_INVALIDARG, message=f"{path}: {err.strerror}")
        try:
            change = self._service.reload()
        except RuleFileError as err:
            save(previous, path)
            return Outcome(HResult.E_INVALIDARG, tuple(str(p) for p in err.problems))
        return Outcome(HResult.S_OK, message=change.summary())

    async def reload(self, *, actor: str) -> ReloadOutcome:
        """Read the rule file again and put it in force; an invalid file changes nothing."""
        try:
            change = await self._service.reload_off_loop()
        except RuleFileError as err:
            problems = tuple(str(problem) for problem in err.problems)
            outcome = ReloadOutcome(HResult.E_INVALIDARG, problems, "the rules in force stay")
            for problem in problems:
                logger.warning("reload refused: %s", problem)
        else:
            time_, names = self.timebase(), self._protocol_names()
            pending = [self._engine.get_bind(bind_id) for bind_id in change.would_differ]
            outcome = ReloadOutcome(
                HResult.S_OK,
                message=change.summary(),
                protocols_added=tuple(change.protocols_added),
                protocols_removed=tuple(change.protocols_removed),
                protocols_changed=tuple(change.protocols_changed),
                rules_added=tuple(change.rules_added),
                rules_removed=tuple(change.rules_removed),
                rules_changed=tuple(change.rules_changed),
                service_changed=change.service_changed,
                other_changed=change.other_changed,
                would_differ=tuple(
                    bind_snapshot(bind, time_, names) for bind in pending if bind is not None
                ),
            )
        detail = {"result": outcome.result.name, "message": outcome.message}
        await self._record("reload", actor, {**detail, "problems": list(outcome.problems)})
        return outcome

    async def _record(
        self, kind: str, actor: str, detail: Mapping[str, object], *, bind_id: int | None = None
    ) -> None:
        level = logging.INFO if _succeeded(detail) else logging.WARNING
        logger.log(level, "operator-%s actor=%s %s", kind, actor, key_values(detail))
        if self._auditor is None:
            return
        try:
            await self._auditor.record(f"operator-{kind}", actor, detail, bind_id=bind_id)
        except Exception as err:  # the action is done; a failing audit disk must not undo it
            logger.error("audit record of %s by %s failed: %s", kind, actor, err)


def _succeeded(detail: Mapping[str, object]) -> bool:
    result = detail.get("result")
    return not isinstance(result, str) or HResult[result].succeeded


def _version() -> str:
    try:
        return importlib.metadata.version("fwx")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _outcome_detail(outcome: Outcome) -> dict[str, object]:
    return {"result": outcome.result.name, "message": outcome.message, "problems": outcome.problems}
