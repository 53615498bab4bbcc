"""Protocol-rule evaluation as ISA Server 2000 does it (reference R77-R83).

A use of a protocol is allowed only when at least one enabled rule that
applies allows it and no enabled rule that applies denies it (R77); with no
rule nothing is allowed (R78). A rule applies when its protocols, users and
clients all match: ``any`` protocol, the protocols listed, or with
``except_protocols`` every protocol *not* listed (R82); ``any`` user
(anonymous sessions included), or the authenticated users and ``@groups``
listed, which never match an anonymous session (R80, R81); ``any`` client, or
a client address in one of the client sets listed (R80). Schedules are not
modelled: every rule applies always, as with ISA's ``AppliesAlways`` (R79).
Rule order does not change the outcome (R83); it only picks which rule a
decision names: the first deny rule in file order that applies, else the
first allow rule.

How a check stays a few dictionary look-ups: every enabled rule gets a
*rank*, its file position for deny rules and the rule count plus its
position for allow rules, so the decision is simply the rule of lowest rank
among those that apply (any deny beats every allow, and earlier beats
later), or "no allow rule" when none does. :meth:`Policy.compile` sorts the
rules by principal (``any``, a user name, an ``@group``) into a *generic*
table, for rules on ``any`` protocol or on all protocols except some, and
into one table per protocol that rules name. A table maps a principal to a
*cell*: the lowest rank per client address interval. A protocol's table
already merges the generic rules of each principal it holds (minus the
``except_protocols`` rules that list the protocol), so a check looks each of
the user's principals up once in the protocol's table, falling back to the
generic one, and bisects the cells found. Every :class:`Decision` exists
before the first check.
"""

from __future__ import annotations

import heapq
import sys
import uuid
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from rules.addresses import V6_BASE, AddressRanges
from rules.model import Action, ClientSet, ProtocolRule, RuleSet

__all__ = ["NO_ALLOW_RULE", "Decision", "Policy"]

_ANY = "any"
_EVERY_CLIENT: tuple[tuple[int, int], ...] = ((0, V6_BASE + (1 << 128)),)

_Intervals = tuple[tuple[int, int], ...]  # half-open [start, end) client key intervals
_Cell = tuple[list[int], list[int]]  # interval starts, and the lowest rank from each start on
_Buckets = dict[str, list[tuple[int, _Intervals]]]
_NO_TABLE: dict[str, _Cell] = {}


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to a check, naming the rule that decided it (for the console and the log)."""

    allowed: bool
    rule: str | None

    def __str__(self) -> str:
        if self.rule is None:
            return "no allow rule"
        verb = "allowed" if self.allowed else "denied"
        return f'{verb} by "{self.rule}"'


NO_ALLOW_RULE = Decision(False, None)


def _cell(entries: list[tuple[int, _Intervals]], none: int) -> _Cell:
    """Sweep the entries' client intervals: the lowest rank covering each interval."""
    events: dict[int, list[tuple[int, int]]] = {}
    for rank, intervals in entries:
        for start, end in intervals:
            events.setdefault(start, []).append((rank, 1))
            events.setdefault(end, []).append((rank, -1))
    active: dict[int, int] = {}
    heap: list[int] = []
    starts, ranks = [0], [none]
    for point in sorted(events):
        for rank, delta in events[point]:
            active[rank] = active.get(rank, 0) + delta
            if delta > 0:
                heapq.heappush(heap, rank)
        while heap and not active[heap[0]]:
            heapq.heappop(heap)
        lowest = heap[0] if heap else none
        if starts[-1] == point:
            starts.pop()
            ranks.pop()
        if not ranks or ranks[-1] != lowest:
            starts.append(point)
            ranks.append(lowest)
    return starts, ranks


