"""Problems print as one compiler-style line; the exception carries all of them."""

from __future__ import annotations

from rules.errors import Problem, RuleFileError, RuleFileUnreadable, did_you_mean


def test_problem_prints_path_line_col_key_and_message() -> None:
    problem = Problem("rules.toml", 7, 13, "protocol[2].primary.port", "port 0 is out of range")
    assert str(problem) == "rules.toml:7:13: protocol[2].primary.port: port 0 is out of range"


def test_problem_leaves_out_unknown_parts() -> None:
    assert (
        str(Problem("rules.toml", 7, None, "version", "missing"))
        == "rules.toml:7: version: missing"
    )
    assert str(Problem("rules.toml", None, None, "", "cannot read")) == "rules.toml: cannot read"
    assert str(Problem("", None, None, "user[0].name", "empty")) == "user[0].name: empty"


def test_rule_file_error_joins_every_problem() -> None:
    problems = [Problem("f", 1, 1, "a", "one"), Problem("f", 2, 1, "b", "two")]
    err = RuleFileError(iter(problems))
    assert err.problems == problems
    assert str(err) == "f:1:1: a: one\nf:2:1: b: two"


def test_unreadable_is_a_rule_file_error() -> None:
    assert issubclass(RuleFileUnreadable, RuleFileError)


def test_did_you_mean_suggests_the_closest_choice_only_when_close() -> None:
    assert did_you_mean("pasword", ["name", "password"]) == "; did you mean 'password'?"
    assert did_you_mean("zzz", ["name", "password"]) == ""
