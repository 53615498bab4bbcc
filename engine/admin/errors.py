"""The error of an admin socket that cannot be set up."""

from __future__ import annotations

__all__ = ["AdminSocketError"]


class AdminSocketError(Exception):
    """The admin socket cannot listen at its path; the message is one line naming the path."""
