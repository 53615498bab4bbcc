"""Result codes and flags of the firewall API, with their original numeric values.

``HResult`` members carry the value the ISA SDK gives them (reference §4.5,
§9.1, §13) and a one-line meaning for people; success codes have the top bit
clear, failures have it set (R96).
"""

from __future__ import annotations

import enum

from rules.model import Transport

__all__ = ["KNOWN_FLAGS", "Flags", "HResult", "Transport", "hresult_from_win32"]


def hresult_from_win32(error: int) -> int:
    """``HRESULT_FROM_WIN32(error)``: facility 7 with the severity bit set (R96)."""
    return 0x80070000 | (error & 0xFFFF)


class HResult(enum.IntEnum):
    """A result code of the API, with its numeric value and meaning."""

    S_OK = 0x00000000
    S_FALSE = 0x00000001
    E_INVALIDARG = 0x80070057
    NOT_FOUND = hresult_from_win32(1168)
    ALREADY_EXISTS = hresult_from_win32(183)
    FWX_E_TERMINATING = 0xC0040001
    FWX_E_BAD_CONTEXT = 0xC004000A
    FWX_E_PROTOCOL_RULES_DENIED = 0xC004000D
    FWX_E_IS_BUSY = 0xC0040011
    FWX_E_OUT_OF_RESOURCES = 0xC0040024

    @property
    def succeeded(self) -> bool:
        """True for success codes (``SUCCEEDED(hr)``: top bit clear)."""
        return not self.value & 0x80000000

    @property
    def hex(self) -> str:
        """The value as the SDK writes it, e.g. ``0x80070490``."""
        return f"0x{self.value:08X}"

    @property
    def meaning(self) -> str:
        """One line that says what the code means."""
        return _MEANINGS[self]

    @property
    def label(self) -> str:
        """The name people know, e.g. ``HRESULT_FROM_WIN32(ERROR_NOT_FOUND)``."""
        return _LABELS.get(self, self.name)


_MEANINGS: dict[HResult, str] = {
    HResult.S_OK: "the call succeeded; the bind is now allowed",
    HResult.S_FALSE: "the bind exists and was already allowed; nothing changed",
    HResult.E_INVALIDARG: "a parameter is invalid",
    HResult.NOT_FOUND: "no bind with that address exists for this session",
    HResult.ALREADY_EXISTS: "an object with that identity already exists",
    HResult.FWX_E_TERMINATING: "the bind exists but is already terminating",
    HResult.FWX_E_BAD_CONTEXT: "the method was called outside the events that allow it",
    HResult.FWX_E_PROTOCOL_RULES_DENIED: "the protocol rules do not let this user use the protocol",
    HResult.FWX_E_IS_BUSY: "too many pending requests; the request was dropped",
    HResult.FWX_E_OUT_OF_RESOURCES: "a limit was reached (binds per session, ports)",
}

_LABELS: dict[HResult, str] = {
    HResult.NOT_FOUND: "HRESULT_FROM_WIN32(ERROR_NOT_FOUND)",
    HResult.ALREADY_EXISTS: "HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)",
}


class Flags(enum.IntFlag):
    """Connection flags of ``RetroactiveAllowBind`` (reference §4.4).

    The SDK's values were never published (``wspfwext.idl``); fwx fixes
    these and keeps them stable: ``BIDIRECTIONAL`` = 0x1,
    ``INCREASE_RECEIVE_BUFFER`` = 0x2. Both are valid for UDP binds only (R22).
    """

    NONE = 0
    BIDIRECTIONAL = 0x1
    INCREASE_RECEIVE_BUFFER = 0x2


KNOWN_FLAGS = Flags.BIDIRECTIONAL | Flags.INCREASE_RECEIVE_BUFFER
