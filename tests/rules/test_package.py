"""The `rules` package re-exports its public API."""

from __future__ import annotations

import rules


def test_every_public_name_is_importable_from_the_package() -> None:
    missing = [name for name in rules.__all__ if not hasattr(rules, name)]
    assert missing == []


def test_the_package_api_covers_load_validate_save_and_policy() -> None:
    assert {"load", "loads", "validate", "dumps", "save", "Policy", "Decision"} <= set(
        rules.__all__
    )
