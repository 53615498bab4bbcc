"""The console's dialogs: each a ModalScreen[T] awaited from a worker."""

from __future__ import annotations

from console.tui.dialogs.allow import AllowDialog, AllowRequest
from console.tui.dialogs.confirm import ConfirmDialog
from console.tui.dialogs.register import RegisterDialog
from console.tui.dialogs.rule_editor import RuleEditor
from console.tui.dialogs.rule_form import RuleForm

__all__ = [
    "AllowDialog",
    "AllowRequest",
    "ConfirmDialog",
    "RegisterDialog",
    "RuleEditor",
    "RuleForm",
]
