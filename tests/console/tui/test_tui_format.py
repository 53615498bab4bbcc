"""How the console spells ages, states and result codes."""

from __future__ import annotations

import pytest

from console.tui.format import age, hresult_text, state_text
from engine import HResult


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-3, "0s"), (0, "0s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (90000, "1d")],
)
def test_ages_are_short(seconds: float, text: str) -> None:
    assert age(seconds) == text


def test_states_are_words_in_colour() -> None:
    text = state_text("pending")
    assert text.plain == "PENDING"
    assert str(text.style) == "bold yellow"


def test_result_codes_show_name_value_and_meaning() -> None:
    assert hresult_text(HResult.NOT_FOUND) == (
        "HRESULT_FROM_WIN32(ERROR_NOT_FOUND) (0x80070490): "
        "no bind with that address exists for this session"
    )