class Policy:
    """A compiled rule set: :meth:`check` answers "may this session use this protocol?"."""

    __slots__ = (
        "_anonymous",
        "_decisions",
        "_generic",
        "_none",
        "_principals",
        "_shared",
        "_tables",
        "ruleset",
    )

    def __init__(self, ruleset: RuleSet) -> None:
        """Use :meth:`compile`."""
        self.ruleset = ruleset
        count = len(ruleset.rules)
        self._none = 2 * count
        self._decisions: list[Decision] = [NO_ALLOW_RULE] * (2 * count + 1)
        self._tables: dict[int, dict[str, _Cell]] = {}
        self._generic: dict[str, _Cell] = {}
        self._principals: dict[str | None, tuple[tuple[str, _Cell | None], ...]] = {}
        self._anonymous: tuple[tuple[str, _Cell | None], ...] = ()
        self._shared: dict[tuple[tuple[int, ...], tuple[int, ...]], _Cell] = {}

    @classmethod
    def compile(cls, ruleset: RuleSet) -> Policy:
        """Index a validated rule set (references it cannot resolve are ignored)."""
        policy = cls(ruleset)
        clients_of = _ClientIntervals(ruleset.client_sets)
        names = _ProtocolNames(ruleset)
        selected: dict[int, _Buckets] = {}
        any_protocol: _Buckets = {}
        exceptions: dict[str, list[tuple[int, _Intervals, frozenset[int]]]] = {}
        for order, rule in enumerate(ruleset.rules):
            clients = clients_of(rule.clients)
            if not rule.enabled or not clients:
                continue
            rank = policy._rank(order, rule)
            listed = names.resolve(rule.protocols)
            for principal in rule.users:
                if _ANY in rule.protocols:
                    any_protocol.setdefault(principal, []).append((rank, clients))
                elif rule.except_protocols:
                    exceptions.setdefault(principal, []).append((rank, clients, listed))
                else:
                    for guid in listed:
                        table = selected.setdefault(guid, {})
                        table.setdefault(principal, []).append((rank, clients))
        policy._build(selected, any_protocol, exceptions)
        policy._index_principals()
        return policy

    def _build(
        self,
        selected: dict[int, _Buckets],
        any_protocol: _Buckets,
        exceptions: dict[str, list[tuple[int, _Intervals, frozenset[int]]]],
    ) -> None:
        """Cells for the generic table and for each protocol's, generic rules merged in."""
        generic = {p: list(entries) for p, entries in any_protocol.items()}
        for principal, excepts in exceptions.items():
            generic.setdefault(principal, []).extend((rank, c) for rank, c, _ in excepts)
        self._generic = self._cells(generic)
        for principal, excepts in exceptions.items():
            for _, _, listed in excepts:
                for guid in listed:
                    selected.setdefault(guid, {}).setdefault(principal, [])
        for guid, own in selected.items():
            table: _Buckets = {}
            for principal, entries in own.items():
                table[principal] = (
                    entries
                    + any_protocol.get(principal, [])
                    + [
                        (rank, clients)
                        for rank, clients, listed in exceptions.get(principal, ())
                        if guid not in listed
                    ]
                )
            self._tables[guid] = self._cells(table)

    def _rank(self, order: int, rule: ProtocolRule) -> int:
        allowed = rule.action is Action.ALLOW
        rank = len(self.ruleset.rules) + order if allowed else order
        self._decisions[rank] = Decision(allowed, rule.name)
        return rank

    def _cells(self, buckets: _Buckets) -> dict[str, _Cell]:
        """One cell per principal.

        Equal cells and principal names are shared, not copied: a small index
        stays in the processor's caches, which is what makes checks fast.
        """
        cells = {}
        for principal, entries in buckets.items():
            starts, ranks = _cell(entries, self._none)
            shape = (tuple(starts), tuple(ranks))
            cells[sys.intern(principal)] = self._shared.setdefault(shape, (starts, ranks))
        return cells

    def _index_principals(self) -> None:
        """Each user's principals that some rule names: ``any``, the name, its ``@groups``.

        Each principal comes with its generic cell, so a check needs no look-up
        in the generic table.
        """
        named: set[str] = set()
        for buckets in (self._generic, *self._tables.values()):
            named.update(buckets)
        generic = self._generic
        self._anonymous = ((_ANY, generic.get(_ANY)),)
        for user in self.ruleset.users:
            own = (user.name, *(f"@{group}" for group in user.groups))
            mine = [(sys.intern(p), generic.get(p)) for p in own if p in named]
            self._principals[user.name] = (*self._anonymous, *mine)
        for principal in named:
            if principal != _ANY and not principal.startswith("@"):
                mine = [(principal, generic.get(principal))]
                self._principals.setdefault(principal, (*self._anonymous, *mine))

    def check(self, protocol: uuid.UUID, user: str | None, client: int) -> Decision:
        """May ``user`` (None: anonymous) at client address key ``client`` use ``protocol``?

        ``client`` is :func:`rules.addresses.address_key` of the client's IP.
        """
        table = self._tables.get(protocol.int, _NO_TABLE)
        best = self._none
        for principal, generic in self._principals.get(user, self._anonymous):
            cell = table.get(principal, generic)
            if cell is not None:
                rank = cell[1][bisect_right(cell[0], client) - 1]
                if rank < best:
                    best = rank
        return self._decisions[best]


class _ProtocolNames:
    """Resolves a rule's protocol spellings (names, GUIDs with or without braces) to GUID ints."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.by_name = {proto.name: proto.guid.int for proto in ruleset.protocols}
        self.guids = {proto.guid.int for proto in ruleset.protocols}

    def resolve(self, spellings: Iterable[str]) -> frozenset[int]:
        found = set()
        for spelling in spellings:
            text = spelling.strip()
            if text in self.by_name:
                found.add(self.by_name[text])
                continue
            try:
                guid = uuid.UUID(text.strip("{}")).int
            except ValueError:
                continue
            if guid in self.guids:
                found.add(guid)
        return frozenset(found)


class _ClientIntervals:
    """The client keys a rule's ``clients`` cover, each client set parsed once.

    Interval ends are made once per client set and shared by every cell, so
    the index holds a few hundred distinct boundary numbers, not one per cell.
    """

    def __init__(self, client_sets: Iterable[ClientSet]) -> None:
        self.sets = {
            item.name: AddressRanges.from_specs(item.addresses, item.exclude)
            for item in client_sets
        }
        self.ends: dict[int, int] = {}

    def __call__(self, clients: tuple[str, ...]) -> _Intervals:
        """Empty when the sets hold no address: such a rule never applies."""
        if _ANY in clients:
            return _EVERY_CLIENT
        ranges = AddressRanges.EMPTY
        for name in clients:
            ranges = ranges.union(self.sets.get(name, AddressRanges.EMPTY))
        ends = self.ends
        return tuple((low, ends.setdefault(high + 1, high + 1)) for low, high in ranges.intervals)
