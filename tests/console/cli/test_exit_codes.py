"""The documented exit codes: one table, derived from HResult, that scripts can rely on."""

from __future__ import annotations

from console.cli.common import RESULT_EXIT_CODES, ExitCode, result_exit_code
from engine.core.results import HResult


def test_command_exit_codes_are_the_documented_ones() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "INVALID": 1,
        "USAGE": 2,
        "IO_ERROR": 3,
        "NOT_RUNNING": 4,
        "REFUSED": 5,
    }


def test_every_result_code_has_its_documented_exit_code() -> None:
    """R96: success is S_OK only (0); S_FALSE and each failure get their own code from 10."""
    assert {result.name: code for result, code in RESULT_EXIT_CODES.items()} == {
        "S_OK": 0,
        "S_FALSE": 10,
        "E_INVALIDARG": 11,
        "NOT_FOUND": 12,
        "ALREADY_EXISTS": 13,
        "FWX_E_TERMINATING": 14,
        "FWX_E_BAD_CONTEXT": 15,
        "FWX_E_PROTOCOL_RULES_DENIED": 16,
        "FWX_E_IS_BUSY": 17,
        "FWX_E_OUT_OF_RESOURCES": 18,
    }
    assert set(RESULT_EXIT_CODES) == set(HResult)


def test_result_exit_codes_never_collide_with_command_exit_codes() -> None:
    failures = [result_exit_code(result) for result in HResult if result is not HResult.S_OK]
    assert len(set(failures)) == len(failures)
    assert not set(failures) & {int(code) for code in ExitCode}
