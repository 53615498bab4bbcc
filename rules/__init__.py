"""What the operator writes: the rule model, TOML load/validate/save, protocol-rule evaluation.

Pure: no I/O beyond reading and writing rule files, and nothing from
``engine`` or ``console``.
"""

from __future__ import annotations

from rules.addresses import AddressRanges, address_key, key_text, parse_spec
from rules.errors import Problem, RuleFileError, RuleFileUnreadable
from rules.loader import load, loads
from rules.locate import KeyLocator, syntax_problem
from rules.model import (
    Action,
    AuthMode,
    ClientSet,
    Direction,
    IpFilterSet,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    SecondaryConnection,
    ServiceConfig,
    Transport,
    User,
    format_guid,
)
from rules.passwords import hash_password, is_password_hash, verify_password
from rules.policy import NO_ALLOW_RULE, Decision, Policy
from rules.saver import backup_path, dumps, save, write_text
from rules.starter import STARTER_TEXT
from rules.validate import validate

__all__ = [
    "NO_ALLOW_RULE",
    "STARTER_TEXT",
    "Action",
    "AddressRanges",
    "AuthMode",
    "ClientSet",
    "Decision",
    "Direction",
    "IpFilterSet",
    "KeyLocator",
    "Policy",
    "PrimaryConnection",
    "Problem",
    "ProtocolDefinition",
    "ProtocolRule",
    "RuleFileError",
    "RuleFileUnreadable",
    "RuleSet",
    "SecondaryConnection",
    "ServiceConfig",
    "Transport",
    "User",
    "address_key",
    "backup_path",
    "dumps",
    "format_guid",
    "hash_password",
    "is_password_hash",
    "key_text",
    "load",
    "loads",
    "parse_spec",
    "save",
    "syntax_problem",
    "validate",
    "verify_password",
    "write_text",
]
