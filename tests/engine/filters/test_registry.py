"""Which filters exist: the built-in list plus the ``fwx.filters`` entry points; unknown names
in a rule file are refused at service start and reload, with file, line and key (R71)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from engine.filters import registry as registry_module
from engine.filters.ftp import FtpFilter
from engine.filters.registry import (
    BUILTIN_FILTERS,
    ENTRY_POINT_GROUP,
    FilterRegistry,
    default_registry,
)
from engine.service import Service
from rules.errors import RuleFileError
from rules.loader import loads
from tests.engine.filters.conftest import install
from tests.engine.filters.sample_filters import Broken, Shout

SAMPLES = "tests.engine.filters.sample_filters"


def rule_file(tmp_path: Path, filter_name: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(
        "version = 1\n"
        "[service]\n"
        'listen = "127.0.0.1:0"\n'
        "[[protocol]]\n"
        'name = "FTP"\n'
        'guid = "a5b2c3d4-0000-4000-8000-000000000021"\n'
        'primary = { port = 21, transport = "tcp", direction = "outbound" }\n'
        f'filter = "{filter_name}"\n',
        encoding="utf-8",
    )
    return path


def test_ftp_is_built_in() -> None:
    assert list(BUILTIN_FILTERS) == [FtpFilter]
    assert FilterRegistry().get("ftp") is FtpFilter
    assert FilterRegistry().names() == ["ftp"]


def test_third_party_filters_come_from_the_entry_point_group(
    monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    install(monkeypatch, shout=f"{SAMPLES}:Shout", broken=f"{SAMPLES}:Broken")
    found = default_registry()
    assert found.names() == ["broken", "ftp", "shout"]
    assert found.get("shout") is Shout
    assert found.get("broken") is Broken


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("gone", "tests.engine.filters.no_such_module:Gone", "failed to load"),
        ("text", f"{SAMPLES}:NOT_A_FILTER", "is not a subclass of engine.filters.Filter"),
        ("other", f"{SAMPLES}:Misnamed", "is named 'misnamed', not 'other'"),
        ("ftp", f"{SAMPLES}:Shout", "the name is taken by another filter"),
    ],
)
def test_a_bad_entry_point_is_left_out_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fresh_registry: None,
    name: str,
    value: str,
    why: str,
) -> None:
    install(monkeypatch, **{name: value})
    found = default_registry()
    assert found.names() == ["ftp"]
    assert found.get("ftp") is FtpFilter
    assert why in caplog.text
    if name != "ftp":
        assert why in found.missing(name)


def test_an_unknown_filter_is_a_problem_with_its_line_and_a_suggestion() -> None:
    source = (
        "version = 1\n"
        "[[protocol]]\n"
        'name = "FTP"\n'
        'guid = "a5b2c3d4-0000-4000-8000-000000000021"\n'
        'primary = { port = 21, transport = "tcp", direction = "outbound" }\n'
        'filter = "fpt"\n'
    )
    (problem,) = FilterRegistry().check(loads(source), "rules.toml", source)
    assert str(problem) == (
        "rules.toml:6:1: protocol[0].filter: unknown filter 'fpt'; did you mean 'ftp'? "
        "(available: ftp)"
    )


def test_a_known_filter_is_no_problem() -> None:
    source = (
        "version = 1\n"
        "[[protocol]]\n"
        'name = "FTP"\n'
        'guid = "a5b2c3d4-0000-4000-8000-000000000021"\n'
        'primary = { port = 21, transport = "tcp", direction = "outbound" }\n'
        'filter = "ftp"\n'
    )
    assert FilterRegistry().check(loads(source)) == []


def test_r71_a_service_will_not_start_with_a_filter_it_does_not_have(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "nosuch")
    with pytest.raises(RuleFileError) as caught:
        Service(path)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line, problem.key) == (str(path), 8, "protocol[0].filter")
    assert "unknown filter 'nosuch'" in problem.message


def test_r71_a_reload_naming_a_missing_filter_changes_nothing(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "ftp")
    service = Service(path)
    before = service.engine.rules
    rule_file(tmp_path, "nosuch")
    with pytest.raises(RuleFileError, match="unknown filter 'nosuch'"):
        service.reload()
    assert service.engine.rules is before


def test_a_filter_whose_entry_point_broke_is_named_in_the_problem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_registry: None
) -> None:
    install(monkeypatch, gone="tests.engine.filters.no_such_module:Gone")
    with pytest.raises(RuleFileError, match=r"filter 'gone' is not available: .*failed to load"):
        Service(rule_file(tmp_path, "gone"))


def test_the_registry_is_discovered_once(
    monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    calls: list[str] = []

    def entry_points(*, group: str) -> list[EntryPoint]:
        calls.append(group)
        return []

    monkeypatch.setattr(registry_module, "entry_points", entry_points)
    assert default_registry() is default_registry()
    assert calls == [ENTRY_POINT_GROUP]
