"""The inline protocol table of a ``register_protocol`` step.

It has exactly the keys of a rule file's ``[[protocol]]`` table (``name``,
``guid``, ``description``, ``primary``, ``secondary``, ``filter``) and must
mean exactly the same, so it is checked by the rules loader itself: the
table is put in a one-protocol rule document and loaded, and the loader's
problems are reported against the step's keys and lines.
"""

from __future__ import annotations

import tomli_w

from engine.simulate.fields import StepReader
from rules import loader
from rules.errors import RuleFileError
from rules.model import ProtocolDefinition
from rules.validate import SUPPORTED_VERSION

__all__ = ["read_protocol"]

_KEY_IN_DOCUMENT = "protocol[0]"


def read_protocol(reader: StepReader, key: str) -> ProtocolDefinition | None:
    """The protocol definition in the table at ``key``, or None after recording problems."""
    value = reader.raw(key, required=True)
    if value is None:
        return None
    if not isinstance(value, dict):
        reader.problem(key, "expected a table with the keys of a rule file's [[protocol]]")
        return None
    document = {"version": SUPPORTED_VERSION, "protocol": [value]}
    try:
        text = tomli_w.dumps(document)
    except ValueError:  # tomllib reads integers tomli_w cannot write (0x and 4,000 hex digits)
        reader.problem(key, "holds an integer out of range (TOML integers are 64-bit)")
        return None
    except RecursionError:  # tomli_w needs more stack per level of nesting than tomllib
        reader.problem(key, "holds arrays or tables nested too deeply")
        return None
    try:
        ruleset = loader.loads(text)
    except RuleFileError as err:
        for problem in err.problems:
            inner = problem.key.removeprefix(_KEY_IN_DOCUMENT)
            reader.problem(f"{key}{inner}", problem.message)
        return None
    return ruleset.protocols[0]
